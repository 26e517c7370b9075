//! Serde types for every message of the process API, with JSON names exactly as on the wire.
//!
//! Conventions, for every type here:
//! - field names are the wire's (`camelCase` where the wire has it; chart fields are
//!   `snake_case`), optional fields are `Option` and omitted when `None` unless the wire always
//!   writes the key (documented on the type);
//! - unknown fields are ignored on read, and lists/strings that an official daemon may send as
//!   `null` read as empty;
//! - structs are `#[non_exhaustive]`: build them with their `new` constructor and `with_*`
//!   setters (fields are public for reading and for in-place changes).
//!
//! [`decode`] and [`encode`] are small helpers over `serde_json` that name the type in errors.

pub mod close;
pub mod control;
pub mod endpoint;
mod error;
mod exec;
mod fs;
mod git;
mod info;
mod interpreter;
mod interpreter_client;
mod pty;
mod pty_client;
mod session;

pub use close::CloseCode;
pub use error::{decode, encode, ErrorCode, ErrorResponse, WireError, ERROR_SOURCE_DAEMON};
pub use exec::{
    CodeRunArtifacts, CodeRunRequest, CodeRunResponse, ExecuteRequest, ExecuteResponse, Language,
};
pub use fs::{
    parse_upload_field, upload_file_field, upload_path_field, FileInfo, FilesDownloadRequest,
    FindOptions, FindOptionsError, FindResponse, Match, ReplaceRequest, ReplaceResult,
    SearchFilesResponse, UploadFilesResponse, UploadedFile, UploadedFileEntry,
};
pub use git::{
    FileStatus, GitAddRemoteRequest, GitAddRequest, GitAuthenticateRequest, GitBranchRequest,
    GitCheckoutRequest, GitCloneRequest, GitCommitInfo, GitCommitRequest, GitCommitResponse,
    GitConfigResponse, GitConfigureUserRequest, GitFileState, GitInitRequest, GitPullRequest,
    GitPushRequest, GitRemote, GitResetRequest, GitRestoreRequest, GitSetConfigRequest, GitStatus,
    ListBranchResponse, ListRemotesResponse,
};
pub use info::{
    DirResponse, InitRequest, IsPortInUseResponse, MessageResponse, PortList, SystemMetrics,
    UpdateEnvRequest, VersionResponse, PORT_CHECK_RANGE,
};
pub use interpreter::{
    CreateContextRequest, InterpreterContext, InterpreterFrame, InterpreterFrameType,
    InterpreterRequest, ListContextsResponse, CONTROL_COMPLETED, CONTROL_INTERRUPTED,
    DEFAULT_CONTEXT_ID, DEFAULT_TIMEOUT_SECS,
};
pub use interpreter_client::{
    InterpreterClientState, InterpreterControl, InterpreterEnd, InterpreterEvent,
    CONTEXT_NOT_FOUND_REASON, CONTEXT_RESTARTED,
};
pub use pty::{
    decode_envs_token, encode_envs_token, envs_from_subprotocols, exit_reason, offers_exit_control,
    sdk_version_from_subprotocols, subprotocols, EnvsTokenError, PtyCloseReason, PtyControl,
    PtyCreateRequest, PtyCreateResponse, PtyListResponse, PtyResizeRequest, PtySessionInfo,
    DEFAULT_COLS, DEFAULT_ROWS, MAX_DIMENSION, MAX_ENVS_TOKEN_LEN, PTY_ENVS_PROTOCOL_PREFIX,
    PTY_EXIT_CONTROL_PROTOCOL, SDK_VERSION_PROTOCOL_PREFIX,
};
pub use pty_client::{PtyClientState, PtyTextEvent};
pub use session::{
    Command, CreateSessionRequest, Session, SessionCommandLogsResponse,
    SessionCommandSignalRequest, SessionExecuteRequest, SessionExecuteResponse,
    SessionSendInputRequest, ENTRYPOINT_COMMAND_ID, ENTRYPOINT_SESSION_ID, LOG_OFFSET_PROTOCOL,
};
