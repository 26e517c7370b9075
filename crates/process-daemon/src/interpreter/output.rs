//! A job's output on its way to frames: [`PipeState`] (one pipe: start/end/chart markers,
//! UTF-8 decoding, chart placement) and [`Output`] (merging text into frames under the size
//! limit, the backlog bound, the queue the runner sends from).

use std::collections::VecDeque;
use std::time::Duration;

use process_proto::chart::Chart;
use process_proto::text::Utf8Decoder;
use process_proto::wire::{CloseCode, InterpreterFrame, InterpreterFrameType};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::context::Event;
use super::stream::{MarkerScanner, Piece};

/// Queued output of one stream is merged into one frame while the frame's JSON stays under
/// this size: below 1 MiB, far below aiohttp's 4 MiB message limit. Large frames matter to the
/// official SDK, which appends each frame's text to an immutable string (quadratic in the
/// number of frames).
const MAX_FRAME_JSON: usize = 960 * 1024;
/// How long a trailing partial line waits for the rest of its line before it is sent.
const PARTIAL_HOLD: Duration = Duration::from_millis(10);

/// Which pipe of the worker.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    Stdout,
    Stderr,
}

/// The length of `text` as a JSON string body (serde_json escapes `"`, `\\` and control
/// characters; everything else is written as is).
fn json_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Index of the end-of-job marker in a [`PipeState`]'s scanner.
const SYNC_MARKER: usize = 0;
/// Index of the start-of-job marker in a [`PipeState`]'s scanner.
const START_MARKER: usize = 1;

/// One pipe during a job: marker detection, UTF-8 decoding, and (stdout) chart placement.
///
/// The worker writes a start marker to both pipes when it begins the job: bytes before it were
/// written between jobs (background threads or processes) and are discarded. When the worker shows a figure it sends the chart on the control channel, then writes a
/// chart marker to its stdout pipe; the chart frame goes out at the marker's place in the
/// output. Output after a marker whose chart has not arrived yet waits for it.
pub(super) struct PipeState {
    stream: Stream,
    pub(super) scanner: MarkerScanner,
    decoder: Utf8Decoder,
    /// The start marker was seen: data belongs to this job.
    started: bool,
    /// The end-of-job marker was seen (or the pipe ended): nothing more belongs to this job.
    pub(super) synced: bool,
    /// A chart marker was seen and its chart has not arrived: reading pauses.
    pub(super) awaiting_chart: bool,
    /// Charts that arrived before their marker.
    charts: VecDeque<Chart>,
}

impl PipeState {
    /// `markers[SYNC_MARKER]` ends the job, `markers[START_MARKER]` starts it; any other is a
    /// chart marker.
    pub(super) fn new(stream: Stream, markers: Vec<Vec<u8>>) -> PipeState {
        PipeState {
            stream,
            started: false,
            scanner: MarkerScanner::new(markers),
            decoder: Utf8Decoder::default(),
            synced: false,
            awaiting_chart: false,
            charts: VecDeque::new(),
        }
    }

    /// Whether the pipe should be read now.
    pub(super) fn wants_data(&self) -> bool {
        !self.synced && !self.awaiting_chart
    }

    pub(super) fn feed(&mut self, bytes: &[u8], out: &mut Output) {
        self.scanner.push(bytes);
        self.process(out, false);
    }

    /// Hands out buffered pieces until a marker stops it (or, at the end, all of them).
    pub(super) fn process(&mut self, out: &mut Output, at_end: bool) {
        let mut text = String::new();
        while !self.synced && (at_end || !self.awaiting_chart) {
            match self.scanner.next_piece() {
                None => break,
                Some(Piece::Data(data)) if !self.started => {
                    tracing::debug!(bytes = data.len(), "discarding output written between jobs");
                }
                Some(Piece::Marker(START_MARKER)) => self.started = true,
                Some(Piece::Marker(_)) if !self.started => {}
                Some(Piece::Data(data)) => self.decoder.decode(&data, &mut text),
                Some(Piece::Marker(SYNC_MARKER)) => {
                    self.decoder.finish(&mut text);
                    self.synced = true;
                    let rest = self.scanner.finish();
                    if !rest.is_empty() {
                        tracing::debug!(
                            bytes = rest.len(),
                            "discarding output written after the end of a job"
                        );
                    }
                }
                Some(Piece::Marker(_)) => {
                    out.text(self.stream, std::mem::take(&mut text));
                    match self.charts.pop_front() {
                        Some(chart) => out.push(InterpreterFrame::chart(chart)),
                        None if at_end => {}
                        None => self.awaiting_chart = true,
                    }
                }
            }
        }
        out.text(self.stream, text);
    }

    /// A chart arrived on the control channel (`None`: it was unreadable).
    pub(super) fn chart(&mut self, chart: Option<Chart>, out: &mut Output) {
        if self.awaiting_chart {
            self.awaiting_chart = false;
            if let Some(chart) = chart {
                out.push(InterpreterFrame::chart(chart));
            }
            self.process(out, false);
        } else if let Some(chart) = chart {
            self.charts.push_back(chart);
        }
    }

    /// The pipe ended or the job is over: everything buffered goes out, then any chart whose
    /// marker never came.
    pub(super) fn end(&mut self, out: &mut Output) {
        self.process(out, true);
        let mut text = String::new();
        if !self.synced {
            let rest = self.scanner.finish();
            if self.started {
                self.decoder.decode(&rest, &mut text);
            }
            self.decoder.finish(&mut text);
            self.synced = true;
        }
        out.text(self.stream, text);
        self.awaiting_chart = false;
        self.flush_charts(out);
    }

    pub(super) fn flush_charts(&mut self, out: &mut Output) {
        while let Some(chart) = self.charts.pop_front() {
            out.push(InterpreterFrame::chart(chart));
        }
    }
}

/// The job's outgoing frames: a queue that merges adjacent output of one stream, drained into
/// the client's channel as the client accepts frames.
///
/// A trailing partial line (output not ending in `\n`) is held back for up to [`PARTIAL_HOLD`]
/// so that the pieces of one `print` (Python writes the text and the `\n` separately, each
/// straight to the pipe) usually reach the client as one frame.
pub(super) struct Output {
    tx: Option<mpsc::Sender<Event>>,
    queue: VecDeque<Event>,
    backlog: usize,
    /// When the last queued frame became a partial line.
    partial_since: Option<Instant>,
    /// JSON size of the text of the last queued frame, if it is an output frame.
    back_json: usize,
}

impl Output {
    pub(super) fn new(tx: mpsc::Sender<Event>) -> Output {
        Output {
            tx: Some(tx),
            queue: VecDeque::new(),
            backlog: 0,
            partial_since: None,
            back_json: 0,
        }
    }

    pub(super) fn backlog(&self) -> usize {
        self.backlog
    }

    /// When a held partial line becomes sendable (`None`: nothing is held).
    pub(super) fn hold_deadline(&self) -> Option<Instant> {
        if self.tx.is_none() || self.queue.len() != 1 {
            return None;
        }
        self.partial_since.map(|t| t + PARTIAL_HOLD)
    }

    /// Whether the front of the queue may be sent now.
    pub(super) fn sendable(&self, now: Instant) -> bool {
        if self.tx.is_none() || self.queue.is_empty() {
            return false;
        }
        self.hold_deadline().is_none_or(|at| now >= at)
    }

    pub(super) fn client_gone(&mut self) {
        self.tx = None;
        self.queue.clear();
        self.backlog = 0;
        self.partial_since = None;
    }

    pub(super) fn text(&mut self, stream: Stream, text: String) {
        if text.is_empty() || self.tx.is_none() {
            return;
        }
        self.backlog += text.len();
        let complete = text.ends_with('\n');
        if let Some(Event::Frame(last)) = self.queue.back_mut() {
            let same = match stream {
                Stream::Stdout => last.kind == InterpreterFrameType::Stdout,
                Stream::Stderr => last.kind == InterpreterFrameType::Stderr,
            };
            let added = json_len(&text);
            if same && self.back_json + added <= MAX_FRAME_JSON {
                self.back_json += added;
                last.text.push_str(&text);
                if complete {
                    self.partial_since = None;
                }
                return;
            }
        }
        self.back_json = json_len(&text);
        self.queue.push_back(Event::Frame(Box::new(match stream {
            Stream::Stdout => InterpreterFrame::stdout(text),
            Stream::Stderr => InterpreterFrame::stderr(text),
        })));
        self.partial_since = if complete { None } else { Some(Instant::now()) };
    }

    pub(super) fn push(&mut self, frame: InterpreterFrame) {
        self.partial_since = None;
        self.back_json = MAX_FRAME_JSON;
        if self.tx.is_some() {
            self.queue.push_back(Event::Frame(Box::new(frame)));
        }
    }

    pub(super) fn close(&mut self, code: CloseCode, reason: &str) {
        self.partial_since = None;
        self.back_json = MAX_FRAME_JSON;
        if self.tx.is_some() {
            self.queue.push_back(Event::Close(code, reason.to_owned()));
        }
    }

    /// Hands the oldest queued event to the client. Cancel-safe (the event leaves the queue only
    /// once the channel has room for it).
    pub(super) async fn send_one(&mut self) -> Result<(), ()> {
        let Some(tx) = self.tx.as_ref() else {
            return Ok(());
        };
        let permit = tx.reserve().await.map_err(|_| ())?;
        if let Some(event) = self.queue.pop_front() {
            if let Event::Frame(f) = &event {
                self.backlog = self.backlog.saturating_sub(f.text.len());
            }
            if self.queue.is_empty() {
                self.partial_since = None;
            }
            permit.send(event);
        }
        Ok(())
    }

    /// Delivers the rest of the queue in the background, so a slow client never holds up the
    /// next job of the context.
    pub(super) fn finish(mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        let queue = std::mem::take(&mut self.queue);
        tokio::spawn(async move {
            for event in queue {
                if tx.send(event).await.is_err() {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use process_proto::chart::ChartType;

    /// The queued events as short strings.
    fn events(out: &Output) -> Vec<String> {
        out.queue
            .iter()
            .map(|e| match e {
                Event::Frame(f) => match f.kind {
                    InterpreterFrameType::Chart => {
                        format!(
                            "chart:{}",
                            f.chart
                                .as_ref()
                                .and_then(|c| c.title.clone())
                                .unwrap_or_default()
                        )
                    }
                    ref k => format!("{k}:{}", f.text),
                },
                Event::Close(code, reason) => format!("close:{}:{reason}", code.0),
            })
            .collect()
    }

    fn stdout_state() -> PipeState {
        PipeState::new(
            Stream::Stdout,
            vec![b"<S>".to_vec(), b"<B>".to_vec(), b"<C>".to_vec()],
        )
    }

    #[test]
    fn json_len_matches_serde_json() {
        for text in [
            "plain",
            "quote\" back\\ nl\n tab\t",
            "\u{0}\u{1f}\u{7f}é😀",
            "",
        ] {
            let encoded = serde_json::to_string(text).unwrap();
            assert_eq!(json_len(text), encoded.len() - 2, "{text:?}");
        }
    }

    #[test]
    fn merged_frames_stay_under_the_size_limit() {
        let (tx, _rx) = mpsc::channel(1);
        let mut out = Output::new(tx);
        for _ in 0..200 {
            out.text(Stream::Stdout, "\u{1}".repeat(16 * 1024));
        }
        assert!(out.queue.len() > 1);
        for event in &out.queue {
            let Event::Frame(f) = event else { panic!() };
            assert!(f.to_json().len() < 1024 * 1024);
        }
    }

    #[test]
    fn output_before_the_start_marker_is_dropped_and_charts_keep_their_place() {
        let (tx, _rx) = mpsc::channel(1);
        let mut out = Output::new(tx);
        let mut pipe = stdout_state();
        pipe.feed(b"between jobs<B>a\n<C>b\n", &mut out);
        assert!(pipe.awaiting_chart && !pipe.wants_data());
        assert_eq!(events(&out), ["stdout:a\n"]);
        pipe.chart(Some(Chart::new(ChartType::Line).with_title("T")), &mut out);
        assert!(pipe.wants_data());
        pipe.feed(b"c\n<S>after the end", &mut out);
        assert!(pipe.synced);
        assert_eq!(events(&out), ["stdout:a\n", "chart:T", "stdout:b\nc\n"]);
    }

    #[test]
    fn a_chart_that_arrives_before_its_marker_waits_for_it() {
        let (tx, _rx) = mpsc::channel(1);
        let mut out = Output::new(tx);
        let mut pipe = stdout_state();
        pipe.chart(
            Some(Chart::new(ChartType::Bar).with_title("early")),
            &mut out,
        );
        pipe.feed(b"<B>x\n<C>y\n<S>", &mut out);
        assert_eq!(events(&out), ["stdout:x\n", "chart:early", "stdout:y\n"]);
    }

    #[test]
    fn the_end_of_a_pipe_flushes_text_and_orphan_charts() {
        let (tx, _rx) = mpsc::channel(1);
        let mut out = Output::new(tx);
        let mut pipe = stdout_state();
        pipe.feed(b"<B>partial \xc3", &mut out);
        pipe.chart(
            Some(Chart::new(ChartType::Pie).with_title("orphan")),
            &mut out,
        );
        pipe.end(&mut out);
        assert!(pipe.synced);
        assert_eq!(events(&out), ["stdout:partial \u{fffd}", "chart:orphan"]);
    }
}
