//! `code_run`: argv, env, exit codes and typed charts.

use process::{ChartType, CodeRunParams, Tick, TypedChart};

use crate::support::{python_configured, Fixture, Kind};

crate::both_transports!(
    sum_with_argv_and_env,
    errors_exit_non_zero,
    every_chart_type
);

async fn sum_with_argv_and_env(kind: Kind) {
    let f = Fixture::start(kind).await;
    let code = "import os, sys\nx = 10\ny = 20\nprint(f\"Sum: {x + y}\", sys.argv[1:], os.environ['MODE'])";
    let r = f
        .client
        .code_run(code)
        .params(CodeRunParams::new().argv(["a", "b"]).env("MODE", "fast"))
        .await
        .unwrap();
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert_eq!(r.artifacts.stdout, "Sum: 30 ['a', 'b'] fast\n");
    assert!(r.artifacts.charts.is_empty());
}

async fn errors_exit_non_zero(kind: Kind) {
    let f = Fixture::start(kind).await;
    let r = f.client.code_run("raise ValueError('bad')").await.unwrap();
    assert_eq!(r.exit_code, 1);
    assert!(r.result.contains("ValueError: bad"), "{r:?}");
}

async fn every_chart_type(kind: Kind) {
    if !python_configured() {
        eprintln!("PROCESSD_PYTHON not set (no matplotlib): skipping the chart test");
        return;
    }
    let f = Fixture::start(kind).await;
    let code = r"
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 10, 30)
plt.figure(figsize=(8, 5))
plt.plot(x, np.sin(x), 'b-', linewidth=2, label='sin')
plt.title('Line Chart')
plt.xlabel('X-axis (seconds)')
plt.ylabel('Y-axis (amplitude)')
plt.show()

plt.figure()
plt.scatter([1, 2, 3], [4, 5, 6], label='A')
plt.title('Scatter')
plt.show()

plt.figure()
plt.bar(['a', 'b', 'c'], [3, 7, 5], label='sales')
plt.title('Bar')
plt.show()

plt.figure()
plt.pie([30, 50, 20], labels=['x', 'y', 'z'])
plt.title('Pie')
plt.show()

plt.figure()
plt.boxplot([[1, 2, 3, 4, 5, 20], [2, 3, 4]], patch_artist=True, tick_labels=['g1', 'g2'])
plt.title('Box')
plt.show()

fig, (left, right) = plt.subplots(1, 2)
left.plot([1, 2, 3], [1, 4, 9], label='sq')
left.set_title('left')
right.bar(['p', 'q'], [2, 3])
right.set_title('right')
fig.suptitle('Composite')
plt.show()
print('done')
";
    let r = f.client.code_run(code).await.unwrap();
    assert_eq!(r.exit_code, 0, "{}", r.result);
    assert_eq!(
        r.artifacts.stdout, "done\n",
        "artifact lines must be stripped"
    );
    let charts = &r.artifacts.charts;
    let kinds: Vec<ChartType> = charts.iter().map(TypedChart::kind).collect();
    assert_eq!(
        kinds,
        vec![
            ChartType::Line,
            ChartType::Scatter,
            ChartType::Bar,
            ChartType::Pie,
            ChartType::BoxAndWhisker,
            ChartType::CompositeChart
        ]
    );
    for chart in charts {
        let png = chart.png().expect("every figure has a png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    let TypedChart::Line(line) = &charts[0] else {
        unreachable!()
    };
    assert_eq!(line.title.as_deref(), Some("Line Chart"));
    assert_eq!(line.axes.x_label.as_deref(), Some("X-axis (seconds)"));
    assert_eq!(line.axes.y_label.as_deref(), Some("Y-axis (amplitude)"));
    assert_eq!(line.axes.x_scale.as_deref(), Some("linear"));
    assert!(line
        .axes
        .x_ticks
        .iter()
        .all(|t| matches!(t, Tick::Number(_))));
    assert_eq!(line.axes.x_ticks.len(), line.axes.x_tick_labels.len());
    assert_eq!(line.elements.len(), 1);
    assert_eq!(line.elements[0].label, "sin");
    assert_eq!(line.elements[0].points.len(), 30);

    let TypedChart::Scatter(scatter) = &charts[1] else {
        unreachable!()
    };
    assert_eq!(scatter.elements[0].points.len(), 3);

    let TypedChart::Bar(bar) = &charts[2] else {
        unreachable!()
    };
    let values: Vec<(&str, &str)> = bar
        .elements
        .iter()
        .map(|b| (b.label.as_str(), b.value.as_str()))
        .collect();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0].0, "a");
    assert!(values[1].1.starts_with('7'), "{values:?}");

    let TypedChart::Pie(pie) = &charts[3] else {
        unreachable!()
    };
    let total: f64 = pie.elements.iter().map(|w| w.angle).sum();
    assert!((total - 360.0).abs() < 1.0, "{total}");

    let TypedChart::BoxAndWhisker(boxes) = &charts[4] else {
        unreachable!()
    };
    assert_eq!(boxes.elements.len(), 2);
    assert!(
        boxes.elements[0].outliers.contains(&20.0),
        "{:?}",
        boxes.elements[0]
    );

    let TypedChart::Composite(composite) = &charts[5] else {
        unreachable!()
    };
    assert_eq!(composite.title.as_deref(), Some("Composite"));
    let sub: Vec<ChartType> = composite.elements.iter().map(TypedChart::kind).collect();
    assert_eq!(sub, vec![ChartType::Line, ChartType::Bar]);
}
