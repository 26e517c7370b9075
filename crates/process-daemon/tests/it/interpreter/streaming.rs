//! Output streamed while code runs: many small writes, charts in place.

use super::*;

#[tokio::test]
async fn output_is_streamed_while_the_code_runs() {
    // The code waits for a file the test creates only after it has seen the first output: this
    // finishes only if output is forwarded while the code is still running.
    let d = TestDaemon::start().await;
    let flag = d.workdir.path().join("go");
    let (mut ws, _) = connect(&d, None).await;
    let code = format!(
        "import os, time\nprint('early', flush=True)\nfor _ in range(3000):\n    if os.path.exists({flag:?}):\n        break\n    time.sleep(0.01)\nelse:\n    raise SystemExit('never released')\nprint('late')",
        flag = flag.to_string_lossy()
    );
    ws.write_frame(Frame::text(Payload::Owned(
        json!({"code": code}).to_string().into_bytes(),
    )))
    .await
    .unwrap();
    let mut seen = String::new();
    let run = collect(&mut ws, |f| {
        if f["type"] == "stdout" {
            seen.push_str(f["text"].as_str().unwrap());
            if seen == "early\n" {
                std::fs::write(&flag, b"").unwrap();
            }
        }
    })
    .await;
    assert_completed(&run);
    assert_eq!(run.stdout(), "early\nlate\n");
    assert_eq!(run.stderr(), "");
    d.daemon.shutdown().await;
}

#[tokio::test]
async fn many_small_writes_all_arrive() {
    // Many small prints: every byte must arrive, merged into few frames.
    let d = TestDaemon::start().await;
    let run = run_code(&d, "for i in range(20000):\n    print(i)").await;
    assert_completed(&run);
    let expected: String = (0..20000).fold(String::new(), |mut acc, i| {
        acc.push_str(&i.to_string());
        acc.push('\n');
        acc
    });
    assert_eq!(run.stdout(), expected);
    d.daemon.shutdown().await;
}

/// Whether the daemon's Python can import matplotlib (CI's venv can; a bare system Python may
/// not, and then the chart tests say so and skip).
async fn has_matplotlib(d: &TestDaemon) -> bool {
    let probe = run_code(
        d,
        "import importlib.util\nprint(importlib.util.find_spec('matplotlib') is not None)",
    )
    .await;
    let found = probe.stdout() == "True\n";
    if !found {
        eprintln!(
            "matplotlib is not installed for the daemon's Python: skipping (set PROCESSD_PYTHON)"
        );
    }
    found
}

#[tokio::test]
async fn plt_show_yields_chart_frames_in_place_and_printed_artifacts_are_plain_text() {
    let d = TestDaemon::start().await;
    if !has_matplotlib(&d).await {
        return;
    }
    // The figure is built in one run and shown in the next: the context keeps it.
    let build = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9], label='sq')\nplt.title('squares')";
    assert_completed(&run_code(&d, build).await);
    let show = "print('before')\nplt.show()\nprint('after')\n\
                print('dtn_artifact_k39fd2:{\"type\": \"chart\", \"value\": {\"type\": \"line\"}}')";
    let run = run_code(&d, show).await;
    assert_completed(&run);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    let charts: Vec<&Value> = run.frames.iter().filter(|f| f["type"] == "chart").collect();
    assert_eq!(charts.len(), 1, "{run:?}");
    let chart = &charts[0]["chart"];
    assert_eq!(chart["type"], "line");
    assert_eq!(chart["title"], "squares");
    assert_eq!(chart["elements"][0]["label"], "sq");
    assert_eq!(
        chart["elements"][0]["points"],
        json!([[1.0, 1.0], [2.0, 4.0], [3.0, 9.0]])
    );
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        chart["png"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The chart sits between the output printed before and after `show()`.
    let position = |pred: &dyn Fn(&Value) -> bool| run.frames.iter().position(pred).unwrap();
    let before = position(&|f| f["text"].as_str().is_some_and(|t| t.contains("before")));
    let chart_at = position(&|f| f["type"] == "chart");
    let after = position(&|f| f["text"].as_str().is_some_and(|t| t.contains("after")));
    assert!(before < chart_at && chart_at < after, "{run:?}");
    // A printed artifact line is just output.
    assert!(run.stdout().contains("dtn_artifact_k39fd2:"));
    // show() closed the figure: showing again yields nothing.
    let again = run_code(&d, "plt.show()").await;
    assert!(again.frames.iter().all(|f| f["type"] != "chart"));
    // Several charts interleaved with output keep their places.
    let many = "for i in range(3):\n    print(f'text {i}')\n    plt.bar(['a', 'b'], [i, i + 1])\n    plt.title(f'chart {i}')\n    plt.show()\nprint('end')";
    let run = run_code(&d, many).await;
    assert_completed(&run);
    let sequence: Vec<String> = run
        .frames
        .iter()
        .filter_map(|f| match f["type"].as_str() {
            Some("chart") => Some(f["chart"]["title"].as_str().unwrap().to_owned()),
            Some("stdout") => Some(f["text"].as_str().unwrap().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sequence.concat(),
        "text 0\nchart 0text 1\nchart 1text 2\nchart 2end\n",
        "{sequence:?}"
    );
    let bar = run.frames.iter().find(|f| f["type"] == "chart").unwrap();
    assert_eq!(bar["chart"]["type"], "bar");
    assert_eq!(bar["chart"]["elements"][1]["value"], "1");
    d.daemon.shutdown().await;
}
