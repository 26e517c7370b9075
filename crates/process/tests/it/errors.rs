//! Errors a program can branch on: connection refused, tokens, client-side timeouts.

use std::time::Duration;

use process::{Client, ErrorKind};

use crate::support::{Fixture, Kind};

crate::both_transports!(token_is_required_and_sent);

async fn token_is_required_and_sent(kind: Kind) {
    let f = Fixture::start_with(kind, |c| c.token = Some("s3cret".into())).await;
    // The fixture's client sends the token.
    f.client.list_sessions().await.unwrap();
    if kind == Kind::Tcp {
        // Not a test of the daemon's auth, but of the message a client without the token gets.
        let url = f.url.clone().unwrap();
        let anonymous = Client::connect(url).unwrap();
        let err = anonymous.list_sessions().await.unwrap_err();
        assert!(err.is_unauthorized(), "{err:?}");
        assert!(err.to_string().contains(".token("), "{err}");
    }
}

#[tokio::test]
async fn refused_connection_says_so() {
    // Bind then drop: the port is (very likely) closed now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::builder(format!("http://127.0.0.1:{port}"))
        .retries(0)
        .build()
        .unwrap();
    let err = client.list_sessions().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(err.to_string().contains("is processd running"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_timeout_is_a_timeout() {
    let f = Fixture::start(Kind::Tcp).await;
    let url = f.url.clone().unwrap();
    let impatient = Client::builder(url)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient.exec("sleep 5").await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        err.to_string().contains("no answer from the daemon within"),
        "{err}"
    );
}

#[test]
fn bad_urls_and_tokens_are_invalid_input() {
    for url in ["localhost:2280", "ftp://x", "http://h/?q=1"] {
        let err = Client::connect(url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{url}: {err}");
    }
    let err = Client::builder("http://127.0.0.1:1")
        .token("line\nbreak")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
