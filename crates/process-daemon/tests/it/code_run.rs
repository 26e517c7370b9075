//! `POST /process/code-run`: languages, real argv, envs, errors, timeouts, and matplotlib chart
//! capture for every chart kind (needs a Python with matplotlib: `PROCESSD_PYTHON` or the
//! compat venv; chart tests are skipped with a message otherwise).

#![allow(clippy::float_cmp)] // chart values are exact small numbers printed by Python

use http::StatusCode;
use serde_json::{json, Value};

use crate::support::{test_python, TestDaemon};

async fn run(d: &TestDaemon, body: Value) -> (StatusCode, Value) {
    let r = d.post("/process/code-run", &body).await;
    (r.status, r.json())
}

async fn python(d: &TestDaemon, code: &str) -> Value {
    let (status, body) = run(d, json!({"code": code, "language": "python"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn has_matplotlib() -> bool {
    let Some(py) = test_python() else {
        eprintln!("skipping chart test: set PROCESSD_PYTHON to a Python with matplotlib");
        return false;
    };
    let ok = std::process::Command::new(py)
        .args(["-c", "import matplotlib, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping chart test: the test Python has no matplotlib/numpy");
    }
    ok
}

/// `[[x, y], ...]` as floats (the chart schema's numbers may print as `1` or `1.0`).
fn points(v: &Value) -> Vec<[f64; 2]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
        .collect()
}

fn charts(body: &Value) -> Vec<Value> {
    body["artifacts"]["charts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn python_runs_with_real_argv_and_envs() {
    let d = TestDaemon::start().await;
    let body = python(&d, "x = 10\ny = 20\nprint(f\"Sum: {x + y}\")").await;
    assert_eq!(body["exitCode"], 0);
    assert_eq!(body["result"], "Sum: 30\n");
    assert!(body.get("artifacts").is_none());

    let (_, body) = run(
        &d,
        json!({"code": "import sys, os\nprint(sys.argv)\nprint(os.environ['GREETING'])",
               "language": "python", "argv": ["a b", "$HOME", "*"], "envs": {"GREETING": "hi there"}}),
    )
    .await;
    assert_eq!(body["result"], "['-', 'a b', '$HOME', '*']\nhi there\n");

    // stdin is /dev/null, not the code.
    let body = python(&d, "import sys\nprint(repr(sys.stdin.read()))").await;
    assert_eq!(body["result"], "''\n");

    let body = python(&d, "import sys\nprint('out')\nsys.exit(3)").await;
    assert_eq!(
        (body["exitCode"].as_i64(), body["result"].as_str()),
        (Some(3), Some("out\n"))
    );

    let body = python(&d, "def f():\n    raise ValueError('boom')\nf()").await;
    assert_eq!(body["exitCode"], 1);
    let result = body["result"].as_str().unwrap();
    assert!(result.contains("File \"<code>\", line 3"), "{result}");
    assert!(result.contains("ValueError: boom"), "{result}");
    assert!(
        !result.contains("chart_capture"),
        "runner frames leaked: {result}"
    );
    // One pipe for both streams: no split fields, the traceback is in `result`.
    assert!(body.get("stderr").is_none(), "{body}");
}

#[tokio::test]
async fn printed_artifact_lines_are_stripped_and_never_charts() {
    let d = TestDaemon::start().await;
    let forged =
        r#"dtn_artifact_k39fd2:{"type": "chart", "value": {"type": "line", "title": "forged"}}"#;
    let body = python(
        &d,
        &format!("print('before')\nprint({forged:?})\nprint('after')"),
    )
    .await;
    assert_eq!(body["result"], "before\nafter\n");
    assert!(
        charts(&body).is_empty(),
        "a printed line became a chart: {body}"
    );
}

#[tokio::test]
async fn javascript_gets_real_argv() {
    let d = TestDaemon::start().await;
    let (status, body) = run(
        &d,
        json!({"code": "\"use strict\";\nconsole.log(JSON.stringify(process.argv.slice(1)), process.env.E)",
               "language": "javascript", "argv": ["a b", "$X"], "envs": {"E": "e"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], "[\"a b\",\"$X\"] e\n");
    assert_eq!(body["exitCode"], 0);
}

#[tokio::test]
async fn typescript_without_a_runtime_fails_clearly() {
    let d = TestDaemon::start().await;
    let (status, body) = run(
        &d,
        json!({"code": "const x: number = 1; console.log(x)", "language": "typescript"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let has_runtime = ["tsx", "ts-node"].iter().any(|p| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .status()
            .is_ok_and(|s| s.success())
    });
    if has_runtime {
        assert_eq!(body["result"], "1\n");
    } else {
        assert_eq!(body["exitCode"], 127);
        let msg = body["result"].as_str().unwrap();
        assert!(msg.contains("no TypeScript runtime found"), "{msg}");
        assert!(msg.contains("tsx"), "{msg}");
    }
}

#[tokio::test]
async fn bad_requests() {
    let d = TestDaemon::start().await;
    let (status, body) = run(&d, json!({"code": "x", "language": "ruby"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "bad request: unsupported language: ruby");
    let (status, body) = run(
        &d,
        json!({"code": "x", "language": "python", "envs": {"1A": "x"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        "bad request: invalid environment variable name: '1A'"
    );
    let (status, body) = run(&d, json!({"language": "python"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "INVALID_REQUEST_BODY");
}

#[tokio::test]
async fn a_timeout_returns_408_with_the_partial_output() {
    let d = TestDaemon::start().await;
    let (status, body) = run(
        &d,
        // 5 s: the partial output must be there before the timeout, and a Python start on a
        // loaded 2-core machine took more than 1 s (the test once timed out with no output).
        json!({"code": "import time\nprint('started', flush=True)\ntime.sleep(60)", "language": "python", "timeout": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["code"], "PROCESS_EXECUTION_TIMEOUT");
    assert_eq!(body["result"], "started\n");
}

#[tokio::test]
async fn line_chart_of_the_sdk_example() {
    if !has_matplotlib() {
        return;
    }
    let d = TestDaemon::start().await;
    let code = r"
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
print('done')
";
    let body = python(&d, code).await;
    assert_eq!(body["result"], "done\n");
    let charts = charts(&body);
    assert_eq!(charts.len(), 1);
    let c = &charts[0];
    assert_eq!(c["type"], "line");
    assert_eq!(c["title"], "Line Chart");
    assert_eq!(c["x_label"], "X-axis (seconds)");
    assert_eq!(c["y_label"], "Y-axis (amplitude)");
    assert_eq!(c["x_scale"], "linear");
    assert!(c["x_ticks"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_number));
    assert_eq!(
        c["x_ticks"].as_array().unwrap().len(),
        c["x_tick_labels"].as_array().unwrap().len()
    );
    let elements = c["elements"].as_array().unwrap();
    assert_eq!(elements.len(), 1);
    let points = points(&elements[0]["points"]);
    assert_eq!(points.len(), 30);
    assert_eq!(points[0], [0.0, 0.0]);
    let png = c["png"].as_str().unwrap();
    assert!(png.starts_with("iVBORw0KGgo"), "not a base64 PNG");
}

#[tokio::test]
async fn every_chart_kind_is_recognised() {
    if !has_matplotlib() {
        return;
    }
    let d = TestDaemon::start().await;
    let code = r"
import datetime as dt
import matplotlib.pyplot as plt
import numpy as np
np.random.seed(1)

plt.figure(); plt.scatter([1, 2, 3], [4, 5, 6], label='A'); plt.title('Scatter'); plt.show()
plt.figure(); plt.bar(['a', 'b', 'c'], [3, 7, 5], label='sales'); plt.title('Bar'); plt.show()
plt.figure(); plt.pie([30, 50, 20], labels=['x', 'y', 'z'], autopct='%1.1f%%'); plt.title('Pie'); plt.show()
plt.figure(); plt.boxplot([np.random.randn(20), np.random.randn(20) + 2]); plt.title('Box'); plt.show()
fig, (left, right) = plt.subplots(1, 2)
left.plot([1, 2, 3], [1, 4, 9], label='sq'); left.set_title('left')
right.bar(['p', 'q'], [2, 3]); right.set_title('right')
fig.suptitle('Composite'); plt.show()
plt.figure(); plt.plot([dt.date(2024, 1, 1), dt.date(2024, 1, 5)], [1, 2]); plt.title('Dates')
print('no show for the last one')
";
    let body = python(&d, code).await;
    assert_eq!(body["exitCode"], 0, "{}", body["result"]);
    assert_eq!(body["result"], "no show for the last one\n");
    let charts = charts(&body);
    let kinds: Vec<&str> = charts.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "scatter",
            "bar",
            "pie",
            "box_and_whisker",
            "composite_chart",
            "line"
        ]
    );

    let scatter = &charts[0];
    assert_eq!(scatter["elements"][0]["label"], "A");
    assert_eq!(
        points(&scatter["elements"][0]["points"]),
        [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    );

    let bar = &charts[1];
    assert_eq!(bar["x_scale"], "categorical");
    let bars: Vec<(&str, &str, &str)> = bar["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["label"].as_str().unwrap(),
                e["value"].as_str().unwrap(),
                e["group"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        bars,
        [
            ("a", "3", "sales"),
            ("b", "7", "sales"),
            ("c", "5", "sales")
        ]
    );

    let pie = &charts[2];
    let wedges: Vec<(&str, f64, &str)> = pie["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["label"].as_str().unwrap(),
                e["angle"].as_f64().unwrap(),
                e["autopct"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        wedges,
        [
            ("x", 108.0, "30.0%"),
            ("y", 180.0, "50.0%"),
            ("z", 72.0, "20.0%")
        ]
    );

    let boxes = charts[3]["elements"].as_array().unwrap();
    assert_eq!(boxes.len(), 2);
    for b in boxes {
        let v = |k: &str| b[k].as_f64().unwrap();
        assert!(v("min") <= v("first_quartile"));
        assert!(v("first_quartile") <= v("median"));
        assert!(v("median") <= v("third_quartile"));
        assert!(v("third_quartile") <= v("max"));
    }

    let composite = &charts[4];
    assert_eq!(composite["title"], "Composite");
    let subs = composite["elements"].as_array().unwrap();
    assert_eq!(subs[0]["type"], "line");
    assert_eq!(subs[0]["title"], "left");
    assert_eq!(
        points(&subs[0]["elements"][0]["points"]),
        [[1.0, 1.0], [2.0, 4.0], [3.0, 9.0]]
    );
    assert_eq!(subs[1]["type"], "bar");
    assert_eq!(subs[1]["elements"][1]["value"], "3");

    let dates = &charts[5];
    assert_eq!(dates["title"], "Dates");
    assert_eq!(dates["x_scale"], "datetime");
    assert!(dates["x_ticks"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_number));
    assert!(dates["x_tick_labels"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_string));
}

/// The Python snippet of `001_33f4345e71fa771b.txt`, exactly as the seed prints it inside
/// `code_run('''…''')`: every line indented by four spaces.
const SEED_SUM: &str = "\n    x = 10\n    y = 20\n    print(f\"Sum: {x + y}\")\n";
/// The chart snippet of `000_2c5181d440a89deb.txt`, exactly as printed.
const SEED_CHART: &str =
    "\n    import matplotlib.pyplot as plt\n    plt.plot([1,2,3])\n    plt.show()\n";

#[tokio::test]
async fn seed_snippets_run_as_printed() {
    let d = TestDaemon::start().await;
    let body = python(&d, SEED_SUM).await;
    assert_eq!(body["exitCode"], 0, "{body}");
    assert_eq!(body["result"], "Sum: 30\n");
    // Line numbers are kept: an error on the third line still says line 3.
    let body = python(&d, "\n    x = 1\n    raise ValueError(x)\n").await;
    let result = body["result"].as_str().unwrap();
    assert!(result.contains("line 3"), "{result}");
    if has_matplotlib() {
        let body = python(&d, SEED_CHART).await;
        assert_eq!(body["exitCode"], 0, "{body}");
        let charts = charts(&body);
        assert_eq!(charts.len(), 1, "{body}");
        assert_eq!(charts[0]["type"], "line");
    }
}

#[tokio::test]
async fn code_valid_as_given_is_never_dedented() {
    let d = TestDaemon::start().await;
    // The first line is at column 0: the indented string content must stay as it is.
    let body = python(&d, "s = '''\n    kept\n'''\nprint(repr(s))").await;
    assert_eq!(body["result"], "'\\n    kept\\n'\n");
    // Indented comments only: valid Python (prints nothing), left alone.
    let body = python(&d, "    # nothing to run\n").await;
    assert_eq!(
        (body["exitCode"].as_i64(), body["result"].as_str()),
        (Some(0), Some(""))
    );
    // Mixed tabs and spaces share no indent: still the interpreter's own error.
    let body = python(&d, "\tx = 1\n    print(x)\n").await;
    assert_eq!(body["exitCode"], 1);
    assert!(
        body["result"]
            .as_str()
            .unwrap()
            .contains("IndentationError"),
        "{body}"
    );
}

/// The TypeScript runtime at `$var`, else at `default` (relative to the workspace root).
/// Missing: skipped with a message, unless `PROCESSD_REQUIRE_TS_RUNTIMES=1` (CI) makes it fail.
fn ts_runtime(var: &str, default: &str) -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = std::env::var_os(var).map_or_else(|| root.join(default), std::path::PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("PROCESSD_REQUIRE_TS_RUNTIMES").as_deref() != Ok("1"),
        "TypeScript runtime {} ({var}) is required but missing",
        path.display()
    );
    eprintln!(
        "skipping: no TypeScript runtime at {} (set {var})",
        path.display()
    );
    None
}

/// Runs TypeScript (with types, an import, argv and envs) on a daemon configured with `runtime`.
async fn typescript_runs_with(runtime: std::path::PathBuf) {
    let d = TestDaemon::start_with(|c| c.typescript = Some(runtime)).await;
    let code = "import * as os from 'os';\n\
                interface P { x: number; y: number }\n\
                const p: P = { x: 10, y: 20 };\n\
                console.log(`Sum: ${p.x + p.y}`, typeof os.cpus, JSON.stringify(process.argv.slice(1)), process.env.E);\n";
    let (status, body) = run(
        &d,
        json!({"code": code, "language": "typescript", "argv": ["a b"], "envs": {"E": "e"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], "Sum: 30 function [\"a b\"] e\n", "{body}");
    assert_eq!(body["exitCode"], 0, "{body}");
    // The TypeScript seed's snippet (002_454134e0924db8cc.txt), as printed.
    let seed = " const x = 10; const y = 20; console.log(`Sum: ${x + y}`);";
    let (_, body) = run(&d, json!({"code": seed, "language": "typescript"})).await;
    assert_eq!(body["result"], "Sum: 30\n", "{body}");
    // A runtime error is the program's, with its exit code.
    let (_, body) = run(
        &d,
        json!({"code": "const n: number = 3; process.exit(n);", "language": "typescript"}),
    )
    .await;
    assert_eq!(body["exitCode"], 3, "{body}");
}

#[tokio::test]
async fn typescript_with_tsx() {
    if let Some(rt) = ts_runtime(
        "PROCESSD_TEST_TSX",
        "target/ts-runtime/node_modules/.bin/tsx",
    ) {
        typescript_runs_with(rt).await;
    }
}

/// ts-node 10 with TypeScript 5.9 and no tsconfig: fails with TS5109 without our options.
#[tokio::test]
async fn typescript_with_ts_node_and_typescript_5_9() {
    if let Some(rt) = ts_runtime(
        "PROCESSD_TEST_TS_NODE",
        "target/ts-runtime/node_modules/.bin/ts-node",
    ) {
        typescript_runs_with(rt).await;
    }
}

/// Debian's ts-node with its TypeScript 4.8 (apt `ts-node node-typescript`), what the sandbox
/// image has; its packages live under /usr/share/nodejs.
#[tokio::test]
async fn typescript_with_debian_ts_node() {
    if let Some(rt) = ts_runtime("PROCESSD_TEST_DEBIAN_TS_NODE", "/usr/bin/ts-node") {
        typescript_runs_with(rt).await;
    }
}
