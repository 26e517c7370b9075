//! `sandboxd`: the binary entry point.

fn main() {
    eprintln!("sandboxd: not built yet");
    std::process::exit(2);
}
