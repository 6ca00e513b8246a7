//! One model request's log record, filled in along the request's path and
//! written to the request log's sinks when the reply's body ends.
//!
//! The handler opens a [`Record`] (only when a sink is configured: every
//! step holds an `Option<Box<Record>>`, `None` otherwise, so a gateway
//! without a request log allocates nothing for it). The plan adds each
//! lane it tries ([`Record::attempt`]) and how it failed; a complete reply
//! leaves its usage when it is read; a stream's lane `Guard` carries the
//! record inside the reply body and folds in each event's usage. When the
//! body ends — its last frame, an in-stream error, the client gone — the
//! record is serialized once to a JSON line and offered to every sink's
//! bounded queue ([`Outlet`]); a full queue drops the record and counts it
//! in `busbar_request_log_dropped_total{sink}`. Nothing here ever waits.
//!
//! Times: `total` runs from the request's arrival to the end of its body;
//! `upstream` sums, over the attempts, the time from handing the upstream
//! request to the HTTP client until the upstream's reply was read (a
//! complete reply or an error whole, a stream to its end, or the client's
//! leaving, whichever came first); `overhead` is the difference: what
//! Busbar itself added.

mod line;
mod outlet;
mod redact;
mod time;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use busbar_ir::{StreamEvent, Usage};
use busbar_protocols::Protocol;
use busbar_routing::FailureClass;
use bytes::BytesMut;
use smallvec::SmallVec;

use line::{AttemptLine, Line, UsageLine};
pub(crate) use line::{Kind, LaneLine, Outcome};
pub(crate) use outlet::{dropped, Bodies, Message, Outlet, Sink};
pub(crate) use redact::Redactor;

/// The bytes reserved for a record's line: a request with one attempt and
/// no bodies writes about 750.
const LINE_CAPACITY: usize = 1024;

/// The size of the blocks a thread's lines are cut from: a few dozen
/// typical lines each.
const LINES_BLOCK: usize = 32 * 1024;

thread_local! {
    /// This thread's lines: each written to `.0`, then copied into `.1`
    /// and split off it, so that the lines of many records share one
    /// allocation (freed, or reused, once the sinks have dropped them all)
    /// instead of each line being allocated on this thread and freed on a
    /// sink's.
    static LINES: RefCell<(Vec<u8>, BytesMut)> = RefCell::new((Vec::new(), BytesMut::new()));
}

/// The bytes reserved for a record's names (request id, path, model,
/// pool): about 80 for a usual request.
const TEXT_CAPACITY: usize = 128;

/// One lane tried.
struct Attempt {
    /// The lane's names, written once when it was configured.
    lane: Arc<LaneLine>,
    /// When the upstream request was handed to the HTTP client (`None`: it
    /// never was, e.g. the body could not be translated).
    sent: Option<Instant>,
    /// From `sent` until the upstream's reply was read.
    upstream: Option<Duration>,
    status: Option<u16>,
    /// `None` for the attempt that served the reply.
    failure: Option<FailureClass>,
}

/// A request's record while it is being served.
pub(crate) struct Record {
    outlet: Arc<Outlet>,
    started: Instant,
    time: SystemTime,
    /// The record's names, one after another, each found by its [`Span`]:
    /// one allocation instead of one for each.
    text: String,
    request_id: Span,
    client: SocketAddr,
    ingress: Protocol,
    kind: Kind,
    path: Span,
    model: Option<Span>,
    pool: Option<Span>,
    key_id: Option<String>,
    stream: Option<bool>,
    /// The lanes tried: usually one, kept in the record itself.
    attempts: SmallVec<[Attempt; 1]>,
    /// The price of the lane tried last, which serves the reply if any does.
    price: Option<Arc<busbar_config::Price>>,
    status: u16,
    outcome: Outcome,
    failure: Option<FailureClass>,
    error: Option<String>,
    usage: Option<Usage>,
    dropped: Vec<String>,
    first_byte: Option<Instant>,
    /// When the client had the last byte, or left.
    ended: Option<Instant>,
    request_body: Option<Captured>,
    response_body: Option<Captured>,
}

/// `x-busbar-dropped`: the request fields a translation left out, which
/// the reply carries and the record keeps.
pub(crate) const DROPPED_HEADER: http::HeaderName =
    http::HeaderName::from_static("x-busbar-dropped");

/// Where a name is in its record's `text`.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// The start of a body, up to the cap, and its whole length.
struct Captured {
    bytes: Vec<u8>,
    length: u64,
}

impl Captured {
    fn new() -> Self {
        Self {
            bytes: Vec::new(),
            length: 0,
        }
    }

    fn take(&mut self, data: &[u8], cap: usize) {
        self.length = self.length.saturating_add(data.len() as u64);
        let room = cap.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// Where a request came from and what it is, as the handler knows it.
pub(crate) struct Opening<'a> {
    pub(crate) started: Instant,
    pub(crate) request_id: &'a str,
    pub(crate) client: SocketAddr,
    pub(crate) ingress: Protocol,
    pub(crate) kind: Kind,
    pub(crate) path: &'a str,
}

impl Record {
    /// A record for a request that arrived at `opening.started`.
    pub(crate) fn open(outlet: &Arc<Outlet>, opening: Opening<'_>) -> Box<Self> {
        let mut text = String::with_capacity(TEXT_CAPACITY);
        let request_id = keep(&mut text, opening.request_id);
        let path = keep(&mut text, opening.path);
        Box::new(Self {
            outlet: Arc::clone(outlet),
            started: opening.started,
            time: SystemTime::now(),
            text,
            request_id,
            client: opening.client,
            ingress: opening.ingress,
            kind: opening.kind,
            path,
            model: None,
            pool: None,
            key_id: None,
            stream: None,
            attempts: SmallVec::new(),
            price: None,
            status: 0,
            outcome: Outcome::Success,
            failure: None,
            error: None,
            usage: None,
            dropped: Vec::new(),
            first_byte: None,
            ended: None,
            request_body: None,
            response_body: None,
        })
    }

    /// Keeps the start of the request's body, when bodies are logged.
    pub(crate) fn request_body(&mut self, body: &[u8]) {
        if let Some(bodies) = &self.outlet.bodies {
            let mut captured = Captured::new();
            captured.take(body, bodies.max_bytes);
            self.request_body = Some(captured);
        }
    }

    /// The name the request asked for, and whether it streams.
    pub(crate) fn asked(&mut self, model: &str, stream: bool) {
        self.named(model);
        self.stream = Some(stream);
    }

    /// The name the request asked for, resolved or not.
    pub(crate) fn named(&mut self, model: &str) {
        self.model = Some(keep(&mut self.text, model));
    }

    /// The governance key that was admitted.
    pub(crate) fn key(&mut self, id: Option<String>) {
        self.key_id = id;
    }

    /// A lane (named by `lane`) is about to be tried.
    pub(crate) fn attempt(
        &mut self,
        lane: &Arc<LaneLine>,
        price: Option<Arc<busbar_config::Price>>,
    ) {
        self.price = price;
        let attempt = Attempt {
            lane: Arc::clone(lane),
            sent: None,
            upstream: None,
            status: None,
            failure: None,
        };
        self.attempts.push(attempt);
    }

    /// The current attempt's request goes to the upstream now.
    pub(crate) fn sent(&mut self) {
        if let Some(attempt) = self.attempts.last_mut() {
            attempt.sent = Some(Instant::now());
        }
    }

    /// The current attempt's upstream answered with `status`.
    pub(crate) fn answered(&mut self, status: u16) {
        if let Some(attempt) = self.attempts.last_mut() {
            attempt.status = Some(status);
        }
    }

    /// The current attempt failed with `class`, its reply (if any) read.
    pub(crate) fn failed(&mut self, class: FailureClass) {
        self.upstream_done();
        if let Some(attempt) = self.attempts.last_mut() {
            attempt.failure = Some(class);
        }
    }

    /// The serving attempt's upstream reply has been read to its end (or
    /// given up); a complete reply's `usage` comes with it.
    pub(crate) fn upstream_done(&mut self) {
        let now = Instant::now();
        // Reading on after the client left is not the client's wait.
        let end = self.ended.map_or(now, |ended| ended.min(now));
        if let Some(attempt) = self.attempts.last_mut() {
            if attempt.upstream.is_none() {
                attempt.upstream = attempt.sent.map(|sent| end.saturating_duration_since(sent));
            }
        }
    }

    /// A complete reply's usage.
    pub(crate) fn usage(&mut self, usage: &Usage) {
        self.usage.get_or_insert_with(Usage::default).merge(usage);
    }

    /// A stream event passed: its usage report counts (reports are
    /// cumulative).
    pub(crate) fn observe(&mut self, event: &StreamEvent) {
        if let Some(usage) = event.usage() {
            self.usage(usage);
        }
    }

    /// What the handler knows once the reply's head is ready.
    pub(crate) fn replied(&mut self, reply: Replied<'_>) {
        self.status = reply.status;
        self.outcome = reply.outcome;
        self.pool = Some(keep(&mut self.text, reply.pool));
        self.error = reply.error;
        if self.outcome == Outcome::UpstreamError {
            self.failure = self.attempts.last().and_then(|attempt| attempt.failure);
        }
        if let Some(dropped) = reply.dropped {
            self.dropped = dropped.split(", ").map(str::to_owned).collect();
        }
    }

    /// A frame of the body is going to the client.
    pub(crate) fn frame(&mut self, data: &[u8]) {
        if self.first_byte.is_none() {
            self.first_byte = Some(Instant::now());
        }
        if let Some(bodies) = &self.outlet.bodies {
            self.response_body
                .get_or_insert_with(Captured::new)
                .take(data, bodies.max_bytes);
        }
    }

    /// The stream broke off with an in-stream error of `class`.
    pub(crate) fn stream_failed(&mut self, class: FailureClass) {
        if self.outcome == Outcome::Success {
            self.outcome = Outcome::StreamError;
            self.failure = Some(class);
        }
    }

    /// The client went away before the body's end.
    pub(crate) fn client_left(&mut self) {
        if self.ended.is_none() {
            self.ended = Some(Instant::now());
        }
        if self.outcome == Outcome::Success {
            self.outcome = Outcome::ClientGone;
        }
    }

    /// The body ended: the record is written.
    pub(crate) fn finish(mut self: Box<Self>) {
        let ended = *self.ended.get_or_insert_with(Instant::now);
        let line = LINES.with_borrow_mut(|(written, block)| {
            written.clear();
            written.reserve(LINE_CAPACITY);
            self.line(ended).write(written);
            written.push(b'\n');
            if block.capacity() < written.len() {
                block.reserve(LINES_BLOCK.max(written.len()));
            }
            block.extend_from_slice(written);
            // A line with large bodies does not keep its room.
            if written.capacity() > LINES_BLOCK {
                *written = Vec::new();
            }
            block.split().freeze()
        });
        self.outlet.send(&line);
    }

    /// The request's cost: the serving (last tried) lane's price of the
    /// usage, in whole micro-dollars; `None` without a price or usage.
    fn cost_microdollars(&self) -> Option<u64> {
        let usage = self.usage.as_ref()?;
        Some(self.price.as_ref()?.cost(usage).micro_dollars())
    }

    fn line(&self, ended: Instant) -> Line<'_, impl Iterator<Item = AttemptLine<'_>>> {
        let since = |at: Instant| at.saturating_duration_since(self.started);
        let total = since(ended);
        let upstream: Duration = self
            .attempts
            .iter()
            .filter_map(|attempt| attempt.upstream)
            .sum();
        let served = self
            .attempts
            .last()
            .filter(|attempt| attempt.failure.is_none() && attempt.sent.is_some())
            .filter(|_| {
                matches!(
                    self.outcome,
                    Outcome::Success | Outcome::ClientGone | Outcome::StreamError
                )
            });
        let body = |captured: &Option<Captured>| {
            let captured = captured.as_ref()?;
            let bodies = self.outlet.bodies.as_ref()?;
            let whole = captured.length <= captured.bytes.len() as u64;
            Some(bodies.redactor.body(&captured.bytes, whole))
        };
        let text = |span: Span| &self.text[span.start..span.end];
        Line {
            request_id: text(self.request_id),
            time: self.time,
            kind: self.kind,
            key_id: self.key_id.as_deref(),
            client: self.client,
            ingress: self.ingress.name(),
            path: text(self.path),
            model: self.model.map(text),
            pool: self.pool.map(text),
            stream: self.stream,
            status: self.status,
            outcome: self.outcome,
            failure: self.failure.map(FailureClass::as_str),
            error: self.error.as_deref(),
            served: served.map(|attempt| &*attempt.lane),
            attempts: self.attempts.iter().map(move |attempt| AttemptLine {
                lane: &attempt.lane,
                status: attempt.status,
                failure: attempt.failure.map(FailureClass::as_str),
                upstream: attempt.upstream,
            }),
            usage: self.usage.as_ref().map(|usage| UsageLine {
                input: usage.input_tokens,
                output: usage.output_tokens,
                cache_read: usage.cache_read_tokens,
                cache_write: usage.cache_write_tokens,
                cache_write_1h: usage.cache_write_1h_tokens,
                reasoning: usage.reasoning_tokens,
            }),
            cost_microdollars: self.cost_microdollars(),
            total,
            first_byte: self.first_byte.map(since),
            upstream,
            overhead: total.saturating_sub(upstream),
            dropped: &self.dropped,
            request_body: body(&self.request_body),
            request_body_bytes: self.request_body.as_ref().map(|captured| captured.length),
            response_body: body(&self.response_body),
            response_body_bytes: self.response_body.as_ref().map(|captured| captured.length),
        }
    }
}

/// Appends `name` to a record's `text`, and where it went.
fn keep(text: &mut String, name: &str) -> Span {
    let start = text.len();
    text.push_str(name);
    Span {
        start,
        end: text.len(),
    }
}

/// What the handler knows of a reply before its body goes out.
pub(crate) struct Replied<'a> {
    pub(crate) status: u16,
    pub(crate) outcome: Outcome,
    pub(crate) pool: &'a str,
    /// What went wrong, for an error reply.
    pub(crate) error: Option<String>,
    /// The `x-busbar-dropped` header.
    pub(crate) dropped: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use tokio::sync::mpsc;

    fn outlet(capacity: usize) -> (Arc<Outlet>, mpsc::Receiver<Message>) {
        let (queue, receiver) = mpsc::channel(capacity);
        let sinks = vec![Sink {
            name: "test",
            queue,
        }];
        (Arc::new(Outlet::new(sinks, None)), receiver)
    }

    fn opened(outlet: &Arc<Outlet>) -> Box<Record> {
        Record::open(
            outlet,
            Opening {
                started: Instant::now(),
                request_id: "req \"1\"\n",
                client: "127.0.0.1:4000".parse().expect("an address"),
                ingress: Protocol::OpenAi,
                kind: Kind::Generate,
                path: "/v1/chat/completions",
            },
        )
    }

    fn lane(name: &str, provider: &str, egress: Protocol, model: &str) -> Arc<LaneLine> {
        Arc::new(LaneLine::new(name, provider, egress.name(), model))
    }

    fn written(receiver: &mut mpsc::Receiver<Message>) -> Value {
        match receiver.try_recv() {
            Ok(Message::Record(line)) => {
                assert!(line.ends_with(b"\n"));
                assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
                serde_json::from_slice(&line).expect("one JSON object")
            }
            _ => panic!("no record"),
        }
    }

    #[test]
    fn a_failover_then_a_stream_is_recorded_attempt_by_attempt() {
        let (outlet, mut receiver) = outlet(4);
        let mut record = opened(&outlet);
        record.asked("fast", true);
        record.attempt(&lane("a", "prov-a", Protocol::Anthropic, "claude-x"), None);
        record.sent();
        record.answered(529);
        record.failed(FailureClass::Overloaded);
        record.attempt(&lane("b", "prov-b", Protocol::OpenAi, "gpt-x"), None);
        record.sent();
        record.answered(200);
        record.replied(Replied {
            status: 200,
            outcome: Outcome::Success,
            pool: "fast",
            error: None,
            dropped: Some("top_k, metadata"),
        });
        record.frame(b"data: {}\n\n");
        record.observe(&StreamEvent::MessageDelta {
            stop_reason: None,
            stop_sequence: None,
            usage: Some(Usage::new(7, 9)),
        });
        record.upstream_done();
        record.finish();
        let line = written(&mut receiver);
        assert_eq!(line["request_id"], "req \"1\"\n");
        assert_eq!(line["model"], "fast");
        assert_eq!(line["pool"], "fast");
        assert_eq!(line["outcome"], "success");
        assert_eq!(line["lane"], "b");
        assert_eq!(line["egress"], "openai");
        assert_eq!(line["upstream_model"], "gpt-x");
        assert_eq!(line["attempts"][0]["failure"], "overloaded");
        assert_eq!(line["attempts"][0]["status"], 529);
        assert_eq!(line["attempts"][1]["failure"], Value::Null);
        assert_eq!(line["usage"]["input"], 7);
        assert_eq!(line["usage"]["output"], 9);
        assert_eq!(line["usage"]["cache_read"], Value::Null);
        assert_eq!(line["usage"]["cache_write_1h"], Value::Null);
        assert_eq!(line["cost_microdollars"], Value::Null);
        assert_eq!(line["dropped"], serde_json::json!(["top_k", "metadata"]));
        assert!(line["first_byte_ms"].is_f64());
        let total = line["total_ms"].as_f64().expect("total");
        let upstream = line["upstream_ms"].as_f64().expect("upstream");
        let overhead = line["overhead_ms"].as_f64().expect("overhead");
        assert!((total - upstream - overhead).abs() < 0.002);
        assert!(line.get("request_body").is_none());
    }

    #[test]
    fn one_hour_cache_writes_are_logged_and_priced_at_their_rate() {
        use busbar_config::{Price, Rate, Rates};
        let per_mtok = |dollars: u64| Rate::from_picodollars(dollars * 1_000_000);
        let mut rates = Rates::new(per_mtok(3), per_mtok(15));
        rates.cache_write = Some(per_mtok(4));
        rates.cache_write_1h = Some(per_mtok(6));
        let (outlet, mut receiver) = outlet(1);
        let mut record = opened(&outlet);
        let price = Some(Arc::new(Price::new(rates)));
        record.attempt(&lane("a", "prov-a", Protocol::Anthropic, "claude-x"), price);
        let mut usage = Usage::new(1_000, 0);
        usage.cache_write_tokens = Some(1_000);
        usage.cache_write_1h_tokens = Some(750);
        record.usage(&usage);
        record.finish();
        let line = written(&mut receiver);
        assert_eq!(line["usage"]["cache_write"], 1_000);
        assert_eq!(line["usage"]["cache_write_1h"], 750);
        // 250 × $4/MTok + 750 × $6/MTok = $0.0055.
        assert_eq!(line["cost_microdollars"], 5_500);
    }

    #[test]
    fn a_full_queue_drops_the_record_without_waiting() {
        let (outlet, mut receiver) = outlet(1);
        opened(&outlet).finish();
        opened(&outlet).finish();
        let _ = written(&mut receiver);
        assert!(receiver.try_recv().is_err());
    }

    #[test]
    fn a_client_that_leaves_ends_a_successful_reply_as_gone() {
        let (outlet, mut receiver) = outlet(1);
        let mut record = opened(&outlet);
        record.replied(Replied {
            status: 200,
            outcome: Outcome::Success,
            pool: "unresolved",
            error: None,
            dropped: None,
        });
        record.client_left();
        record.stream_failed(FailureClass::Network);
        record.finish();
        let line = written(&mut receiver);
        assert_eq!(line["outcome"], "client_gone");
        assert_eq!(line["failure"], Value::Null);
        assert_eq!(line["first_byte_ms"], Value::Null);
    }
}
