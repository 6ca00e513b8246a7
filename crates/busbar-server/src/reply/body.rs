//! The response body Busbar sends to clients, and the stream translator.
//!
//! One enum covers the three ways a reply leaves Busbar, so every handler
//! returns the same type and nothing is boxed:
//!
//! * `Full` — bytes Busbar built (errors, translated complete replies);
//! * `Relay` — an upstream stream passed through frame by frame (same
//!   protocol);
//! * `Translated` — an upstream stream decoded into IR events and re-encoded
//!   in the client's protocol as each frame arrives.
//!
//! The lane's [`Guard`] travels inside the body, so the concurrency slot is
//! held until the client has the last byte, and dropping the body (a client
//! that went away) drops the upstream connection at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use busbar_ir::{ApiError, ErrorKind, StreamEvent};
use busbar_protocols::{
    DecodeError, EndWatch, Protocol, ReplyOptions, StreamDecoder, StreamEncoder,
};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use busbar_routing::FailureClass;

use super::cutoff::{Cutoff, CutoffWatch};
use super::drain::{self, Rest, StreamLimits};
use super::guard::Guard;
use crate::record::Record;

/// The error a body reports to hyper, which then aborts the connection.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A response body.
pub struct Body {
    kind: Kind,
    /// The request's log record, for a body of bytes Busbar holds (a
    /// stream's record rides in its guard instead): finished when the body
    /// is dropped, which hyper does once the last byte is written or the
    /// client has gone.
    record: Option<Box<Record>>,
}

enum Kind {
    Full(Option<Bytes>),
    Relay(Box<Relay>),
    Translated(Box<Translated>),
}

impl Body {
    /// A body holding `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
            record: None,
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
            record: None,
        }
    }

    /// Carries the request's log record to the end of the body. A stream
    /// whose guard already carries one keeps it.
    pub(crate) fn carry(&mut self, record: Option<Box<Record>>) {
        let Some(record) = record else {
            return;
        };
        let guard = match &mut self.kind {
            Kind::Full(_) => {
                self.record = Some(record);
                return;
            }
            Kind::Relay(relay) => &mut relay.guard,
            Kind::Translated(translated) => &mut translated.guard,
        };
        if guard.record_mut().is_none() {
            guard.carry(Some(record));
        } else {
            record.finish();
        }
    }

    /// The log record this body carries, wherever it rides.
    pub(crate) fn record_mut(&mut self) -> Option<&mut Record> {
        match &mut self.kind {
            Kind::Full(_) => self.record.as_deref_mut(),
            Kind::Relay(relay) => relay.guard.record_mut(),
            Kind::Translated(translated) => translated.guard.record_mut(),
        }
    }

    /// Relays an upstream stream of `protocol` untouched. Every ending that
    /// is not the upstream's own terminal event — a cut, a broken body, an
    /// idle upstream, the end of the shutdown grace — ends with that
    /// format's in-stream error and a clean end of the body, never a silent
    /// or torn one.
    ///
    /// `first` is the upstream's first data, already read to make sure the
    /// stream really started; it is sent before anything else.
    pub(crate) fn relay(
        upstream: Incoming,
        guard: Guard,
        limits: StreamLimits,
        protocol: Protocol,
        first: Bytes,
        cutoff: Cutoff,
    ) -> Self {
        let mut watch = EndWatch::new(protocol);
        watch.feed(&first);
        // Every reply's tokens are counted (governance charges them, the request
        // log and a trace record them): a relayed stream is decoded on the side, its bytes still going out
        // untouched.
        let usage = Some(Box::new(UsageTap {
            decoder: protocol.stream_decoder(),
            events: Vec::new(),
            drain_bytes: limits.drain_bytes,
        }));
        let mut relay = Relay {
            upstream,
            guard,
            idle: IdleTimer::new(limits.idle),
            protocol,
            watch,
            first: None,
            usage,
            cutoff: cutoff.watch(),
            done: false,
        };
        relay.tap(&first);
        relay.first = Some(first);
        Self {
            kind: Kind::Relay(Box::new(relay)),
            record: None,
        }
    }

    /// Translates an upstream stream as it arrives. `model` and `id` name the
    /// reply when the upstream's format does not. `decoder` may already have
    /// read the stream's start, with `pending` the events it gave.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn translated(
        upstream: Incoming,
        decoder: Box<dyn StreamDecoder>,
        encoder: Box<dyn StreamEncoder>,
        guard: Guard,
        limits: StreamLimits,
        model: String,
        id: String,
        pending: Vec<StreamEvent>,
        cutoff: Cutoff,
    ) -> Self {
        Self {
            kind: Kind::Translated(Box::new(Translated {
                upstream: Some(upstream),
                decoder,
                encoder,
                guard,
                events: pending,
                out: Vec::new(),
                idle: IdleTimer::new(limits.idle),
                limits,
                cutoff: cutoff.watch(),
                model,
                id,
            })),
            record: None,
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.kind, Kind::Full(None)) {
            Kind::Relay(relay) => relay.abandon(),
            Kind::Translated(translated) => translated.abandon(),
            Kind::Full(unsent) => {
                if let Some(mut record) = self.record.take() {
                    if unsent.is_some() {
                        record.client_left();
                    }
                    record.finish();
                }
            }
        }
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let body = self.get_mut();
        let polled = match &mut body.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Relay(relay) => relay.poll_frame(cx),
            Kind::Translated(translated) => translated.poll_frame(cx),
        };
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let (Some(data), Some(record)) = (frame.data_ref(), body.record_mut()) {
                record.frame(data);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Relay(relay) => relay.done,
            Kind::Translated(translated) => {
                translated.upstream.is_none() && translated.out.is_empty()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Relay(_) | Kind::Translated(_) => SizeHint::default(),
        }
    }
}

/// A timer that fires when an upstream goes quiet for too long between frames.
struct IdleTimer {
    limit: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimer {
    fn new(limit: Duration) -> Self {
        Self {
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }

    fn reset(&mut self) {
        self.sleep.as_mut().reset(Instant::now() + self.limit);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

struct Relay {
    upstream: Incoming,
    guard: Guard,
    idle: IdleTimer,
    /// The stream's format, and the watch for its terminal event.
    protocol: Protocol,
    watch: EndWatch,
    /// Data read ahead of the body, sent first.
    first: Option<Bytes>,
    /// What reads the usage out of the relayed bytes; gone once the bytes
    /// stop decoding.
    usage: Option<Box<UsageTap>>,
    /// Fires when the shutdown grace is over.
    cutoff: CutoffWatch,
    done: bool,
}

/// A stream decoder run beside a relay, only for the usage it reports.
struct UsageTap {
    decoder: Box<dyn StreamDecoder>,
    events: Vec<StreamEvent>,
    /// How much is read on for usage once the client has gone.
    drain_bytes: u64,
}

impl UsageTap {
    /// Decodes `data` and shows the guard its events; `false` when the bytes
    /// do not decode.
    fn feed(&mut self, data: &[u8], guard: &mut Guard) -> bool {
        if self.decoder.feed(data, &mut self.events).is_err() {
            return false;
        }
        for event in self.events.drain(..) {
            guard.observe(&event);
        }
        true
    }

    /// The end of input: the last event may have waited for it.
    fn finish(mut self, guard: &mut Guard) {
        if self.decoder.finish(&mut self.events).is_ok() {
            self.events.iter().for_each(|e| guard.observe(e));
        }
    }
}

impl Relay {
    /// Passes relayed bytes through the usage decoder, when there is one.
    /// A decoding error only stops the counting: the bytes are the
    /// upstream's to send, and the lane's end watch judges the stream.
    fn tap(&mut self, data: &[u8]) {
        let Some(tap) = &mut self.usage else {
            return;
        };
        if !tap.feed(data, &mut self.guard) {
            self.usage = None;
        }
    }

    /// The client went away. A metered stream not yet at its end is read
    /// on in the background for its usage; anything else just drops, and
    /// its guard settles with what it saw.
    fn abandon(self: Box<Self>) {
        if self.done {
            return;
        }
        let Relay {
            upstream,
            mut guard,
            idle,
            mut watch,
            usage,
            ..
        } = *self;
        // Only governance reads on: a key must pay for what it was sent.
        // Otherwise the guard, dropped here, counts the tokens seen so far,
        // the log's record ends with the client,
        // and a trace ends here, as cancelled.
        let Some(mut tap) = usage.filter(|_| guard.is_metered()) else {
            return;
        };
        guard.client_left();
        let limits = StreamLimits {
            idle: idle.limit,
            drain_bytes: tap.drain_bytes,
        };
        drain::spawn(async move {
            let rest = drain::read_rest(upstream, limits, |data| {
                watch.feed(data);
                (!tap.feed(data, &mut guard)).then_some(Rest::Unread(None))
            })
            .await;
            match rest {
                Rest::Ended if watch.is_complete() => {
                    tap.finish(&mut guard);
                    guard.body_complete();
                }
                Rest::Ended => guard.body_unreported(Some(FailureClass::Network)),
                Rest::Unread(failure) => guard.body_unreported(failure),
            }
        });
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.cutoff.poll_cut(cx) {
            return self.fail(FailureClass::Network, shutting_down());
        }
        match Pin::new(&mut self.upstream).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.idle.reset();
                if let Some(data) = frame.data_ref() {
                    self.watch.feed(data);
                    if self.usage.is_some() {
                        let data = data.clone();
                        self.tap(&data);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => self.fail(
                FailureClass::Network,
                ApiError::new(
                    ErrorKind::BadGateway,
                    format!("upstream stream failed: {error}"),
                ),
            ),
            Poll::Ready(None) if !self.watch.is_complete() => self.fail(
                FailureClass::Network,
                ApiError::new(
                    ErrorKind::BadGateway,
                    "upstream stream ended before its final event",
                ),
            ),
            Poll::Ready(None) => {
                self.done = true;
                if let Some(tap) = self.usage.take() {
                    tap.finish(&mut self.guard);
                }
                self.guard.body_complete();
                Poll::Ready(None)
            }
            Poll::Pending => {
                if self.idle.poll_expired(cx) {
                    return self.fail(
                        FailureClass::Timeout,
                        ApiError::new(ErrorKind::Timeout, "upstream stream went idle"),
                    );
                }
                Poll::Pending
            }
        }
    }

    /// Ends the stream early: the lane takes a failure of `class`, and the
    /// client gets `error` as its format's in-stream error, then a clean end.
    fn fail(
        &mut self,
        class: FailureClass,
        error: ApiError,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.done = true;
        self.guard.body_failed(class);
        Poll::Ready(Some(Ok(Frame::data(end_with_error(self.protocol, error)))))
    }
}

/// `error` as `protocol`'s in-stream error event, and its end of stream.
fn end_with_error(protocol: Protocol, error: ApiError) -> Bytes {
    let mut out = Vec::new();
    let mut encoder = protocol.stream_encoder(&ReplyOptions::new(0));
    encoder.encode(&StreamEvent::Error(error), &mut out);
    encoder.finish(&mut out);
    Bytes::from(out)
}

/// The error a stream still open when the shutdown grace ends closes with.
fn shutting_down() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "the gateway is shutting down; the stream was cut short",
    )
}

struct Translated {
    upstream: Option<Incoming>,
    decoder: Box<dyn StreamDecoder>,
    encoder: Box<dyn StreamEncoder>,
    guard: Guard,
    events: Vec<StreamEvent>,
    out: Vec<u8>,
    idle: IdleTimer,
    limits: StreamLimits,
    /// Fires when the shutdown grace is over.
    cutoff: CutoffWatch,
    /// Fill-ins for a reply whose upstream format names no model or id.
    model: String,
    id: String,
}

impl Translated {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        // Events decoded while the stream's start was checked go out first.
        if !self.events.is_empty() {
            self.drain_events();
            if let Some(frame) = self.take_out() {
                return Poll::Ready(Some(Ok(frame)));
            }
        }
        loop {
            let Some(upstream) = self.upstream.as_mut() else {
                // Finished: flush what the last step produced, then end.
                return Poll::Ready(self.take_out().map(Ok));
            };
            if self.cutoff.poll_cut(cx) {
                self.fail(shutting_down());
                continue;
            }
            match Pin::new(upstream).poll_frame(cx) {
                Poll::Pending => {
                    if !self.idle.poll_expired(cx) {
                        return Poll::Pending;
                    }
                    self.fail(ApiError::new(
                        ErrorKind::Timeout,
                        "upstream stream went idle",
                    ));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    self.idle.reset();
                    if let Ok(data) = frame.into_data() {
                        if let Err(error) = self.decoder.feed(&data, &mut self.events) {
                            self.fail(stream_error(&error));
                        }
                    }
                }
                Poll::Ready(Some(Err(error))) => self.fail(ApiError::new(
                    ErrorKind::BadGateway,
                    format!("upstream stream failed: {error}"),
                )),
                Poll::Ready(None) => match self.decoder.finish(&mut self.events) {
                    Ok(()) => self.end(),
                    Err(error) => self.fail(stream_error(&error)),
                },
            }
            self.drain_events();
            if let Some(frame) = self.take_out() {
                return Poll::Ready(Some(Ok(frame)));
            }
        }
    }

    /// The client went away. A metered stream not yet at its end is read
    /// on in the background for its usage, through the decoder, with no
    /// encoding; anything else just drops.
    fn abandon(self) {
        let Translated {
            upstream,
            mut decoder,
            mut guard,
            mut events,
            limits,
            ..
        } = self;
        let Some(upstream) = upstream.filter(|_| guard.is_metered()) else {
            return;
        };
        guard.client_left();
        drain::spawn(async move {
            // Events decoded but not yet sent count too.
            let observe = |events: &mut Vec<StreamEvent>, guard: &mut Guard| {
                for event in events.drain(..) {
                    guard.observe(&event);
                    if let StreamEvent::Error(error) = &event {
                        return Some(Rest::Unread(Some(guard.failure_class(error))));
                    }
                }
                None
            };
            if let Some(Rest::Unread(failure)) = observe(&mut events, &mut guard) {
                guard.body_unreported(failure);
                return;
            }
            let rest = drain::read_rest(upstream, limits, |data| {
                if decoder.feed(data, &mut events).is_err() {
                    return Some(Rest::Unread(Some(FailureClass::ServerError)));
                }
                observe(&mut events, &mut guard)
            })
            .await;
            let rest = match rest {
                Rest::Ended => match decoder.finish(&mut events) {
                    Ok(()) => observe(&mut events, &mut guard).unwrap_or(Rest::Ended),
                    Err(_) => Rest::Unread(Some(FailureClass::Network)),
                },
                unread => unread,
            };
            match rest {
                Rest::Ended => guard.body_complete(),
                Rest::Unread(failure) => guard.body_unreported(failure),
            }
        });
    }

    /// The upstream ended well: the client's terminal marker follows.
    fn end(&mut self) {
        self.drain_events();
        self.guard.body_complete();
        self.encoder.finish(&mut self.out);
        self.upstream = None;
    }

    /// Ends the stream with an in-stream error in the client's protocol.
    fn fail(&mut self, error: ApiError) {
        self.guard.stream_failed(&error);
        self.events.push(StreamEvent::Error(error));
        self.drain_events();
        self.encoder.finish(&mut self.out);
        self.upstream = None;
    }

    fn drain_events(&mut self) {
        for mut event in self.events.drain(..) {
            self.guard.observe(&event);
            match &mut event {
                StreamEvent::Error(error) => self.guard.stream_failed(error),
                // Some formats (Cohere) never name the model; the client's
                // format may require one.
                StreamEvent::MessageStart { id, model, .. } => {
                    if model.is_empty() {
                        model.clone_from(&self.model);
                    }
                    if id.is_empty() {
                        id.clone_from(&self.id);
                    }
                }
                _ => {}
            }
            self.encoder.encode(&event, &mut self.out);
        }
    }

    fn take_out(&mut self) -> Option<Frame<Bytes>> {
        if self.out.is_empty() {
            None
        } else {
            Some(Frame::data(Bytes::from(std::mem::take(&mut self.out))))
        }
    }
}

fn stream_error(error: &DecodeError) -> ApiError {
    ApiError::new(ErrorKind::BadGateway, format!("upstream stream: {error}"))
}
