//! Seed: `sandbox.process.code_run(...)` printing `Sum: 30` — run Python code, with arguments
//! and environment (`CodeRunParams`).
//!
//! `cargo run -p process --example code_run` (set `PROCESSD_PYTHON` to choose the interpreter)

use process::CodeRunParams;

#[tokio::main]
async fn main() -> Result<(), process::Error> {
    let client = process::Client::embedded().await?;

    let response = client
        .code_run(
            r#"
x = 10
y = 20
print(f"Sum: {x + y}")
"#,
        )
        .await?;
    print!("{}", response.artifacts.stdout); // Prints: Sum: 30
    assert_eq!(response.artifacts.stdout, "Sum: 30\n");

    let response = client
        .code_run("import os, sys\nprint('argv:', sys.argv[1:], 'MODE =', os.environ['MODE'])")
        .params(
            CodeRunParams::new()
                .argv(["--fast", "data.csv"])
                .env("MODE", "demo"),
        )
        .await?;
    print!("{}", response.result);
    Ok(())
}
