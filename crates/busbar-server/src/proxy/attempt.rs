//! One attempt on one lane: build the upstream request, send it, and either
//! commit a reply to the client or hand the lane's permit back with what
//! went wrong, so the plan can settle it and try the next lane.

use std::time::Duration;

use busbar_governance::Served;
use busbar_ir::StreamEvent;
use busbar_protocols::{Protocol, ReplyOptions, RequestOptions};
use busbar_routing::{ErrorSource, FailureClass, Outcome, Permit};
use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body::Body as _;
use hyper::body::Incoming;

use super::call::{unix_now, Call};
use crate::error::{GatewayError, UpstreamError};
use crate::governance::lane_price;
use crate::record::DROPPED_HEADER;
use crate::reply::{Body, Guard, Meter, StreamLimits};
use crate::state::State;
use crate::trace::Trace;
use crate::upstream::{copy_end_to_end_headers, describe, read_limited, Target};

/// The largest upstream error or complete reply body Busbar reads whole.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// The largest upstream error body Busbar reads.
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// An attempt that failed before any byte reached the client.
pub(super) struct Failure {
    /// The lane's permit, its charge (if any) refunded.
    pub(super) permit: Option<Permit>,
    /// What it means for routing.
    pub(super) class: FailureClass,
    /// How the plan settles the permit.
    pub(super) outcome: Outcome,
    /// What the client gets if no other lane is tried.
    pub(super) error: GatewayError,
    /// Whether the upstream was reached and failed (as opposed to a request
    /// Busbar could not translate).
    pub(super) upstream: bool,
    /// The request's governance meter, unsettled, for the next attempt.
    pub(super) meter: Option<Meter>,
    /// The request's spans, when a reply that failed had taken them.
    pub(super) trace: Option<Box<Trace>>,
}

impl Failure {
    fn new(permit: Permit, class: FailureClass, error: GatewayError) -> Box<Self> {
        Self::settling(Some(permit), class, error)
    }

    // Boxed: a failure is rare and large, a success common and small.
    fn settling(permit: Option<Permit>, class: FailureClass, error: GatewayError) -> Box<Self> {
        Box::new(Self {
            permit,
            class,
            outcome: Outcome::failed(class),
            error,
            upstream: true,
            meter: None,
            trace: None,
        })
    }

    fn retry_after(mut self: Box<Self>, wait: Option<Duration>) -> Box<Self> {
        if let Some(wait) = wait {
            self.outcome = self.outcome.with_retry_after(wait);
        }
        self
    }
}

/// The request of an Anthropic client for an InvokeModel lane, put into
/// Bedrock's envelope as it came rather than through the IR, so that its
/// betas and the Messages fields the IR lacks reach Claude on Bedrock; `None`
/// for other pairs, and when the body must be translated (reasoning
/// signatures).
fn sibling_body(call: &mut Call<'_>, target: &Target) -> Option<Vec<u8>> {
    let inbound = call.inbound;
    if inbound.protocol() != Protocol::Anthropic
        || target.protocol != Protocol::BedrockInvoke
        || !call.relayable()
    {
        return None;
    }
    let betas = inbound
        .client_side()
        .headers
        .get("anthropic-beta")
        .and_then(|value| value.to_str().ok());
    busbar_protocols::invoke::from_messages(&inbound.body, betas)
}

/// Tries `target` with `permit`, for a request routed as `pool`.
pub(super) async fn run(
    call: &mut Call<'_>,
    pool: &str,
    target: &Target,
    permit: Permit,
) -> Result<Response<Body>, Box<Failure>> {
    let inbound = call.inbound;
    let state = call.state;
    let protocol = inbound.protocol();
    // A stream whose client did not opt in to usage (OpenAI Chat's
    // `include_usage`) goes through the IR when Busbar must count its
    // tokens (governed, or a priced lane): the upstream is asked for usage
    // and the client does not see the extra chunk. So does a body with
    // another vendor's reasoning signatures, which must not be relayed.
    let count_usage = call.usage_unasked && (call.meter.is_some() || target.is_priced());
    let same_protocol = target.protocol == protocol && !count_usage && call.relayable();
    let (body, dropped) = if same_protocol {
        let body = if protocol.model_in_body() {
            call.peeked
                .with_model(&target.model_id, target.relay_leaves_out(&inbound.ingress))
        } else {
            inbound.body.to_vec()
        };
        (body, Vec::new())
    } else if let Some(body) = sibling_body(call, target) {
        (body, Vec::new())
    } else {
        if call.decoded.is_none() {
            match protocol.decode_request_named(&inbound.body, inbound.ingress.model.as_deref()) {
                Ok(mut fresh) => {
                    if let Some(name) = &inbound.ingress.model {
                        fresh.request.model.clone_from(name);
                    }
                    fresh.request.stream = call.stream;
                    call.decoded = Some(fresh);
                }
                Err(error) => {
                    let mut failure = Failure::new(permit, FailureClass::ClientError, error.into());
                    failure.upstream = false;
                    return Err(failure);
                }
            }
        }
        let decoded = call.decoded.as_ref().expect("decoded above");
        let mut options = RequestOptions::new(target.model_id.clone());
        options.ingress = Some(protocol);
        options.default_max_tokens = target.default_max_tokens;
        let encoded = target.protocol.encode_request(&decoded.request, &options);
        metrics::counter!(
            "busbar_translations_total",
            "from" => protocol.name(),
            "to" => target.protocol.name()
        )
        .increment(1);
        let dropped = decoded.dropped_with(&encoded.dropped);
        (encoded.body, dropped)
    };
    let mut upstream_request = match target
        .build_request(
            body,
            call.stream,
            same_protocol,
            Some(inbound.client_side()),
        )
        .await
    {
        Ok(request) => request,
        Err(error) => {
            let class = unbuilt_class(&error);
            return Err(Failure::new(permit, class, error));
        }
    };
    // The attempt span's own context, not the client's: after signing,
    // which leaves a header it did not sign out of the signature.
    if let Some(trace) = call.trace.as_deref() {
        trace.inject(upstream_request.headers_mut());
    }
    let first_byte = state.limits.first_byte_timeout;
    if let Some(record) = call.record.as_deref_mut() {
        record.sent();
    }
    let response =
        match tokio::time::timeout(first_byte, state.client.request(upstream_request)).await {
            Err(_) => {
                let error = GatewayError::Timeout(format!(
                    "no response from `{}` within {} s",
                    target.lane_name_str(),
                    first_byte.as_secs()
                ));
                return Err(Failure::new(permit, FailureClass::Timeout, error));
            }
            Ok(Err(error)) => {
                let error = GatewayError::Unreachable(format!(
                    "`{}`: {}",
                    target.lane_name_str(),
                    describe(&error)
                ));
                return Err(Failure::new(permit, FailureClass::Network, error));
            }
            Ok(Ok(response)) => response,
        };
    if let Some(record) = call.record.as_deref_mut() {
        record.answered(response.status().as_u16());
    }
    if !response.status().is_success() {
        return Err(upstream_error(call, target, permit, response).await);
    }
    let mut meter = call.meter.take();
    if let Some(meter) = &mut meter {
        let served = Served::new(target.model_id.as_str(), target.lane_name_str());
        meter.served_by(served, lane_price(target));
    }
    let guard = Guard::charged(
        permit,
        meter,
        target.tally(pool),
        target.error_map(),
        call.trace.take(),
    );
    let (parts, upstream_body) = response.into_parts();
    // Gemini clients that asked for a JSON-array stream get one even from a
    // Gemini upstream, which Busbar always asks for Server-Sent Events.
    let relay_reply = same_protocol && !inbound.ingress.json_array;
    let mut reply = if !call.stream {
        if relay_reply {
            relay_complete(call, target, parts, upstream_body, guard).await?
        } else {
            translate_complete(call, target, upstream_body, guard).await?
        }
    } else if is_json(&parts.headers) {
        // A streamed request answered with a complete reply: the client
        // still gets the stream it asked for.
        stream_from_complete(call, target, upstream_body, guard).await?
    } else {
        let (upstream_body, first, guard) = first_data(call, target, upstream_body, guard).await?;
        if relay_reply {
            // The bytes go out untouched, but a stream that opens with an
            // error event is failed over like an error status.
            let mut events = Vec::new();
            let _ = target.protocol.stream_decoder().feed(&first, &mut events);
            if let Some(failure) = opening_error(target, &events) {
                return Err(recalled(guard, failure.0, failure.1));
            }
            let mut guard = guard;
            guard.carry(call.record.take());
            let body = Body::relay(
                upstream_body,
                guard,
                stream_limits(state),
                protocol,
                first,
                state.cutoff.clone(),
            );
            let mut reply = Response::new(body);
            *reply.status_mut() = parts.status;
            copy_end_to_end_headers(&parts.headers, reply.headers_mut());
            // The body may end with an error event the upstream did not send.
            reply.headers_mut().remove(header::CONTENT_LENGTH);
            reply
        } else {
            translate_stream(call, target, upstream_body, first, guard)?
        }
    };
    let headers = reply.headers_mut();
    headers.insert("x-busbar-model", target.lane_name.clone());
    if !dropped.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&dropped.join(", ")) {
            headers.insert(DROPPED_HEADER, value);
        }
    }
    Ok(reply)
}

/// What a request that could not be built means for routing: no upstream
/// credentials is `auth` (the lane cannot authenticate); anything else is
/// the request's fault.
pub(super) fn unbuilt_class(error: &GatewayError) -> FailureClass {
    match error {
        GatewayError::NoCredentials(_) => FailureClass::Auth,
        _ => FailureClass::ClientError,
    }
}

/// How long a streamed reply may go silent, and how much of a metered
/// stream is read on for its usage once its client has gone.
fn stream_limits(state: &State) -> StreamLimits {
    StreamLimits {
        idle: state.limits.idle_timeout,
        drain_bytes: state.limits.max_body_bytes,
    }
}

/// A complete reply was read whole with `usage`: the record takes both.
fn read_whole(call: &mut Call<'_>, usage: &busbar_ir::Usage) {
    if let Some(record) = call.record.as_deref_mut() {
        record.upstream_done();
        record.usage(usage);
    }
}

/// Waits for a stream's first data, so a stream that dies at once is failed
/// over like any other failure: nothing has reached the client yet.
async fn first_data(
    call: &Call<'_>,
    target: &Target,
    mut body: Incoming,
    guard: Guard,
) -> Result<(Incoming, Bytes, Guard), Box<Failure>> {
    let limit = call.state.limits.first_byte_timeout;
    let read = tokio::time::timeout(limit, async {
        loop {
            match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Ok(Some(data)),
                    _ => continue,
                },
                Some(Err(error)) => return Err(error),
                None => return Ok(None),
            }
        }
    })
    .await;
    let (class, message) = match read {
        Ok(Ok(Some(data))) => return Ok((body, data, guard)),
        Ok(Ok(None)) => (
            FailureClass::Network,
            "ended before its first event".to_owned(),
        ),
        Ok(Err(error)) => (FailureClass::Network, format!("failed: {error}")),
        Err(_) => (
            FailureClass::Timeout,
            format!("sent nothing within {} s", limit.as_secs()),
        ),
    };
    let message = format!("the stream from `{}` {message}", target.lane_name_str());
    let error = match class {
        FailureClass::Timeout => GatewayError::Timeout(message),
        _ => GatewayError::Unreachable(message),
    };
    Err(recalled(guard, class, error))
}

/// Starts translating a stream whose first data has arrived. An upstream
/// that opens with an error event is failed over like an error status.
fn translate_stream(
    call: &mut Call<'_>,
    target: &Target,
    upstream_body: Incoming,
    first: Bytes,
    mut guard: Guard,
) -> Result<Response<Body>, Box<Failure>> {
    let inbound = call.inbound;
    let mut decoder = target.protocol.stream_decoder();
    let mut pending = Vec::new();
    if let Err(error) = decoder.feed(&first, &mut pending) {
        let error = GatewayError::BadUpstreamReply(format!(
            "the stream from `{}`: {error}",
            target.lane_name_str()
        ));
        return Err(recalled(guard, FailureClass::ServerError, error));
    }
    if let Some((class, error)) = opening_error(target, &pending) {
        return Err(recalled(guard, class, error));
    }
    guard.carry(call.record.take());
    let options = reply_options(call, target);
    let protocol = inbound.protocol();
    let body = Body::translated(
        upstream_body,
        decoder,
        protocol.stream_encoder(&options),
        guard,
        stream_limits(call.state),
        target.model_id.clone(),
        inbound.fallback_reply_id(),
        pending,
        call.state.cutoff.clone(),
    );
    let mut reply = Response::new(body);
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(protocol.stream_content_type(&options)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(reply)
}

/// What the client's reply encoder needs to know of its request and of the
/// lane the reply came from.
fn reply_options(call: &Call<'_>, target: &Target) -> ReplyOptions {
    let mut options = ReplyOptions::new(unix_now());
    options.egress = Some(target.protocol);
    options.json_array = call.inbound.ingress.json_array;
    if let Some(decoded) = &call.decoded {
        options.include_usage = decoded.request.stream_usage;
        options.tool_namespaces.clone_from(&decoded.tool_namespaces);
    }
    options
}

/// The error a stream opened with, if it did, and what it means.
fn opening_error(target: &Target, events: &[StreamEvent]) -> Option<(FailureClass, GatewayError)> {
    events.iter().find_map(|event| match event {
        StreamEvent::Error(error) => Some((
            target.classify(error, ErrorSource::Stream),
            GatewayError::Upstream(Box::new(UpstreamError {
                error: error.clone(),
                protocol: target.protocol,
                body: Bytes::new(),
                retry_after: None,
                error_type: None,
            })),
        )),
        _ => None,
    })
}

/// Relays a complete reply of the client's own protocol: read whole, so a
/// reply that breaks off before its end fails over (or becomes a 502)
/// instead of reaching the client cut short; its usage decoded, counted and
/// (when governance meters it) settled; then sent as the upstream wrote it.
async fn relay_complete(
    call: &mut Call<'_>,
    target: &Target,
    parts: http::response::Parts,
    upstream_body: Incoming,
    guard: Guard,
) -> Result<Response<Body>, Box<Failure>> {
    let (bytes, mut guard) = read_reply(call, target, upstream_body, guard).await?;
    // A body the decoder cannot read is still the upstream's success; only
    // its tokens go uncounted.
    let usage = match target.protocol.decode_response(&bytes) {
        Ok(response) => {
            if let Some(trace) = guard.trace() {
                trace.complete(
                    &response.model,
                    response.stop_reason.as_ref(),
                    &response.usage,
                );
            }
            response.usage
        }
        Err(_) => busbar_ir::Usage::default(),
    };
    guard.complete_with(&usage).await;
    read_whole(call, &usage);
    let mut reply = Response::new(Body::full(bytes));
    *reply.status_mut() = parts.status;
    copy_end_to_end_headers(&parts.headers, reply.headers_mut());
    Ok(reply)
}

/// Reads a complete upstream reply and re-encodes it for the client.
async fn translate_complete(
    call: &mut Call<'_>,
    target: &Target,
    upstream_body: Incoming,
    guard: Guard,
) -> Result<Response<Body>, Box<Failure>> {
    let inbound = call.inbound;
    let (bytes, mut guard) = read_reply(call, target, upstream_body, guard).await?;
    let mut decoded = match target.protocol.decode_response(&bytes) {
        Ok(response) => response,
        Err(error) => {
            let error =
                GatewayError::BadUpstreamReply(format!("`{}`: {error}", target.lane_name_str()));
            return Err(recalled(guard, FailureClass::ServerError, error));
        }
    };
    if let Some(trace) = guard.trace() {
        trace.complete(&decoded.model, decoded.stop_reason.as_ref(), &decoded.usage);
    }
    guard.complete_with(&decoded.usage).await;
    read_whole(call, &decoded.usage);
    if decoded.model.is_empty() {
        decoded.model.clone_from(&target.model_id);
    }
    if decoded.id.is_empty() {
        decoded.id = inbound.fallback_reply_id();
    }
    let encoded = inbound
        .protocol()
        .encode_response(&decoded, &reply_options(call, target));
    let mut reply = Response::new(Body::full(encoded.body));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(reply)
}

/// Reads a complete upstream reply whole, within [`MAX_UPSTREAM_BODY`] and
/// the idle timeout; a reply that breaks off, stalls or is too large is a
/// failure of the lane, with the class it has for routing.
async fn read_reply(
    call: &Call<'_>,
    target: &Target,
    body: Incoming,
    guard: Guard,
) -> Result<(Bytes, Guard), Box<Failure>> {
    let idle = call.state.limits.idle_timeout;
    match read_limited(body, MAX_UPSTREAM_BODY, idle).await {
        Ok(bytes) => Ok((bytes, guard)),
        Err(error) => {
            let lane = target.lane_name_str();
            let (class, error) = match error {
                GatewayError::Timeout(_) => (
                    FailureClass::Timeout,
                    GatewayError::Timeout(format!(
                        "the reply from `{lane}` did not arrive whole within {} s",
                        idle.as_secs()
                    )),
                ),
                error => (
                    FailureClass::Network,
                    GatewayError::BadUpstreamReply(format!(
                        "the reply from `{lane}` broke off: {error}"
                    )),
                ),
            };
            Err(recalled(guard, class, error))
        }
    }
}

/// Whether an upstream reply is a JSON document rather than a stream.
fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            let media = media.trim();
            media.eq_ignore_ascii_case("application/json")
                || media.len() > 5 && media[media.len() - 5..].eq_ignore_ascii_case("+json")
        })
}

/// Turns a complete JSON reply to a streamed request into the stream the
/// client asked for. The body is read as the upstream format's complete
/// reply or, failing that, as its stream (Gemini may send a stream as one
/// JSON array); a body that is neither is a failure of the lane.
async fn stream_from_complete(
    call: &mut Call<'_>,
    target: &Target,
    upstream_body: Incoming,
    guard: Guard,
) -> Result<Response<Body>, Box<Failure>> {
    let inbound = call.inbound;
    let (bytes, mut guard) = read_reply(call, target, upstream_body, guard).await?;
    // Decoders read leniently; a "reply" with neither content nor a stop
    // reason is some other JSON.
    let complete = target
        .protocol
        .decode_response(&bytes)
        .and_then(|response| {
            if response.content.is_empty() && response.stop_reason.is_none() {
                Err(busbar_protocols::DecodeError::Stream(
                    "it has neither content nor a stop reason".into(),
                ))
            } else {
                Ok(response)
            }
        });
    let mut events = match complete {
        Ok(response) => response.to_events(),
        Err(error) => {
            let mut events = Vec::new();
            let mut decoder = target.protocol.stream_decoder();
            let read = decoder
                .feed(&bytes, &mut events)
                .and_then(|()| decoder.finish(&mut events));
            if read.is_err() || !events.iter().any(|e| matches!(e, StreamEvent::MessageStop)) {
                let error = GatewayError::BadUpstreamReply(format!(
                    "`{}` answered a streamed request with JSON that is not a reply: {error}",
                    target.lane_name_str()
                ));
                return Err(recalled(guard, FailureClass::ServerError, error));
            }
            events
        }
    };
    if let Some((class, error)) = opening_error(target, &events) {
        return Err(recalled(guard, class, error));
    }
    let mut usage = busbar_ir::Usage::default();
    for reported in events.iter().filter_map(StreamEvent::usage) {
        usage.merge(reported);
    }
    if let Some(trace) = guard.trace() {
        events.iter().for_each(|event| trace.observe(event));
    }
    guard.complete_with(&usage).await;
    read_whole(call, &usage);
    let options = reply_options(call, target);
    let protocol = inbound.protocol();
    let mut encoder = protocol.stream_encoder(&options);
    let mut out = Vec::new();
    for event in &mut events {
        if let StreamEvent::MessageStart { id, model, .. } = event {
            if model.is_empty() {
                model.clone_from(&target.model_id);
            }
            if id.is_empty() {
                *id = inbound.fallback_reply_id();
            }
        }
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    let mut reply = Response::new(Body::full(out));
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(protocol.stream_content_type(&options)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(reply)
}

/// Reads an upstream's error reply and says what it means.
async fn upstream_error(
    call: &Call<'_>,
    target: &Target,
    permit: Permit,
    response: Response<Incoming>,
) -> Box<Failure> {
    let (class, wait, error) = read_error(call.state, target, response).await;
    Failure::new(permit, class, error).retry_after(wait)
}

/// An upstream's error reply: its failure class, its `Retry-After`, and
/// the error for the client.
pub(crate) async fn read_error(
    state: &State,
    target: &Target,
    response: Response<Incoming>,
) -> (FailureClass, Option<Duration>, GatewayError) {
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    let bytes = read_limited(body, MAX_ERROR_BODY, state.limits.idle_timeout)
        .await
        .unwrap_or_default();
    let error_type = parts.headers.get("x-amzn-errortype").cloned();
    let mut error = target.protocol.decode_error(
        status,
        &bytes,
        error_type.as_ref().and_then(|value| value.to_str().ok()),
    );
    error.status = status;
    let class = target.classify(&error, ErrorSource::Reply);
    let retry_after = parts.headers.get(header::RETRY_AFTER).cloned();
    let wait = retry_after
        .as_ref()
        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    tracing::debug!(
        lane = target.lane_name_str(),
        status,
        class = class.as_str(),
        "upstream answered with an error"
    );
    let error = GatewayError::Upstream(Box::new(UpstreamError {
        error,
        protocol: target.protocol,
        body: bytes,
        retry_after,
        error_type,
    }));
    (class, wait, error)
}

/// A failure after 2xx headers but before any byte reached the client: the
/// permit comes back from the guard, its charge refunded.
fn recalled(mut guard: Guard, class: FailureClass, error: GatewayError) -> Box<Failure> {
    let trace = guard.take_trace();
    let (permit, meter) = guard.recall();
    let mut failure = Failure::settling(permit, class, error);
    failure.meter = meter;
    failure.trace = trace;
    failure
}
