//! The tidy checks as tests (`cargo test -p xtask`), and the scanners' own cases.

#[test]
fn process_proto_has_no_runtime_dependencies() {
    super::proto_is_runtime_free().unwrap();
}

#[test]
fn processd_domain_modules_do_not_know_http() {
    super::daemon_domain_is_http_free().unwrap();
}

#[test]
fn the_facade_and_the_daemons_spell_no_endpoint_path() {
    super::endpoints_are_spelled_once().unwrap();
}

#[test]
fn the_facade_and_proto_share_no_type_name() {
    super::facade_and_proto_share_no_type_name().unwrap();
}

#[test]
fn no_rust_file_is_over_600_lines() {
    super::files_stay_short().unwrap();
}

#[test]
fn the_type_scan_finds_public_definitions_only() {
    use super::defined_public_type as f;
    assert_eq!(f("pub struct Sandbox {"), Some("Sandbox"));
    assert_eq!(f("    pub enum TypedChart<'a> {"), Some("TypedChart"));
    assert_eq!(f("pub struct Fs<'a>(&'a Client);"), Some("Fs"));
    assert_eq!(
        f("pub type Result<T> = std::result::Result<T, Error>;"),
        Some("Result")
    );
    assert_eq!(f("pub trait Layer {"), Some("Layer"));
    assert_eq!(f("pub(crate) struct Inner {"), None);
    assert_eq!(f("struct Private;"), None);
    assert_eq!(f("pub fn sandbox() -> Sandbox {"), None);
    assert_eq!(f("pub use process_proto::wire::control::SandboxDto;"), None);
    assert_eq!(f("/// pub struct InADocComment"), None);
    // Both crates really are scanned: a name each defines is found in each.
    let facade = super::public_types("crates/process/src").unwrap();
    let proto = super::public_types("crates/process-proto/src").unwrap();
    assert!(facade.contains_key("Sandbox") && facade.contains_key("TypedChart"));
    assert!(proto.contains_key("SandboxDto") && proto.contains_key("Chart"));
}

#[test]
fn the_endpoint_scan_finds_spelled_paths_only() {
    let t = super::endpoint_templates().unwrap();
    let hit = |line: &str| {
        super::literals(line)
            .into_iter()
            .any(|l| super::spells_endpoint(l, &t))
    };
    assert!(hit(r#"    .route("/files/info", get(info))"#));
    assert!(hit(r#"format!("/files?path={}&recursive={r}", q(p))"#));
    assert!(hit(
        r#"let p = format!("/process/interpreter/context/{}", id);"#
    ));
    assert!(hit(r#".route("/port/{port}/in-use", get(x))"#));
    assert!(hit(r#"x("a \" b", "/git/clone")"#));
    assert!(!hit(
        "    .route(endpoint::FILES_INFO.template(), get(info))"
    ));
    assert!(!hit(r#"format!("{}?path={}", endpoint::FILES, q(p))"#));
    assert!(!hit(
        r#"let s = "/files-of-mine"; // "/files/info" in a comment"#
    ));
    assert!(!hit(r#"path.strip_prefix("/proxy/")"#));
    // Control-plane paths: as the facade and sandboxd's table and OpenAPI rows spelled them.
    assert!(hit(
        r#"let path = format!("/sandbox/{}/start", segment(id));"#
    ));
    assert!(hit(
        r#".call_dto("create", Method::POST, "/sandbox", Some(b))"#
    ));
    assert!(hit(r#"&format!("/sandbox?{}", query.finish()),"#));
    assert!(hit(
        r#"    .route("/sandbox/{id}/autostop/{minutes}", post(autostop))"#
    ));
    assert!(hit(
        r#"    op("get", "/api/sandbox/{id}", "sandbox", "A sandbox.","#
    ));
    assert!(hit(
        r#"    refused("/api/sandbox/{id}/ports/{rest}", &[ID, REST]),"#
    ));
    assert!(hit(r#"    .route("/toolbox/{id}/{*rest}", any(toolbox))"#));
    assert!(!hit(
        "        .route(paths::SANDBOX_START.template(), post(sandbox::start))"
    ));
    assert!(!hit(
        r#"let p = format!("{}?force={f}", api::SANDBOX_STOP.path(&[id]));"#
    ));
    assert!(!hit(r#"default_value = "/var/lib/sandboxd""#));
}

#[test]
fn the_http_scan_finds_crate_paths_only() {
    use super::names_http_crate as f;
    assert_eq!(f("use hyper::upgrade::Upgraded;"), Some("hyper"));
    assert_eq!(f("    let s: http::StatusCode = x;"), Some("http"));
    assert_eq!(f("fn f(r: axum::extract::Request) {}"), Some("axum"));
    assert_eq!(
        f("use fastwebsockets::{Frame, OpCode};"),
        Some("fastwebsockets")
    );
    assert_eq!(f("use crate::http::{Json, PathParams};"), None);
    assert_eq!(f("// a hyper::Error in a comment"), None);
    assert_eq!(f("let url = \"http://127.0.0.1\";"), None);
    assert_eq!(f("let x = my_http::y;"), None);
    assert!(super::is_edge("api/session.rs") && !super::is_edge("session/mod.rs"));
}

#[test]
fn the_check_sees_forbidden_crates_where_they_are() {
    // process-daemon depends on tokio: the same walk must find it there, or the check
    // above proves nothing.
    let meta = super::cargo()
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(super::root())
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let deps = super::reachable_normal(&meta, "process-daemon").unwrap();
    assert!(deps.contains("tokio") && deps.contains("hyper"));
}
