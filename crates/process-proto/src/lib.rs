//! The sandbox process API's wire protocol, with no IO and no runtime.
//!
//! This crate is the deterministic core shared by the daemon (`processd`) and the client: the
//! serde types of every endpoint and WebSocket message ([`wire`]), the stdout/stderr log
//! multiplexing codec ([`log`]), the chart schema of code-run artifacts ([`chart`]) and the
//! artifact-line codec ([`artifact`]). The wire is the Daytona toolbox process API as SDK
//! `daytona==0.226.1` speaks it; additions of ours are optional fields that the SDK ignores.
//!
//! # Contract
//!
//! Everything here is a pure function of its inputs: no networking, no files, no processes, no
//! threads, no clock (time arrives as an argument, e.g. a formatted timestamp) and no
//! randomness. Codecs read from caller-owned buffers (`&mut BytesMut`, `&[u8]`) and write into
//! caller-owned ones (`impl BufMut`); they never choose an allocation policy beyond what they
//! hand back, and they never buffer without bound. Given the same inputs in the same order,
//! every type produces the same outputs, so any chunking of a stream can be replayed in tests.
//! Nothing panics on input; malformed input is an error value.
//!
//! # Map
//!
//! - [`wire`]: requests, responses, WebSocket messages ([`wire::ExecuteRequest`] …
//!   [`wire::InterpreterFrame`]), the error envelope ([`ErrorResponse`], [`wire::ErrorCode`]),
//!   close codes ([`wire::CloseCode`]), the PTY control messages and close reason
//!   ([`wire::PtyControl`], [`wire::PtyCloseReason`], [`wire::exit_reason`]), the WebSocket
//!   subprotocol tokens ([`wire::encode_envs_token`], [`wire::envs_from_subprotocols`]) and every
//!   endpoint's path template ([`wire::endpoint`]).
//! - [`log`]: [`Muxer`] (daemon), [`Demuxer`] (bytes), [`TextDemuxer`] (text), one-shot
//!   [`demux_log`] and [`parse_session_command_logs`].
//! - [`chart`]: [`Chart`] with typed elements per [`chart::ChartType`].
//! - [`artifact`]: [`artifact::strip_artifacts`] (one shot) and, with the feature
//!   `artifact-scanner`, the streaming `artifact::ArtifactScanner`.
//! - [`text`]: [`text::Utf8Decoder`] (streaming lossy UTF-8) and [`text::MarkerStripper`]
//!   (the log without its markers).
//! - [`multipart`]: `multipart/form-data` framing: the streaming [`MultipartDecoder`] (bulk
//!   download on the client, bulk upload in the daemon) and the part encoders.
//!
//! Errors are small enums per operation, `Clone + PartialEq`: [`WireError`],
//! [`log::DemuxError`], [`chart::ChartError`], [`artifact::ArtifactError`],
//! [`wire::EnvsTokenError`].
//!
//! # Using the codecs
//!
//! The streaming decoders ([`Demuxer`], [`TextDemuxer`], `artifact::ArtifactScanner`) have the
//! `tokio_util::codec::Decoder` shape without the dependency: append received bytes to a
//! `BytesMut`, call `decode` until it returns nothing, wait for more input; at the end call
//! `decode_eof` until it returns nothing. Results never depend on how the input was chunked.
//!
//! ```
//! use bytes::BytesMut;
//! use process_proto::log::{Demuxer, OutputStream};
//!
//! // A log as the daemon writes it, received in two pieces that split a marker.
//! let mut demux = Demuxer::new();
//! let mut buf = BytesMut::from(&b"\x01\x01\x01hello\n\x02\x02"[..]);
//! let mut stdout = Vec::new();
//! let mut stderr = Vec::new();
//! let mut take = |demux: &mut Demuxer, buf: &mut BytesMut, eof: bool| {
//!     loop {
//!         let next = if eof { demux.decode_eof(buf) } else { demux.decode(buf) };
//!         match next.unwrap() {
//!             Some(c) if c.stream == OutputStream::Stdout => stdout.extend_from_slice(&c.data),
//!             Some(c) => stderr.extend_from_slice(&c.data),
//!             None => break,
//!         }
//!     }
//! };
//! take(&mut demux, &mut buf, false);
//! buf.extend_from_slice(b"\x02oops\n");
//! take(&mut demux, &mut buf, true);
//! assert_eq!(stdout, b"hello\n");
//! assert_eq!(stderr, b"oops\n");
//! ```
//!
//! The wire types are plain serde structs:
//!
//! ```
//! use process_proto::wire::{self, ExecuteRequest, ExecuteResponse};
//!
//! let req = ExecuteRequest::new("echo hello").with_cwd("/tmp").with_timeout(5);
//! assert_eq!(wire::encode(&req), br#"{"command":"echo hello","cwd":"/tmp","timeout":5}"#);
//! let resp: ExecuteResponse = wire::decode(br#"{"code": 3, "result": null}"#).unwrap();
//! assert_eq!((resp.exit_code, resp.result.as_str()), (3, ""));
//! ```
//!
//! The crate root re-exports only the headline names; everything else is reached through its
//! module (`process_proto::wire::…`, `process_proto::log::…`).
#![forbid(unsafe_code)]

pub mod artifact;
pub mod chart;
pub mod log;
pub mod multipart;
#[cfg(feature = "openapi")]
pub mod openapi;
mod serde_util;
pub mod text;
pub mod wire;

pub use artifact::ARTIFACT_PREFIX;
pub use chart::Chart;
pub use log::{
    demux_log, parse_session_command_logs, Demuxer, LogChunk, Muxer, OutputStream, TextDemuxer,
};
pub use multipart::MultipartDecoder;
pub use wire::{ErrorResponse, WireError};
