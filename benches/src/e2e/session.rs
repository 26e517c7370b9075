//! Figure 4: session command round trip (`echo hi`) beside the bare HTTP round trip.

use std::time::Instant;

use process::Client;

use crate::floors::{self, BareServer, BoxError};
use crate::row::{micros, Row};

use super::{summary, Sizes};

/// Figure 4: `echo hi` in an existing session, sequential.
pub(super) async fn session_rtt(client: &Client, sizes: Sizes) -> Result<Vec<Row>, BoxError> {
    let bare = BareServer::start()?;
    let sid = "bench-session-rtt";
    client.create_session(sid).await?;
    let run = async {
        let mut samples = Vec::with_capacity(sizes.session_n);
        for i in 0..sizes.session_n + 5 {
            let t = Instant::now();
            let r = client.execute_session_command(sid, "echo hi").await?;
            let took = t.elapsed();
            if r.stdout != "hi\n" || r.exit_code != Some(0) {
                return Err(format!(
                    "session `echo hi` gave stdout {:?}, exit code {:?}",
                    r.stdout, r.exit_code
                )
                .into());
            }
            if i >= 5 {
                samples.push(took);
            }
        }
        Ok::<_, BoxError>(samples)
    };
    let samples = run.await;
    let _ = client.delete_session(sid).await;
    let ours = summary(&samples?)?;
    let http = summary(&floors::http_rtt(bare.addr, 2000).await?)?;
    // Issue 14, target 1.
    let ratio = ours.p50 / http.p50;
    Ok(vec![
        Row::ratio(
            4,
            format!("session `echo hi` round trip p50 (n = {})", ours.n),
            micros(ours.p50),
            format!("bare hyper RTT p50 {}", micros(http.p50)),
            ratio,
            None,
        )
        .with_target("p50 ≤ 3× bare hyper RTT", ratio <= 3.0),
        Row::ratio(
            4,
            format!("session `echo hi` round trip p99 (n = {})", ours.n),
            micros(ours.p99),
            format!("bare hyper RTT p99 {}", micros(http.p99)),
            ours.p99 / http.p99,
            None,
        ),
    ])
}
