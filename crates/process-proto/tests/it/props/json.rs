//! JSON round trips of every wire type (charts, exec, session, PTY, interpreter, errors).

use super::artifact::scan_frames;
#[allow(clippy::wildcard_imports)]
use super::*;

// ---------- JSON round trips ----------

fn s() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9_ /.-]{0,8}", ".{0,6}"]
}

fn envs() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(s(), s(), 0..4)
}

fn json_round_trip<T>(v: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = wire::encode(v);
    let back: T = wire::decode(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
    prop_assert_eq!(&back, v);
    Ok(())
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6f64..1e6,
        any::<i32>().prop_map(f64::from),
        Just(0.0),
        proptest::num::f64::NORMAL
    ]
}

fn extra() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    btree_map(
        "zz_[a-z]{1,4}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            s().prop_map(Value::from),
            any::<bool>().prop_map(Value::from)
        ],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn known_kind(k: &ChartType) -> bool {
    !matches!(k, ChartType::Unknown(_))
}

fn element(kind: ChartType, depth: u32) -> BoxedStrategy<ChartElement> {
    match kind {
        ChartType::Line | ChartType::Scatter => (s(), vec([finite(), finite()], 0..4), extra())
            .prop_map(|(label, points, extra)| {
                let mut e = PointsElement::new(label, points);
                e.extra = extra;
                ChartElement::Points(e)
            })
            .boxed(),
        ChartType::Bar => (s(), s(), s(), extra())
            .prop_map(|(l, g, v, extra)| {
                let mut e = BarElement::new(l, g, v);
                e.extra = extra;
                ChartElement::Bar(e)
            })
            .boxed(),
        ChartType::Pie => (s(), finite(), finite(), option::of(s()), extra())
            .prop_map(|(l, a, r, p, extra)| {
                let mut e = PieElement::new(l, a, r);
                e.autopct = p;
                e.extra = extra;
                ChartElement::Pie(e)
            })
            .boxed(),
        ChartType::BoxAndWhisker => (
            s(),
            [finite(), finite(), finite(), finite(), finite()],
            vec(finite(), 0..3),
            extra(),
        )
            .prop_map(|(l, q, o, extra)| {
                let mut e = BoxElement::new(l, q, o);
                e.extra = extra;
                ChartElement::BoxAndWhisker(e)
            })
            .boxed(),
        ChartType::CompositeChart => chart(depth + 1)
            .prop_map(|c| ChartElement::Chart(Box::new(c)))
            .boxed(),
        _ => extra().prop_map(ChartElement::Other).boxed(),
    }
}

fn chart_type(depth: u32) -> impl Strategy<Value = ChartType> {
    let mut kinds = vec![
        ChartType::Line,
        ChartType::Scatter,
        ChartType::Bar,
        ChartType::Pie,
        ChartType::BoxAndWhisker,
        ChartType::Unknown("unknown".into()),
        ChartType::Unknown("heatmap".into()),
    ];
    if depth < 2 {
        kinds.push(ChartType::CompositeChart);
    }
    proptest::sample::select(kinds)
}

fn ticks() -> impl Strategy<Value = Option<Vec<Tick>>> {
    option::of(vec(
        prop_oneof![finite().prop_map(Tick::Number), s().prop_map(Tick::Text)],
        0..4,
    ))
}

fn chart(depth: u32) -> BoxedStrategy<Chart> {
    chart_type(depth)
        .prop_flat_map(move |kind| {
            (
                Just(kind.clone()),
                (
                    option::of(s()),
                    option::of("[A-Za-z0-9+/]{0,8}"),
                    option::of(s()),
                    option::of(s()),
                ),
                (
                    ticks(),
                    ticks(),
                    option::of(vec(s(), 0..3)),
                    option::of(vec(s(), 0..3)),
                ),
                (option::of(s()), option::of(s())),
                vec(element(kind, depth), 0..3),
                extra(),
            )
        })
        .prop_map(
            |(kind, (title, png, xl, yl), (xt, yt, xtl, ytl), (xs, ys), elements, extra)| {
                let mut c = Chart::new(kind);
                c.title = title;
                c.png = png;
                c.x_label = xl;
                c.y_label = yl;
                c.x_ticks = xt;
                c.y_ticks = yt;
                c.x_tick_labels = xtl;
                c.y_tick_labels = ytl;
                c.x_scale = xs;
                c.y_scale = ys;
                c.elements = elements;
                c.extra = extra;
                c
            },
        )
        .boxed()
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::ProcessExecutionTimeout),
        Just(ErrorCode::ProcessNotFound),
        Just(ErrorCode::SessionEnded),
        Just(ErrorCode::CommandAlreadyCompleted),
        Just(ErrorCode::BadRequest),
        Just(ErrorCode::InvalidRequestBody),
        Just(ErrorCode::NotFound),
        Just(ErrorCode::Conflict),
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::Gone),
        Just(ErrorCode::RequestTimeout),
        Just(ErrorCode::InternalServerError),
        Just(ErrorCode::Unauthorized),
        "[A-Z]{1,4}_X".prop_map(ErrorCode::Unknown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn chart_json(c in chart(0)) {
        json_round_trip(&c)?;
        // What we write never has a numeric bar value.
        let v: Value = serde_json::from_str(&c.to_json()).unwrap();
        if c.kind == ChartType::Bar {
            for e in v["elements"].as_array().unwrap() {
                prop_assert!(e.get("value").is_none_or(Value::is_string));
            }
        }
        prop_assert!(known_kind(&c.kind) || !c.kind.as_str().is_empty());
        // And as an artifact line it survives the scanner.
        let (data, arts) = scan_frames(&[Artifact::chart_line(&c).into_bytes()], usize::MAX);
        prop_assert!(data.is_empty());
        prop_assert_eq!(arts, vec![Ok(Artifact::Chart(Box::new(c)))]);
    }

    #[test]
    fn exec_json(
        (command, cwd, e, timeout) in (s(), option::of(s()), option::of(envs()), option::of(any::<u32>())),
        (code, result, out, err, to, tr, total) in (any::<i32>(), s(), option::of(s()), option::of(s()), option::of(any::<bool>()), option::of(any::<bool>()), option::of(any::<u64>())),
        lang in prop_oneof![Just(Language::Python), Just(Language::Javascript), Just(Language::Typescript), "[a-z]{1,3}x".prop_map(Language::Unknown)],
        argv in option::of(vec(s(), 0..3)),
        charts in vec(chart(1), 0..2),
    ) {
        let mut req = ExecuteRequest::new(command.clone());
        req.cwd = cwd;
        req.envs = e.clone();
        req.timeout = timeout;
        json_round_trip(&req)?;
        let mut resp = ExecuteResponse::new(code, result.clone());
        (resp.stdout, resp.stderr, resp.timed_out, resp.truncated, resp.total_bytes) = (out.clone(), err.clone(), to, tr, total);
        json_round_trip(&resp)?;
        let mut cr = CodeRunRequest::new(command, lang);
        cr.argv = argv;
        cr.envs = e;
        cr.timeout = timeout;
        json_round_trip(&cr)?;
        let mut crr = CodeRunResponse::new(code, result, charts.clone());
        (crr.stdout, crr.stderr, crr.timed_out, crr.truncated, crr.total_bytes) = (out, err, to, tr, total);
        json_round_trip(&crr)?;
        prop_assert_eq!(crr.charts(), &charts[..]);
    }

    #[test]
    fn session_json(
        (id, cmd, exit) in (s(), s(), option::of(any::<i32>())),
        flags in (option::of(any::<bool>()), option::of(any::<bool>()), option::of(any::<bool>())),
        outs in (option::of(s()), option::of(s()), option::of(s()), option::of(s())),
    ) {
        json_round_trip(&CreateSessionRequest::new(id.clone()))?;
        json_round_trip(&Session::new(id.clone(), vec![Command::new(id.clone(), cmd.clone(), exit), Command::new("c", "x", None)]))?;
        let mut r = SessionExecuteRequest::new(cmd.clone());
        (r.run_async, r.async_, r.suppress_input_echo) = flags;
        json_round_trip(&r)?;
        prop_assert_eq!(r.is_async(), flags.0 == Some(true) || flags.1 == Some(true));
        let mut resp = SessionExecuteResponse::started(id.clone());
        (resp.cmd_id, resp.output, resp.stdout, resp.stderr, resp.exit_code) = (outs.0.clone(), outs.1.clone(), outs.2.clone(), outs.3.clone(), exit);
        json_round_trip(&resp)?;
        let v: Value = serde_json::from_slice(&wire::encode(&resp)).unwrap();
        prop_assert_eq!(v.as_object().unwrap().len(), 5);
        json_round_trip(&SessionSendInputRequest::new(cmd))?;
        json_round_trip(&SessionCommandLogsResponse::new(id, outs.1.unwrap_or_default(), outs.2.unwrap_or_default()))?;
    }

    #[test]
    fn pty_json(
        (id, cwd, e) in (s(), option::of(s()), option::of(envs())),
        (cols, rows, lazy) in (option::of(any::<u16>()), option::of(any::<u16>()), option::of(any::<bool>())),
        (active, created) in (any::<bool>(), s()),
        exit in any::<i32>(),
        reason in option::of(s()),
        status in "[a-z]{1,8}".prop_filter("not a known status", |s| !["connected", "error", "exited"].contains(&s.as_str())),
    ) {
        let mut r = PtyCreateRequest::new(id.clone());
        (r.cwd, r.envs, r.cols, r.rows, r.lazy_start) = (cwd.clone(), e.clone(), cols, rows, lazy);
        json_round_trip(&r)?;
        json_round_trip(&PtyCreateResponse::new(id.clone()))?;
        let info = PtySessionInfo::new(id.clone(), cwd.unwrap_or_default(), e.unwrap_or_default(), cols.unwrap_or(80), rows.unwrap_or(24), created, active, lazy.unwrap_or(false));
        json_round_trip(&info)?;
        json_round_trip(&PtyListResponse::new(vec![info.clone(), info]))?;
        json_round_trip(&PtyResizeRequest::new(cols.unwrap_or(1), rows.unwrap_or(1)))?;
        for c in [
            PtyControl::Connected,
            PtyControl::Error { error: id.clone() },
            PtyControl::Exited { exit_code: exit, exit_reason: reason.clone() },
            PtyControl::Unknown { status },
        ] {
            prop_assert_eq!(PtyControl::parse(&c.to_json()), Some(c));
        }
        let cr = PtyCloseReason::new(exit, reason);
        prop_assert_eq!(PtyCloseReason::parse(&cr.to_json()), Some(cr));
        prop_assert_eq!(exit_reason(exit).is_none(), exit == 0);
    }

    #[test]
    fn envs_token_round_trip(e in btree_map("[^=\u{0}\r\n]{1,6}", ".{0,8}", 0..5)) {
        let token = encode_envs_token(&e).unwrap();
        prop_assert!(token.starts_with(PTY_ENVS_PROTOCOL_PREFIX));
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_~".contains(&b)), "token chars: {}", token);
        prop_assert_eq!(envs_from_subprotocols([format!("{PTY_EXIT_CONTROL_PROTOCOL}, {token}").as_str()]).unwrap(), e);
    }

    #[test]
    fn interpreter_json(
        (code, ctx, e, timeout) in (s(), option::of(s()), option::of(envs()), option::of(any::<i64>())),
        (text, name, value, tb) in (s(), s(), s(), s()),
        kind in prop_oneof![Just(InterpreterFrameType::Stdout), Just(InterpreterFrameType::Stderr), Just(InterpreterFrameType::Error), Just(InterpreterFrameType::Control), Just(InterpreterFrameType::Chart), "[a-z]{1,3}q".prop_map(InterpreterFrameType::Unknown)],
        ch in option::of(chart(1)),
        active in any::<bool>(),
    ) {
        let mut r = InterpreterRequest::new(code);
        (r.context_id, r.envs, r.timeout) = (ctx.clone(), e, timeout);
        json_round_trip(&r)?;
        let mut f = InterpreterFrame::stdout(text.clone());
        (f.kind, f.name, f.value, f.traceback, f.chart) = (kind, name, value, tb, ch);
        json_round_trip(&f)?;
        let mut c = CreateContextRequest::new();
        (c.cwd, c.language) = (ctx, Some(text.clone()));
        json_round_trip(&c)?;
        let ictx = InterpreterContext::new(text.clone(), text.clone(), text, active, "python");
        json_round_trip(&ictx)?;
        json_round_trip(&ListContextsResponse::new(vec![ictx]))?;
    }

    #[test]
    fn error_json(
        status in any::<u16>(),
        (message, ts, path) in (s(), s(), s()),
        (source, method, code) in (option::of(s()), option::of(s()), option::of(error_code())),
        (result, out, err, to) in (option::of(s()), option::of(s()), option::of(s()), option::of(any::<bool>())),
    ) {
        let mut e = ErrorResponse::new(status, message, ts, path, "GET");
        (e.source, e.method, e.code, e.result, e.stdout, e.stderr, e.timed_out) = (source, method, code, result, out, err, to);
        json_round_trip(&e)?;
        let mut lenient = ErrorResponse::parse_lenient(status, &wire::encode(&e));
        if e.status_code == 0 {
            lenient.status_code = 0;
        }
        prop_assert_eq!(lenient, e);
    }

    #[test]
    fn lenient_error_never_fails(status in any::<u16>(), body in vec(any::<u8>(), 0..64)) {
        let e = ErrorResponse::parse_lenient(status, &body);
        prop_assert!(e.status_code == status || e.status_code != 0);
    }
}
