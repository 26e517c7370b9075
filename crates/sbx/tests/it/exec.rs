//! `sbx exec` and `sbx run`: streams, exit codes, flags, charts, JSON, errors.

use crate::support::{sbx_with, test_python, text, TestDaemon};

#[tokio::test(flavor = "multi_thread")]
async fn exec_splits_streams_and_passes_the_exit_code() {
    let d = TestDaemon::start(None).await;
    let out = d
        .sbx(&["exec", "local", "--", "echo out; echo err >&2; exit 7"])
        .await;
    assert_eq!(text(&out), ("out\n".into(), "err\n".into(), 7));

    // Several arguments are a program and its (quoted) arguments.
    let out = d
        .sbx(&["exec", "local", "--", "printf", "[%s]\\n", "a b", "$HOME"])
        .await;
    assert_eq!(text(&out).0, "[a b]\n[$HOME]\n");

    // --cwd and --env.
    std::fs::create_dir(d.workdir.path().join("sub")).unwrap();
    let out = d
        .sbx(&[
            "exec",
            "local",
            "--cwd",
            "sub",
            "-e",
            "GREETING=hi there",
            "--",
            "echo \"$GREETING\" && pwd",
        ])
        .await;
    let (stdout, _, code) = text(&out);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("hi there\n") && stdout.trim_end().ends_with("/sub"),
        "{stdout}"
    );

    // --json.
    let out = d
        .sbx(&[
            "--json",
            "exec",
            "local",
            "--",
            "echo out; echo err >&2; exit 2",
        ])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"exitCode": 2, "stdout": "out\n", "stderr": "err\n"})
    );
    assert_eq!(out.status.code(), Some(2));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_follow_docker_exec() {
    let d = TestDaemon::start(None).await;
    // 127: the command does not exist (the shell's own code).
    let out = d.sbx(&["exec", "local", "--", "no-such-program-xyz"]).await;
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    // 126: cannot run (a missing --cwd).
    let out = d
        .sbx(&["exec", "local", "--cwd", "/no/such/dir", "--", "true"])
        .await;
    let (_, stderr, code) = text(&out);
    assert_eq!(code, 126, "{stderr}");
    assert!(
        stderr.contains("cannot run the command") && stderr.contains("/no/such/dir"),
        "{stderr}"
    );
    // 124: --timeout, with the output so far.
    let out = d
        .sbx(&[
            "exec",
            "local",
            "--timeout",
            "1",
            "--",
            "echo before; sleep 30",
        ])
        .await;
    let (stdout, stderr, code) = text(&out);
    assert_eq!((stdout.as_str(), code), ("before\n", 124), "{stderr}");
    assert!(stderr.contains("did not finish within 1s"), "{stderr}");
    // 125: sbx's own errors: a wrong ID in --daemon mode, bad usage, an unreachable daemon.
    let out = d.sbx(&["exec", "other", "--", "true"]).await;
    let (_, stderr, code) = text(&out);
    assert_eq!(code, 125);
    assert!(stderr.contains("use 'local'"), "{stderr}");
    let out = d.sbx(&["exec", "local"]).await;
    assert_eq!(out.status.code(), Some(125));
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = sbx_with(&dead, &["exec", "local", "--", "true"], None).await;
    let (_, stderr, code) = text(&out);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.starts_with("sbx: exec:"), "{stderr}");
    // --help is not an error.
    let out = d.sbx(&["--help"]).await;
    let (stdout, _, code) = text(&out);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Exit codes:") && stdout.contains("125"),
        "{stdout}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_protected_daemon_needs_the_token() {
    let d = TestDaemon::start(Some("s3cret")).await;
    let out = d.sbx(&["exec", "local", "--", "echo hi"]).await;
    let (_, stderr, code) = text(&out);
    assert_eq!(code, 125);
    assert!(stderr.contains("--token"), "{stderr}");
    let out = d
        .sbx(&["--token", "s3cret", "exec", "local", "--", "echo hi"])
        .await;
    assert_eq!(text(&out), ("hi\n".into(), String::new(), 0));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_writes_charts_as_png_files_and_reads_stdin() {
    let d = TestDaemon::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    // From stdin (Python by default), with argv.
    let out = sbx_with(
        &d.url,
        &["run", "local", "-", "--", "a b"],
        Some(b"import sys\nprint('args', sys.argv[1:])\nsys.exit(4)\n"),
    )
    .await;
    assert_eq!(text(&out).0, "args ['a b']\n");
    assert_eq!(out.status.code(), Some(4));
    // A missing file: 127.
    let out = d.sbx(&["run", "local", "/no/such/file.py"]).await;
    assert_eq!(out.status.code(), Some(127));

    let has_matplotlib = test_python().is_some_and(|py| {
        std::process::Command::new(py)
            .args(["-c", "import matplotlib"])
            .status()
            .is_ok_and(|s| s.success())
    });
    if !has_matplotlib {
        eprintln!("skipping the chart part: no Python with matplotlib (PROCESSD_PYTHON)");
        d.stop().await;
        return;
    }
    let file = dir.path().join("plot.py");
    std::fs::write(
        &file,
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.title('Growth')\nplt.show()\n\
         plt.bar(['a', 'b'], [3, 4])\nplt.title('Bars')\nplt.show()\nprint('done')\n",
    )
    .unwrap();
    let charts = dir.path().join("out");
    let out = d
        .sbx(&[
            "run",
            "local",
            file.to_str().unwrap(),
            "--charts-dir",
            charts.to_str().unwrap(),
        ])
        .await;
    let (stdout, stderr, code) = text(&out);
    assert_eq!((stdout.as_str(), code), ("done\n", 0), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("chart: "))
        .collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("chart: line \"Growth\" -> "),
        "{stderr}"
    );
    assert!(lines[1].starts_with("chart: bar \"Bars\" -> "), "{stderr}");
    for name in ["chart-1.png", "chart-2.png"] {
        let png = std::fs::read(charts.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is not a PNG");
    }
    // --json names each chart's type, title and file.
    let out = d
        .sbx(&[
            "--json",
            "run",
            "local",
            file.to_str().unwrap(),
            "--charts-dir",
            charts.to_str().unwrap(),
        ])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exitCode"], 0);
    assert_eq!(v["charts"][1]["type"], "bar");
    assert_eq!(v["charts"][1]["title"], "Bars");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_are_generated() {
    let out = sbx_with("http://127.0.0.1:9", &["completions", "bash"], None).await;
    let (stdout, _, code) = text(&out);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("_sbx()") && stdout.contains("session"),
        "{}",
        &stdout[..200.min(stdout.len())]
    );
}

/// `sbx exec` prints output as the command produces it: the command writes `ready`, then waits
/// for a file that the test creates only after reading `ready` from sbx's stdout. Were the
/// output held back until the end, the test would read nothing until the command gave up
/// waiting (after 60 s) and printed `gave up` instead of `saw the file`.
#[tokio::test(flavor = "multi_thread")]
async fn exec_streams_output_while_the_command_runs() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let d = TestDaemon::start(None).await;
    let flag = d.workdir.path().join("go");
    let script = format!(
        "echo ready; echo to-stderr >&2; i=0; while [ ! -e {0} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \
         if [ -e {0} ]; then echo 'saw the file'; else echo 'gave up'; fi; exit 3",
        flag.display()
    );
    let mut child = tokio::process::Command::new(crate::support::sbx_bin())
        .args(["--daemon", &d.url, "exec", "local", "--", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).await.unwrap();
    assert_eq!(first, "ready\n");
    std::fs::write(&flag, b"").unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(rest, "saw the file\n");
    assert_eq!(stderr, "to-stderr\n");
    assert_eq!(status.code(), Some(3));
    d.stop().await;
}
