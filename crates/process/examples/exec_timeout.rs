//! Seed: `sandbox.process.exec("sleep 10", timeout=5)` — a command that outlives its timeout is
//! killed, and the call fails with an error you can branch on.
//!
//! `cargo run -p process --example exec_timeout`

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), process::Error> {
    let client = process::Client::embedded().await?;

    let started = Instant::now();
    // The seed waits 5 s; 2 s shows the same thing sooner.
    match client
        .exec("sleep 10")
        .timeout(Duration::from_secs(2))
        .await
    {
        Ok(response) => println!("finished?! exit code {}", response.exit_code),
        Err(err) if err.is_timeout() => {
            println!("timed out after {:.1?}: {err}", started.elapsed());
        }
        Err(err) => return Err(err),
    }

    // Within its timeout, a command just runs.
    let quick = client
        .exec("sleep 0.1; echo done")
        .timeout(Duration::from_secs(5))
        .await?;
    print!("{}", quick.result);
    Ok(())
}
