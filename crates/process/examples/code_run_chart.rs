//! Seed: the matplotlib line chart of `code_run` — run plotting code, read the typed chart, and
//! save its PNG to a file you can open.
//!
//! `PROCESSD_PYTHON=/path/to/python-with-matplotlib cargo run -p process --example code_run_chart`
//! The PNG goes to `$PROCESS_EXAMPLE_OUT/line_chart.png` if that is set, else `./line_chart.png`.

use process::{Tick, TypedChart};

const CODE: &str = r"
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = process::Client::embedded().await?;

    let response = client.code_run(CODE).await?;
    if response.exit_code != 0 {
        return Err(format!(
            "the code failed (is matplotlib installed for PROCESSD_PYTHON?):\n{}",
            response.result
        )
        .into());
    }
    let chart = response
        .artifacts
        .charts
        .first()
        .ok_or("no chart came back")?;

    println!("Type: {}", chart.kind());
    println!("Title: {}", chart.title().unwrap_or_default());
    if let TypedChart::Line(line) = chart {
        let ticks = |t: &[Tick]| {
            t.iter()
                .map(|t| match t {
                    Tick::Number(n) => n.to_string(),
                    Tick::Text(s) => s.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "X Label: {}",
            line.axes.x_label.as_deref().unwrap_or_default()
        );
        println!(
            "Y Label: {}",
            line.axes.y_label.as_deref().unwrap_or_default()
        );
        println!("X Ticks: [{}]", ticks(&line.axes.x_ticks));
        println!("X Tick Labels: {:?}", line.axes.x_tick_labels);
        println!(
            "X Scale: {}",
            line.axes.x_scale.as_deref().unwrap_or_default()
        );
        println!("Y Ticks: [{}]", ticks(&line.axes.y_ticks));
        println!("Y Tick Labels: {:?}", line.axes.y_tick_labels);
        println!(
            "Y Scale: {}",
            line.axes.y_scale.as_deref().unwrap_or_default()
        );
        println!("Elements:");
        for element in &line.elements {
            println!("  Label: {}", element.label);
            println!(
                "  Points: {} (first {:?})",
                element.points.len(),
                element.points.first()
            );
        }
    }

    let png = chart.png().ok_or("the chart has no image")?;
    let dir = std::env::var_os("PROCESS_EXAMPLE_OUT")
        .map_or_else(|| std::path::PathBuf::from("."), std::path::PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("line_chart.png");
    std::fs::write(&path, png)?;
    println!(
        "Saved the chart ({} bytes of PNG) to {}",
        png.len(),
        path.display()
    );
    Ok(())
}
