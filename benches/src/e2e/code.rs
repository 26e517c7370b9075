//! Figure 6: `code_run` (print and the seeds' matplotlib chart) beside `python -c`.

use std::path::Path;
use std::time::Instant;

use process::Client;

use crate::floors::{self, BoxError};
use crate::row::{format_ratio, micros, Row};

use super::{summary, Sizes};

/// The seeds' matplotlib line chart (Python SDK docs, `code_run` example).
pub const CHART_CODE: &str = "\
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 10, 30)
y = np.sin(x)

plt.figure(figsize=(8, 5))
plt.plot(x, y, 'b-', linewidth=2)
plt.title('Line Chart')
plt.xlabel('X-axis (seconds)')
plt.ylabel('Y-axis (amplitude)')
plt.grid(True)
plt.show()
";

/// Figure 6: `code_run` of `print(1)` and of the seeds' line chart vs `python -c`.
pub(super) async fn code_run(
    client: &Client,
    python: Option<&Path>,
    sizes: Sizes,
) -> Result<Vec<Row>, BoxError> {
    let python = python.ok_or("no Python interpreter (compat venv) for the floor")?;
    let mut rows = Vec::new();
    // print(1)
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    client.code_run("print(1)").await?;
    for _ in 0..sizes.code_n {
        floor.push(floors::python_c(python, "print(1)").await?);
        let t = Instant::now();
        let r = client.code_run("print(1)").await?;
        ours.push(t.elapsed());
        if r.exit_code != 0 || r.result.trim() != "1" {
            return Err(format!("code_run(print(1)) gave {:?} ({})", r.result, r.exit_code).into());
        }
    }
    let (o, f) = (summary(&ours)?, summary(&floor)?);
    rows.push(Row::ratio(
        6,
        format!("`code_run(\"print(1)\")` p50 (n = {})", o.n),
        micros(o.p50),
        format!("`python -c 'print(1)'` (venv) {}", micros(f.p50)),
        o.p50 / f.p50,
        None,
    ));
    // The chart.
    let with_png = format!("{CHART_CODE}import io\nplt.savefig(io.BytesIO(), format='png')\n");
    let (mut ours, mut floor, mut floor_png) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.chart_n {
        floor.push(floors::python_c(python, CHART_CODE).await?);
        floor_png.push(floors::python_c(python, &with_png).await?);
        let t = Instant::now();
        let r = client.code_run(CHART_CODE).await?;
        ours.push(t.elapsed());
        if r.exit_code != 0 || r.artifacts.charts.is_empty() {
            return Err(format!(
                "code_run(line chart) exited {} with {} charts",
                r.exit_code,
                r.artifacts.charts.len()
            )
            .into());
        }
    }
    let (o, f, fp) = (summary(&ours)?, summary(&floor)?, summary(&floor_png)?);
    let mut row = Row::ratio(
        6,
        format!("`code_run` of the seeds' matplotlib line chart p50 (n = {})", o.n),
        micros(o.p50),
        format!(
            "`python -c` of the same code (Agg; `plt.show()` renders nothing) {}; with a PNG render added {}",
            micros(f.p50),
            micros(fp.p50)
        ),
        o.p50 / f.p50,
        None,
    );
    row.target = format!("({} of the PNG-render floor)", format_ratio(o.p50 / fp.p50));
    rows.push(row);
    Ok(rows)
}
