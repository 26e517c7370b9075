//! The code interpreter: contexts, runs with callbacks and streams, timeouts, charts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use process::interpreter::InterpreterControl;
use process::{ChartType, RunEvent, TypedChart};

use crate::support::{python_configured, Fixture, Kind};

crate::both_transports!(
    contexts_keep_state_and_are_isolated,
    callbacks_see_output_as_it_comes,
    streams_yield_typed_events_in_order,
    timeouts_interrupt_and_keep_state,
    a_hang_is_killed_and_the_context_restarts,
    envs_and_subprocess_output,
    errors_for_unknown_and_default_contexts,
    charts_come_back_typed,
);

async fn contexts_keep_state_and_are_isolated(kind: Kind) {
    let f = Fixture::start(kind).await;
    let interp = f.client.interpreter();
    let a = interp.create_context().await.unwrap();
    assert_eq!(a.language, "python");
    assert!(a.active);
    let b = interp.create_context_in(".").await.unwrap();
    interp.run_code("x = 100").context(&a).await.unwrap();
    let r = interp.run_code("print(x)").context(&a).await.unwrap();
    assert_eq!(r.stdout, "100\n");
    assert!(r.error.is_none());
    let r = interp.run_code("print(x)").context(&b.id).await.unwrap();
    assert_eq!(r.error.unwrap().name, "NameError");
    // The default context is separate too, and never listed.
    let r = interp.run_code("print('x' in globals())").await.unwrap();
    assert_eq!(r.stdout, "False\n");
    let ids: Vec<String> = interp
        .list_contexts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&a.id) && ids.contains(&b.id));
    interp.delete_context(&a).await.unwrap();
    interp.delete_context(b.id.as_str()).await.unwrap();
    assert!(interp.list_contexts().await.unwrap().is_empty());
}

async fn callbacks_see_output_as_it_comes(kind: Kind) {
    let f = Fixture::start(kind).await;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (out, err, errs) = (seen.clone(), seen.clone(), seen.clone());
    let code = "import sys\nprint('hello')\nsys.stderr.write('warn\\n')\nraise ValueError('bad')";
    let r = f
        .client
        .interpreter()
        .run_code(code)
        .on_stdout(move |t| out.lock().unwrap().push(format!("out:{t}")))
        .on_stderr(move |t| err.lock().unwrap().push(format!("err:{t}")))
        .on_error(move |e| {
            errs.lock()
                .unwrap()
                .push(format!("error:{}:{}", e.name, e.value));
        })
        .await
        .unwrap();
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(r.stderr, "warn\n");
    let e = r.error.unwrap();
    assert_eq!((e.name.as_str(), e.value.as_str()), ("ValueError", "bad"));
    assert!(e.traceback.contains("raise ValueError('bad')"));
    let seen = seen.lock().unwrap().join("");
    assert!(
        seen.contains("out:hello") && seen.contains("err:warn"),
        "{seen}"
    );
    assert!(seen.ends_with("error:ValueError:bad"), "{seen}");
}

async fn streams_yield_typed_events_in_order(kind: Kind) {
    let f = Fixture::start(kind).await;
    let mut events = f
        .client
        .interpreter()
        .run_code("print('one')\nprint('two')")
        .stream()
        .await
        .unwrap();
    let mut stdout = String::new();
    let mut last = None;
    while let Some(event) = events.next().await {
        let event = event.unwrap();
        if let RunEvent::Stdout(t) = &event {
            stdout.push_str(t);
        }
        last = Some(event);
    }
    assert_eq!(stdout, "one\ntwo\n");
    assert_eq!(last, Some(RunEvent::Control(InterpreterControl::Completed)));
}

async fn timeouts_interrupt_and_keep_state(kind: Kind) {
    let f = Fixture::start(kind).await;
    let interp = f.client.interpreter();
    let ctx = interp.create_context().await.unwrap();
    interp.run_code("kept = 'yes'").context(&ctx).await.unwrap();
    let err = interp
        .run_code("import time\ntime.sleep(30)")
        .context(&ctx)
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("keeps its state"), "{err}");
    let r = interp.run_code("print(kept)").context(&ctx).await.unwrap();
    assert_eq!(r.stdout, "yes\n");
    // Zero means no limit.
    let r = interp
        .run_code("print('fine')")
        .context(&ctx)
        .timeout(Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(r.stdout, "fine\n");
}

async fn a_hang_is_killed_and_the_context_restarts(kind: Kind) {
    let f = Fixture::start(kind).await;
    let interp = f.client.interpreter();
    let ctx = interp.create_context().await.unwrap();
    interp.run_code("lost = 1").context(&ctx).await.unwrap();
    let code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass";
    let err = interp
        .run_code(code)
        .context(&ctx)
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("starts empty"), "{err}");
    let r = interp
        .run_code("print('lost' in globals())")
        .context(&ctx)
        .await
        .unwrap();
    assert_eq!(r.stdout, "False\n");
}

async fn envs_and_subprocess_output(kind: Kind) {
    let f = Fixture::start(kind).await;
    let interp = f.client.interpreter();
    let code = "import os, subprocess\nprint(os.environ['A'])\nos.system('echo shell-$B')\nsubprocess.run(['echo', 'sub'])";
    let r = interp
        .run_code(code)
        .env("A", "1")
        .envs([("B", "2")])
        .await
        .unwrap();
    assert_eq!(r.stdout, "1\nshell-2\nsub\n");
    let r = interp
        .run_code("import os\nprint(os.environ.get('A'))")
        .await
        .unwrap();
    assert_eq!(r.stdout, "None\n");
}

async fn errors_for_unknown_and_default_contexts(kind: Kind) {
    let f = Fixture::start(kind).await;
    let interp = f.client.interpreter();
    let err = interp.run_code("pass").context("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("'nope' not found"), "{err}");
    let err = interp.delete_context("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = interp.delete_context("default").await.unwrap_err();
    assert_eq!(err.kind(), process::ErrorKind::BadRequest, "{err:?}");
    assert!(
        err.to_string().contains("cannot delete default context"),
        "{err}"
    );
    let err = interp.create_context_in("/no/such/dir").await.unwrap_err();
    assert_eq!(err.status(), Some(500), "{err:?}");
}

async fn charts_come_back_typed(kind: Kind) {
    if !python_configured() {
        eprintln!("PROCESSD_PYTHON not set (no matplotlib): skipping the chart test");
        return;
    }
    let f = Fixture::start(kind).await;
    let charts = Arc::new(Mutex::new(0));
    let counter = charts.clone();
    let code = "import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4], label='l')\nplt.title('T')\nprint('a')\nplt.show()\nprint('b')";
    let r = f
        .client
        .interpreter()
        .run_code(code)
        .on_chart(move |_| *counter.lock().unwrap() += 1)
        .await
        .unwrap();
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(r.stdout, "a\nb\n");
    assert_eq!(*charts.lock().unwrap(), 1);
    assert_eq!(r.charts.len(), 1);
    let chart = &r.charts[0];
    assert_eq!(chart.kind(), ChartType::Line);
    assert_eq!(chart.title(), Some("T"));
    assert!(chart.png().is_some_and(|png| png.starts_with(b"\x89PNG")));
    let TypedChart::Line(line) = chart else {
        panic!("not a line chart: {chart:?}")
    };
    assert_eq!(line.elements[0].points, vec![[1.0, 3.0], [2.0, 4.0]]);
}
