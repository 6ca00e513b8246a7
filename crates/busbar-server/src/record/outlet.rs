//! Where finished records go: each sink's bounded queue, offered a record
//! without waiting, and the drops counted.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::redact::Redactor;

/// What a sink's queue carries.
pub(crate) enum Message {
    /// One record, serialized, with its trailing newline.
    Record(Bytes),
    /// Write or post everything received so far, then answer.
    Flush(oneshot::Sender<()>),
}

/// One sink's queue, and its name in `busbar_request_log_dropped_total`.
pub(crate) struct Sink {
    pub(crate) name: &'static str,
    pub(crate) queue: mpsc::Sender<Message>,
}

/// Where finished records go, and how bodies are logged.
pub(crate) struct Outlet {
    sinks: Vec<Sink>,
    /// `Some` when bodies are logged: the cap, and what to redact.
    pub(super) bodies: Option<Bodies>,
}

/// Body logging: the cap on each body, and the redaction of credentials.
pub(crate) struct Bodies {
    pub(crate) max_bytes: usize,
    pub(crate) redactor: Redactor,
}

impl Outlet {
    pub(crate) fn new(sinks: Vec<Sink>, bodies: Option<Bodies>) -> Self {
        Self { sinks, bodies }
    }

    /// Offers `line` to every sink; a sink whose queue is full (or closed)
    /// loses it, counted.
    pub(super) fn send(&self, line: &Bytes) {
        for sink in &self.sinks {
            if sink.queue.try_send(Message::Record(line.clone())).is_err() {
                dropped(sink.name, 1);
            }
        }
    }

    /// Asks every sink to write out what it holds, waiting at most `within`.
    pub(crate) async fn flush(&self, within: Duration) {
        let mut answers = Vec::with_capacity(self.sinks.len());
        for sink in &self.sinks {
            let (ack, answer) = oneshot::channel();
            if sink.queue.try_send(Message::Flush(ack)).is_ok() {
                answers.push(answer);
            }
        }
        let _ = tokio::time::timeout(within, async {
            for answer in answers {
                let _ = answer.await;
            }
        })
        .await;
    }
}

/// Counts `records` a sink lost: its queue was full, a write failed, or a
/// webhook batch was given up.
pub(crate) fn dropped(sink: &'static str, records: u64) {
    metrics::counter!("busbar_request_log_dropped_total", "sink" => sink).increment(records);
}
