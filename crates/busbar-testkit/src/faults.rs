//! Fault injection: what can go wrong upstream, and the book of scripted faults a mock consults
//! once per request.
//!
//! Faults are vendor-neutral. A [`VendorError`] names a *kind* of failure and each format renders
//! it with its vendor's real status and body, so [`Fault::overloaded`] is a 503 on an OpenAI path
//! and a 529 `overloaded_error` on an Anthropic one, and the same script drives every format.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;

use crate::format::Format;

/// A kind of upstream failure, rendered in each vendor's own status and body. The Responses
/// API shares OpenAI's; Cohere's bodies are `{"id","message"}` with the status shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 429: OpenAI `rate_limit_exceeded`, Anthropic `rate_limit_error`, Gemini
    /// `RESOURCE_EXHAUSTED`, Bedrock `ThrottlingException`.
    RateLimited,
    /// OpenAI 429 `insufficient_quota`, Anthropic 402 `billing_error`, Gemini 429
    /// `RESOURCE_EXHAUSTED`, Cohere 402, Bedrock 400 `ServiceQuotaExceededException`.
    InsufficientQuota,
    /// 500: OpenAI `server_error`, Anthropic `api_error`, Gemini `INTERNAL`, Bedrock
    /// `InternalServerException`.
    ServerError,
    /// OpenAI 503 `server_error`, Anthropic 529 `overloaded_error`, Gemini 503 `UNAVAILABLE`,
    /// Cohere 503, Bedrock 503 `ServiceUnavailableException`.
    Overloaded,
    /// 400: OpenAI `context_length_exceeded`, Anthropic "prompt is too long", Gemini "The input
    /// token count … exceeds …", Cohere "too many tokens", Bedrock `ValidationException` "Input
    /// is too long for requested model."
    ContextLength,
    /// OpenAI 401 `invalid_api_key`, Anthropic 401 `authentication_error`, Gemini 400
    /// `API_KEY_INVALID`, Cohere 401, Bedrock 403 `UnrecognizedClientException`.
    Authentication,
    /// 403: OpenAI `permission_denied`, Anthropic `permission_error`, Gemini
    /// `PERMISSION_DENIED`, Bedrock `AccessDeniedException`.
    PermissionDenied,
    /// 400: `invalid_request_error`, Gemini `INVALID_ARGUMENT`, Bedrock `ValidationException`.
    BadRequest,
    /// 404: OpenAI `model_not_found`, Anthropic `not_found_error`, Gemini `NOT_FOUND`, Bedrock
    /// `ResourceNotFoundException`.
    NotFound,
    /// OpenAI 504 `server_error`, Anthropic 504 `timeout_error`, Gemini 504
    /// `DEADLINE_EXCEEDED`, Cohere 504, Bedrock 408 `ModelTimeoutException`.
    Timeout,
}

impl ErrorKind {
    /// The kind a vendor would mean by a bare HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            402 => Self::InsufficientQuota,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            408 | 504 => Self::Timeout,
            429 => Self::RateLimited,
            503 | 529 => Self::Overloaded,
            500..=599 => Self::ServerError,
            _ => Self::BadRequest,
        }
    }
}

/// An error reply: a kind, with optional overrides of what the vendor would write for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VendorError {
    /// The failure, which picks the default status, type, code and message per vendor.
    pub kind: ErrorKind,
    /// Overrides the vendor's status for the kind.
    pub status: Option<u16>,
    /// Overrides the error `type` (OpenAI, Anthropic), the Gemini `status`, or the Bedrock
    /// exception name (`x-amzn-ErrorType`; its stream exception is the same name with a
    /// lower-case first letter). Cohere bodies have none.
    pub error_type: Option<String>,
    /// Overrides the OpenAI `code` (also the Responses stream's `error` event code); the other
    /// vendors' bodies have none.
    pub code: Option<String>,
    /// Overrides the message.
    pub message: Option<String>,
    /// Seconds sent in a `Retry-After` header.
    pub retry_after: Option<u64>,
    /// A body sent verbatim instead of the vendor's shape (as `application/json`).
    pub raw_body: Option<Bytes>,
}

impl VendorError {
    /// The vendor's usual error for `kind`.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            status: None,
            error_type: None,
            code: None,
            message: None,
            retry_after: None,
            raw_body: None,
        }
    }

    /// Exactly `status`, with the kind a vendor would mean by it.
    pub fn status(status: u16) -> Self {
        Self::new(ErrorKind::from_status(status)).with_status(status)
    }

    /// `status` with `body` sent verbatim, whatever the format.
    pub fn raw(status: u16, body: impl Into<Bytes>) -> Self {
        let mut error = Self::status(status);
        error.raw_body = Some(body.into());
        error
    }

    /// Sets the status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the error type.
    pub fn with_type(mut self, error_type: impl Into<String>) -> Self {
        self.error_type = Some(error_type.into());
        self
    }

    /// Sets the OpenAI error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Adds a `Retry-After: seconds` header.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// What goes wrong with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this error instead of the reply.
    Error(VendorError),
    /// Wait this long before the response headers, then answer normally.
    DelayHeaders(Duration),
    /// Send the headers at once, then wait this long before the first body byte.
    DelayFirstByte(Duration),
    /// Drop the connection with a TCP reset, without any response.
    Reset,
    /// Streams only: end the body cleanly after this many events, without the terminal ones.
    TruncateStream {
        /// Events sent before the body ends.
        after_events: usize,
    },
    /// Streams only: abort the connection mid-body after this many events.
    AbortStream {
        /// Events sent before the abort.
        after_events: usize,
    },
    /// Streams only: after this many events send the vendor's in-stream error event, then end:
    /// an OpenAI chunk with `error`, an Anthropic `event: error`, a Responses `event: error`,
    /// a Gemini `{"error":…}` chunk (an SSE event, or the JSON array's last element), a Cohere
    /// `message-end` with `finish_reason: ERROR`, a Bedrock `:message-type: exception` frame.
    /// Events are SSE events, Gemini array pieces or event-stream frames.
    StreamError {
        /// Events sent before the error event.
        after_events: usize,
        /// The error the event carries.
        error: VendorError,
    },
    /// Complete replies only: send the headers (with the whole body's `Content-Length`) and
    /// this many bytes of the body, then drop the connection.
    AbortReply {
        /// Body bytes sent before the abort.
        after_bytes: usize,
    },
    /// Streams only: pause after this many events, then carry on (for idle timeouts).
    StallStream {
        /// Events sent before the pause.
        after_events: usize,
        /// How long the stream goes quiet.
        pause: Duration,
    },
}

impl Fault {
    /// 429 in the vendor's shape, with an optional `Retry-After`.
    pub fn rate_limited(retry_after: Option<u64>) -> Self {
        let mut error = VendorError::new(ErrorKind::RateLimited);
        error.retry_after = retry_after;
        Self::Error(error)
    }

    /// A `200 OK` with `body` as `application/json`, whatever was asked: for a streamed
    /// request, the complete reply some servers send instead of a stream.
    pub fn json_reply(body: impl Into<Bytes>) -> Self {
        let mut reply = VendorError::new(ErrorKind::ServerError);
        reply.status = Some(200);
        reply.raw_body = Some(body.into());
        Self::Error(reply)
    }

    /// 500 in the vendor's shape.
    pub fn server_error() -> Self {
        Self::Error(VendorError::new(ErrorKind::ServerError))
    }

    /// The vendor's overload reply: OpenAI 503, Anthropic 529 `overloaded_error`, Gemini 503
    /// `UNAVAILABLE`, Bedrock 503 `ServiceUnavailableException`.
    pub fn overloaded() -> Self {
        Self::Error(VendorError::new(ErrorKind::Overloaded))
    }

    /// The vendor's context-length 400.
    pub fn context_length() -> Self {
        Self::Error(VendorError::new(ErrorKind::ContextLength))
    }

    /// Exactly `status`, body in the vendor's shape for the matching kind.
    pub fn status(status: u16) -> Self {
        Self::Error(VendorError::status(status))
    }

    /// Whether the fault only makes sense on a streamed reply; such faults skip other requests.
    pub fn is_stream_only(&self) -> bool {
        matches!(
            self,
            Self::TruncateStream { .. }
                | Self::AbortStream { .. }
                | Self::StreamError { .. }
                | Self::StallStream { .. }
        )
    }

    /// Whether the fault only makes sense on a complete reply; such faults skip streamed
    /// requests.
    pub fn is_complete_only(&self) -> bool {
        matches!(self, Self::AbortReply { .. })
    }
}

/// A fault with the requests it applies to. Every condition set must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    fault: Fault,
    path_suffix: Option<String>,
    model: Option<String>,
    format: Option<Format>,
}

impl FaultRule {
    /// A rule applying `fault` to any request (streaming requests only, for stream faults).
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            path_suffix: None,
            model: None,
            format: None,
        }
    }

    /// Only requests whose path (without query) ends with `suffix`.
    pub fn path_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.path_suffix = Some(suffix.into());
        self
    }

    /// Only requests for this model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Only requests in this wire format.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// The fault applied.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    fn matches(&self, request: &RequestFacts<'_>) -> bool {
        (!self.fault.is_stream_only() || request.stream)
            && (!self.fault.is_complete_only() || !request.stream)
            && self
                .path_suffix
                .as_deref()
                .is_none_or(|s| request.path.ends_with(s))
            && self
                .model
                .as_deref()
                .is_none_or(|m| request.model == Some(m))
            && self.format.is_none_or(|f| request.format == Some(f))
    }
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> Self {
        Self::new(fault)
    }
}

/// What fault matching knows about a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFacts<'a> {
    pub(crate) path: &'a str,
    pub(crate) model: Option<&'a str>,
    pub(crate) stream: bool,
    pub(crate) format: Option<Format>,
}

/// The scripted faults: a queue consumed one match per request, then a sticky rule.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    book: Mutex<Book>,
    /// Lets requests skip the lock while no fault is scripted (the benchmark case).
    armed: AtomicBool,
}

#[derive(Debug, Default)]
struct Book {
    queue: VecDeque<FaultRule>,
    sticky: Option<FaultRule>,
    chaos: Option<Chaos>,
}

/// Faults drawn at random for requests no scripted rule claims (soak tests).
#[derive(Debug, Clone)]
pub struct Chaos {
    /// Out of every million requests, how many get a fault.
    per_million: u64,
    faults: Vec<Fault>,
    /// A xorshift generator: reproducible from the seed, no dependency.
    state: u64,
}

impl Chaos {
    /// Faults a share `rate` (0 to 1) of requests, each with one of `faults` picked at random
    /// among those that fit the request (stream faults for streams, reply faults for the rest).
    /// The same `seed` gives the same draws.
    pub fn new(rate: f64, faults: Vec<Fault>, seed: u64) -> Self {
        Self {
            per_million: (rate.clamp(0.0, 1.0) * 1_000_000.0) as u64,
            faults,
            state: seed.max(1),
        }
    }

    /// A mix of every kind of failure an upstream shows: error statuses, resets, slow
    /// headers, replies and streams cut short, in-stream errors, and streams that stall for
    /// `stall` (set it above the gateway's idle timeout to exercise that too).
    pub fn mix(rate: f64, stall: Duration, seed: u64) -> Self {
        let faults = vec![
            Fault::server_error(),
            Fault::rate_limited(Some(1)),
            Fault::overloaded(),
            Fault::Reset,
            Fault::DelayHeaders(Duration::from_millis(200)),
            Fault::AbortReply { after_bytes: 30 },
            Fault::TruncateStream { after_events: 3 },
            Fault::AbortStream { after_events: 3 },
            Fault::StreamError {
                after_events: 2,
                error: VendorError::new(ErrorKind::ServerError),
            },
            Fault::StallStream {
                after_events: 2,
                pause: stall,
            },
        ];
        Self::new(rate, faults, seed)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    fn draw(&mut self, request: &RequestFacts<'_>) -> Option<Fault> {
        if self.next() % 1_000_000 >= self.per_million {
            return None;
        }
        let fits = |fault: &&Fault| {
            (!fault.is_stream_only() || request.stream)
                && (!fault.is_complete_only() || !request.stream)
        };
        let count = self.faults.iter().filter(fits).count() as u64;
        if count == 0 {
            return None;
        }
        let pick = (self.next() % count) as usize;
        self.faults.iter().filter(fits).nth(pick).cloned()
    }
}

impl FaultBook {
    pub(crate) fn push(&self, rule: FaultRule) {
        self.update(|book| book.queue.push_back(rule));
    }

    pub(crate) fn set_sticky(&self, rule: Option<FaultRule>) {
        self.update(|book| book.sticky = rule);
    }

    pub(crate) fn clear(&self) {
        self.update(|book| *book = Book::default());
    }

    pub(crate) fn set_chaos(&self, chaos: Option<Chaos>) {
        self.update(|book| book.chaos = chaos);
    }

    pub(crate) fn pending(&self) -> usize {
        self.book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queue
            .len()
    }

    /// The fault for this request: the first matching queued rule (consumed), else the sticky one.
    pub(crate) fn take(&self, request: &RequestFacts<'_>) -> Option<Fault> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        self.update(|book| {
            if let Some(at) = book.queue.iter().position(|rule| rule.matches(request)) {
                return book.queue.remove(at).map(|rule| rule.fault);
            }
            if let Some(rule) = book.sticky.as_ref().filter(|rule| rule.matches(request)) {
                return Some(rule.fault.clone());
            }
            book.chaos.as_mut().and_then(|chaos| chaos.draw(request))
        })
    }

    fn update<T>(&self, change: impl FnOnce(&mut Book) -> T) -> T {
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let out = change(&mut book);
        let armed = !book.queue.is_empty() || book.sticky.is_some() || book.chaos.is_some();
        self.armed.store(armed, Ordering::Release);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(path: &str, model: Option<&'static str>, stream: bool) -> RequestFacts<'static> {
        let path: &'static str = Box::leak(path.to_owned().into_boxed_str());
        RequestFacts {
            path,
            model,
            stream,
            format: Format::for_path(path),
        }
    }

    #[test]
    fn queue_is_consumed_in_order_of_match_then_sticky_applies() {
        let book = FaultBook::default();
        assert_eq!(book.take(&facts("/v1/messages", None, false)), None);
        book.push(FaultRule::new(Fault::server_error()).model("b"));
        book.push(Fault::rate_limited(Some(3)).into());
        book.set_sticky(Some(FaultRule::new(Fault::Reset).format(Format::Anthropic)));
        let a = facts("/v1/messages", Some("a"), false);
        let b = facts("/v1/messages", Some("b"), false);
        assert_eq!(book.take(&a), Some(Fault::rate_limited(Some(3))));
        assert_eq!(book.pending(), 1);
        assert_eq!(book.take(&a), Some(Fault::Reset));
        assert_eq!(book.take(&b), Some(Fault::server_error()));
        assert_eq!(book.take(&facts("/v1/chat/completions", None, false)), None);
        book.clear();
        assert_eq!(book.take(&b), None);
    }

    #[test]
    fn chaos_faults_its_share_with_faults_that_fit() {
        let chat = facts("/v1/chat/completions", None, false);
        let streamed = facts("/v1/chat/completions", None, true);
        let book = FaultBook::default();
        book.set_chaos(Some(Chaos::mix(1.0, Duration::from_millis(5), 7)));
        for _ in 0..200 {
            let fault = book.take(&chat).expect("a rate of 1 faults every request");
            assert!(!fault.is_stream_only(), "{fault:?}");
            let fault = book
                .take(&streamed)
                .expect("a rate of 1 faults every request");
            assert!(!fault.is_complete_only(), "{fault:?}");
        }
        book.set_chaos(Some(Chaos::mix(0.25, Duration::from_millis(5), 7)));
        let faulted = (0..4000).filter(|_| book.take(&chat).is_some()).count();
        assert!((800..1200).contains(&faulted), "{faulted} of 4000");
        book.set_chaos(None);
        assert!(book.take(&chat).is_none());
    }

    #[test]
    fn stream_faults_skip_unstreamed_requests_and_paths_filter() {
        let book = FaultBook::default();
        book.push(
            FaultRule::new(Fault::TruncateStream { after_events: 2 })
                .path_suffix("/chat/completions"),
        );
        assert_eq!(
            book.take(&facts("/p/v1/chat/completions", None, false)),
            None
        );
        assert_eq!(book.take(&facts("/v1/messages", None, true)), None);
        let hit = book.take(&facts("/p/v1/chat/completions", None, true));
        assert_eq!(hit, Some(Fault::TruncateStream { after_events: 2 }));
        assert_eq!(book.pending(), 0);
    }

    #[test]
    fn kinds_from_status() {
        assert_eq!(ErrorKind::from_status(529), ErrorKind::Overloaded);
        assert_eq!(ErrorKind::from_status(502), ErrorKind::ServerError);
        assert_eq!(ErrorKind::from_status(422), ErrorKind::BadRequest);
        assert_eq!(VendorError::status(502).status, Some(502));
    }
}
