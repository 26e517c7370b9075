//! Auto traits of the public handles (as tokio asserts its own).

use process::{
    Client, CommandOutput, Error, ExecOutput, LogStream, PtyHandle, PtyInput, PtyIo, TextLogStream,
};

fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
fn send_sync<T: Send + Sync + 'static>() {}
fn send<T: Send + 'static>() {}

#[test]
fn handles_are_send_sync_and_cheap_to_clone() {
    send_sync_clone::<Client>();
    send_sync_clone::<PtyInput>();
    send_sync_clone::<ExecOutput>();
    send_sync_clone::<CommandOutput>();
    send_sync::<PtyHandle>();
    send_sync::<Error>();
    send::<PtyIo>();
    send::<LogStream>();
    send::<TextLogStream>();
}

#[test]
fn builders_and_their_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let client = Client::connect("http://127.0.0.1:9").unwrap();
    let exec = std::future::IntoFuture::into_future(client.exec("true"));
    is_send(&exec);
    let list = client.list_sessions();
    is_send(&list);
    let pty = std::future::IntoFuture::into_future(client.create_pty_session("p"));
    is_send(&pty);
}
