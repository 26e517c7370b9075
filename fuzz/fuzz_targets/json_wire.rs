//! Every wire decoder on arbitrary bytes: never panics; whatever decodes re-encodes and decodes
//! to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_proto::wire::{self, *};
use process_proto::Chart;

fn check<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = wire::decode::<T>(data) {
        let again: T = wire::decode(&wire::encode(&v)).expect("re-decode what we encoded");
        // Charts may hold NaN-free floats only; NaN cannot come from JSON, so equality holds.
        assert_eq!(again, v);
    }
}

fuzz_target!(|data: &[u8]| {
    check::<ExecuteRequest>(data);
    check::<ExecuteResponse>(data);
    check::<CodeRunRequest>(data);
    check::<CodeRunResponse>(data);
    check::<CreateSessionRequest>(data);
    check::<Session>(data);
    check::<Command>(data);
    check::<SessionExecuteRequest>(data);
    check::<SessionExecuteResponse>(data);
    check::<SessionSendInputRequest>(data);
    check::<SessionCommandLogsResponse>(data);
    check::<PtyCreateRequest>(data);
    check::<PtyCreateResponse>(data);
    check::<PtySessionInfo>(data);
    check::<PtyListResponse>(data);
    check::<PtyResizeRequest>(data);
    check::<PtyCloseReason>(data);
    check::<CreateContextRequest>(data);
    check::<InterpreterContext>(data);
    check::<ListContextsResponse>(data);
    check::<InterpreterRequest>(data);
    check::<InterpreterFrame>(data);
    check::<ErrorResponse>(data);
    check::<Chart>(data);
    let _ = ErrorResponse::parse_lenient(400, data);
    if let Ok(c) = PtyControl::decode(data) {
        assert_eq!(PtyControl::parse(&c.to_json()), Some(c));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_envs_token(text);
        let _ = envs_from_subprotocols([text]);
    }
});
