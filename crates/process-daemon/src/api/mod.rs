//! HTTP handlers of the one-shot and session endpoints (PTYs and interpreter contexts live in
//! their own modules).

pub(crate) mod exec;
pub(crate) mod follow;
pub(crate) mod fs;
pub(crate) mod git;
pub(crate) mod info;
pub(crate) mod session;
pub(crate) mod toolbox;

use axum::Router;

use crate::Daemon;

/// The toolbox routes written for axum (`/files`, `/git`, info/port/system/proxy), with the
/// daemon as state.
pub(crate) fn toolbox_router(daemon: Daemon) -> Router {
    Router::new()
        .merge(fs::routes())
        .merge(git::routes())
        .merge(info::routes())
        .fallback(not_found)
        .with_state(daemon)
}

async fn not_found(ctx: toolbox::Ctx) -> axum::response::Response {
    ctx.fail(crate::error::ApiError::new(
        http::StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "404 page not found",
    ))
}

/// Temporary bridge until the edge is axum: serves a request of the hand-written router with
/// the axum toolbox router. A body error mid-stream ends the response early.
pub(crate) async fn bridge(
    daemon: &Daemon,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<crate::Body> {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = req.map(axum::body::Body::new);
    let resp = match toolbox_router(daemon.clone()).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    resp.map(|body| {
        let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
        tokio::spawn(async move {
            let mut data = body.into_data_stream();
            while let Some(Ok(chunk)) = data.next().await {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        BodyExt::boxed(ChannelBody(rx))
    })
}

/// A body fed by a channel (the bridge's `Sync` body).
struct ChannelBody(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl http_body::Body for ChannelBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(http_body::Frame::data(b))))
    }
}
