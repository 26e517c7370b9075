//! The interpreter client's protocol state, sans-IO (quinn-proto style): feed it the
//! `/process/interpreter/execute` WebSocket's data frames and its close, read back the run's
//! events and how the run ended. The facade's `RunStream` drives it from a socket; tests drive
//! it from bytes.

use super::close::CloseCode;
use super::interpreter::{
    InterpreterFrame, InterpreterFrameType, CONTROL_COMPLETED, CONTROL_INTERRUPTED,
};
use super::WireError;
use crate::chart::Chart;

/// The `name` of the error frame the daemon sends when it killed a context's Python process
/// (the code ignored the interrupt at its timeout): the context starts empty on its next run.
pub const CONTEXT_RESTARTED: &str = "ContextRestarted";

/// The start of the close reason (code 1008) for a run naming a context that does not exist.
pub const CONTEXT_NOT_FOUND_REASON: &str = "context not found";

/// The word of a run's final `control` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InterpreterControl {
    /// `completed`: the run ended (normally or with an error).
    Completed,
    /// `interrupted`: the run was interrupted at its timeout.
    Interrupted,
    /// Another word, from a newer daemon.
    Other(String),
}

impl InterpreterControl {
    /// Reads a control frame's `text`.
    pub fn parse(text: &str) -> InterpreterControl {
        match text {
            CONTROL_COMPLETED => InterpreterControl::Completed,
            CONTROL_INTERRUPTED => InterpreterControl::Interrupted,
            other => InterpreterControl::Other(other.to_owned()),
        }
    }
}

/// What one data frame of a run meant.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InterpreterEvent {
    /// Text written to stdout.
    Stdout(String),
    /// Text written to stderr.
    Stderr(String),
    /// The run's uncaught exception (or the daemon's [`CONTEXT_RESTARTED`] notice).
    Error {
        /// Exception class name.
        name: String,
        /// Its `str()` value.
        value: String,
        /// The formatted traceback.
        traceback: String,
    },
    /// A matplotlib figure (boxed: charts are large).
    Chart(Box<Chart>),
    /// The run's end: the last event of a run that was not cut short.
    Control(InterpreterControl),
}

/// How a run's connection ended, read from its close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InterpreterEnd {
    /// A normal close (1000, or a close without a code): the run is over.
    Closed,
    /// Close 4008: the run hit its timeout. `restarted`: the code ignored the interrupt, so
    /// the daemon killed the context's Python process (the context starts empty next run);
    /// otherwise the context keeps its state.
    TimedOut {
        /// Whether the context's Python process was killed and restarted.
        restarted: bool,
    },
    /// Close 1008 with a `context not found` reason: the run named no live context.
    ContextNotFound,
    /// Any other close: the run failed with this code and reason.
    Failed {
        /// The close code.
        code: u16,
        /// The close reason, as sent.
        reason: String,
    },
}

/// The client side of one interpreter run: turns frames into [`InterpreterEvent`]s and the
/// close into an [`InterpreterEnd`], remembering what the run said along the way (a
/// [`CONTEXT_RESTARTED`] notice changes what a later timeout means).
///
/// ```
/// use process_proto::wire::{InterpreterClientState, InterpreterEnd, InterpreterEvent};
/// let mut run = InterpreterClientState::new();
/// let ev = run.handle_frame(br#"{"type":"stdout","text":"1\n"}"#).unwrap();
/// assert_eq!(ev, Some(InterpreterEvent::Stdout("1\n".into())));
/// run.handle_frame(br#"{"type":"error","name":"ContextRestarted"}"#).unwrap();
/// assert_eq!(run.handle_close(Some(4008), "timeout"), InterpreterEnd::TimedOut { restarted: true });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterpreterClientState {
    restarted: bool,
    ended: bool,
    control: Option<InterpreterControl>,
}

impl InterpreterClientState {
    /// A run whose request has been sent.
    pub fn new() -> InterpreterClientState {
        InterpreterClientState::default()
    }

    /// Reads one data frame (text or binary: both carry JSON). `Ok(None)`: a frame type this
    /// client does not know (or a `chart` frame without a chart), to be skipped; `Err`: the
    /// frame is not an interpreter frame at all.
    pub fn handle_frame(&mut self, json: &[u8]) -> Result<Option<InterpreterEvent>, WireError> {
        let frame: InterpreterFrame = super::decode(json)?;
        Ok(Some(match frame.kind {
            InterpreterFrameType::Stdout => InterpreterEvent::Stdout(frame.text),
            InterpreterFrameType::Stderr => InterpreterEvent::Stderr(frame.text),
            InterpreterFrameType::Error => {
                if frame.name == CONTEXT_RESTARTED {
                    self.restarted = true;
                }
                InterpreterEvent::Error {
                    name: frame.name,
                    value: frame.value,
                    traceback: frame.traceback,
                }
            }
            InterpreterFrameType::Chart => match frame.chart {
                Some(chart) => InterpreterEvent::Chart(Box::new(chart)),
                None => return Ok(None),
            },
            InterpreterFrameType::Control => {
                let control = InterpreterControl::parse(&frame.text);
                self.control = Some(control.clone());
                InterpreterEvent::Control(control)
            }
            InterpreterFrameType::Unknown(_) => return Ok(None),
        }))
    }

    /// Reads the close frame (`None`: closed without a code).
    pub fn handle_close(&mut self, code: Option<u16>, reason: &str) -> InterpreterEnd {
        self.ended = true;
        match code.map(CloseCode) {
            None | Some(CloseCode::NORMAL) => InterpreterEnd::Closed,
            Some(CloseCode::INTERPRETER_TIMEOUT) => InterpreterEnd::TimedOut {
                restarted: self.restarted,
            },
            Some(CloseCode::POLICY) if reason.starts_with(CONTEXT_NOT_FOUND_REASON) => {
                InterpreterEnd::ContextNotFound
            }
            Some(CloseCode(code)) => InterpreterEnd::Failed {
                code,
                reason: reason.to_owned(),
            },
        }
    }

    /// The daemon reported that it killed the context's Python process.
    pub fn restarted(&self) -> bool {
        self.restarted
    }

    /// The close frame has been read.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The word of the run's `control` frame, once it arrived.
    pub fn control(&self) -> Option<&InterpreterControl> {
        self.control.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::ChartType;
    use proptest::prelude::*;

    fn feed(
        run: &mut InterpreterClientState,
        frame: &InterpreterFrame,
    ) -> Option<InterpreterEvent> {
        run.handle_frame(frame.to_json().as_bytes()).unwrap()
    }

    #[test]
    fn frames_become_events() {
        let mut run = InterpreterClientState::new();
        assert_eq!(
            feed(&mut run, &InterpreterFrame::stdout("a")),
            Some(InterpreterEvent::Stdout("a".into()))
        );
        assert_eq!(
            feed(&mut run, &InterpreterFrame::stderr("w")),
            Some(InterpreterEvent::Stderr("w".into()))
        );
        assert_eq!(
            feed(&mut run, &InterpreterFrame::error("KeyError", "'k'", "tb")),
            Some(InterpreterEvent::Error {
                name: "KeyError".into(),
                value: "'k'".into(),
                traceback: "tb".into()
            })
        );
        let chart = Chart::new(ChartType::Line).with_title("T");
        assert_eq!(
            feed(&mut run, &InterpreterFrame::chart(chart.clone())),
            Some(InterpreterEvent::Chart(Box::new(chart)))
        );
        assert!(!run.restarted());
        assert_eq!(run.control(), None);
        assert_eq!(
            feed(&mut run, &InterpreterFrame::control(CONTROL_COMPLETED)),
            Some(InterpreterEvent::Control(InterpreterControl::Completed))
        );
        assert_eq!(run.control(), Some(&InterpreterControl::Completed));
        assert!(!run.is_ended());
        assert_eq!(run.handle_close(Some(1000), ""), InterpreterEnd::Closed);
        assert!(run.is_ended());
    }

    #[test]
    fn unknown_frames_are_skipped_and_garbage_is_an_error() {
        let mut run = InterpreterClientState::new();
        assert_eq!(
            run.handle_frame(br#"{"type":"progress","text":"50%"}"#)
                .unwrap(),
            None
        );
        assert_eq!(run.handle_frame(br#"{"type":"chart"}"#).unwrap(), None);
        assert!(run.handle_frame(b"not json").is_err());
        assert!(run.handle_frame(b"[1,2]").is_err());
        assert_eq!(
            run.handle_frame(br#"{"type":"control","text":"paused"}"#)
                .unwrap(),
            Some(InterpreterEvent::Control(InterpreterControl::Other(
                "paused".into()
            )))
        );
    }

    #[test]
    fn close_codes_tell_how_the_run_ended() {
        let close = |code, reason: &str| InterpreterClientState::new().handle_close(code, reason);
        assert_eq!(close(None, ""), InterpreterEnd::Closed);
        assert_eq!(
            close(Some(4008), "timeout"),
            InterpreterEnd::TimedOut { restarted: false }
        );
        assert_eq!(
            close(Some(1008), "context not found: c9"),
            InterpreterEnd::ContextNotFound
        );
        assert_eq!(
            close(Some(1008), "forbidden"),
            InterpreterEnd::Failed {
                code: 1008,
                reason: "forbidden".into()
            }
        );
        assert_eq!(
            close(Some(1011), "worker died"),
            InterpreterEnd::Failed {
                code: 1011,
                reason: "worker died".into()
            }
        );
        let mut run = InterpreterClientState::new();
        feed(
            &mut run,
            &InterpreterFrame::error(CONTEXT_RESTARTED, "", ""),
        );
        assert!(run.restarted());
        assert_eq!(
            run.handle_close(Some(4008), ""),
            InterpreterEnd::TimedOut { restarted: true }
        );
    }

    fn frame() -> impl Strategy<Value = InterpreterFrame> {
        prop_oneof![
            ".{0,20}".prop_map(InterpreterFrame::stdout),
            ".{0,20}".prop_map(InterpreterFrame::stderr),
            (
                prop_oneof![Just(CONTEXT_RESTARTED.to_owned()), "[A-Za-z]{1,10}"],
                ".{0,10}",
                ".{0,10}"
            )
                .prop_map(|(n, v, t)| InterpreterFrame::error(n, v, t)),
            prop_oneof![
                Just(CONTROL_COMPLETED.to_owned()),
                Just(CONTROL_INTERRUPTED.to_owned()),
                "[a-z]{1,8}"
            ]
            .prop_map(InterpreterFrame::control),
            "[a-z ]{0,10}"
                .prop_map(|t| InterpreterFrame::chart(Chart::new(ChartType::Bar).with_title(t))),
        ]
    }

    proptest! {
        /// Every frame the daemon can send maps to the event carrying its fields; the state
        /// remembers a restart notice, whatever came between it and the close.
        #[test]
        fn any_run_maps_frame_by_frame(frames in proptest::collection::vec(frame(), 0..12), code in prop_oneof![Just(None), any::<u16>().prop_map(Some)]) {
            let mut run = InterpreterClientState::new();
            let mut restarted = false;
            for f in &frames {
                let ev = feed(&mut run, f).expect("every daemon frame type is known");
                match (&f.kind, ev) {
                    (InterpreterFrameType::Stdout, InterpreterEvent::Stdout(t))
                    | (InterpreterFrameType::Stderr, InterpreterEvent::Stderr(t)) => prop_assert_eq!(&t, &f.text),
                    (InterpreterFrameType::Error, InterpreterEvent::Error { name, .. }) => {
                        restarted |= name == CONTEXT_RESTARTED;
                        prop_assert_eq!(&name, &f.name);
                    }
                    (InterpreterFrameType::Control, InterpreterEvent::Control(c)) => {
                        prop_assert_eq!(c, InterpreterControl::parse(&f.text));
                    }
                    (InterpreterFrameType::Chart, InterpreterEvent::Chart(c)) => prop_assert_eq!(Some(*c), f.chart.clone()),
                    (kind, ev) => prop_assert!(false, "{kind} became {ev:?}"),
                }
                prop_assert_eq!(run.restarted(), restarted);
            }
            let end = run.handle_close(code, "");
            prop_assert!(run.is_ended());
            match code {
                None | Some(1000) => prop_assert_eq!(end, InterpreterEnd::Closed),
                Some(4008) => prop_assert_eq!(end, InterpreterEnd::TimedOut { restarted }),
                Some(c) => prop_assert_eq!(end, InterpreterEnd::Failed { code: c, reason: String::new() }),
            }
        }

        /// No input makes the state machine panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), reason in ".{0,40}", code in any::<u16>()) {
            let mut run = InterpreterClientState::new();
            let _ = run.handle_frame(&bytes);
            let _ = run.handle_close(Some(code), &reason);
        }
    }
}
