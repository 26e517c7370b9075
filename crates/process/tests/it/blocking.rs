//! `process::blocking`: the same calls from plain threads, with no runtime of the caller's.

use std::time::Duration;

use process::blocking;
use process::OutputStream;

#[test]
fn exec_and_code_run_block_until_done() {
    let client = blocking::Client::embedded().unwrap();
    let out = client
        .exec("echo out; echo err >&2; exit 2")
        .split_output(true)
        .send()
        .unwrap();
    assert_eq!(out.status().code(), 2);
    assert_eq!((out.stdout(), out.stderr()), (Some("out\n"), Some("err\n")));
    let out = client.exec("pwd").cwd("/").env("X", "1").send().unwrap();
    assert_eq!(out.result, "/\n");
    let err = client
        .exec("echo partial; sleep 10")
        .timeout(Duration::from_secs(1))
        .send()
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.partial_run().unwrap().result, "partial\n");
    let run = client.code_run("print(6 * 7)").send().unwrap();
    assert_eq!((run.exit_code, run.result.as_str()), (0, "42\n"));
}

#[test]
fn sessions_commands_and_logs() {
    let client = blocking::Client::embedded().unwrap();
    let s = client.create_session("b").unwrap();
    s.exec("export X=41").unwrap();
    assert_eq!(s.exec("echo $((X + 1))").unwrap().stdout, "42\n");
    let job = s
        .spawn("echo a; echo b >&2; read l; echo \"$l\"; exit 3")
        .unwrap();
    job.input("typed").unwrap();
    let mut out = String::new();
    let mut err = String::new();
    for piece in job.logs().unwrap() {
        let piece = piece.unwrap();
        match piece.stream {
            OutputStream::Stdout => out.push_str(&piece.text),
            OutputStream::Stderr => err.push_str(&piece.text),
        }
    }
    // The echo of the input may land before or after "a" (it is written when it arrives).
    assert!(out.contains("a\n") && out.ends_with("typed\n"), "{out:?}");
    assert_eq!(err, "b\n");
    assert_eq!(job.wait().unwrap().code(), 3);
    assert_eq!(job.info().unwrap().exit_code, Some(3));
    assert_eq!(
        client
            .get_session_command_logs("b", job.id())
            .unwrap()
            .stderr,
        "b\n"
    );
    let flat = client.execute_session_command("b", "echo flat").unwrap();
    assert_eq!(flat.stdout, "flat\n");
    assert!(client
        .list_sessions()
        .unwrap()
        .iter()
        .any(|x| x.session_id == "b"));
    s.delete().unwrap();
    assert!(client.session("b").info().unwrap_err().is_not_found());
}

#[test]
fn a_tcp_daemon_and_clones_across_threads() {
    // The daemon runs on a runtime of its own; the blocking client has another.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(crate::support::Fixture::start(crate::support::Kind::Tcp));
    let client = blocking::Client::connect(f.url.clone().unwrap()).unwrap();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let client = client.clone();
            std::thread::spawn(move || client.exec(format!("echo {i}")).send().unwrap().result)
        })
        .collect();
    let mut got: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, ["0\n", "1\n", "2\n"]);
    // Anything else of the async client runs through `wait`.
    assert!(client
        .wait(client.as_async().list_pty_sessions())
        .unwrap()
        .is_empty());
    drop(client);
    rt.block_on(async move { drop(f) });
}
