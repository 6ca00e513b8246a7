//! The HTTP side of the mock: the listener, one task per connection, and the per-request pipeline
//! (read → record → fault → answer).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Notify};

use crate::body::{self, Cut, MockBody};
use crate::cache::PromptCache;
use crate::faults::{Chaos, Fault, FaultBook, FaultRule, RequestFacts};
use crate::format::{Format, Outcome, Request as Received};
use crate::options::{AwsCredentials, MockOptions};
use crate::record::{RecordedRequest, Recorder};

/// State shared by the handle and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    options: MockOptions,
    recorder: Recorder,
    faults: FaultBook,
    ids: AtomicU64,
    requests: AtomicU64,
    cache: PromptCache,
}

impl Shared {
    /// A fresh number for ids (`chatcmpl-mock…`, `toolu_mock…`, request ids).
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The prefixes cached so far (see `cache.rs`).
    pub(crate) fn prompt_cache(&self) -> &PromptCache {
        &self.cache
    }

    pub(crate) fn expected_key(&self) -> Option<&str> {
        self.options.expected_key.as_deref()
    }

    pub(crate) fn access_tokens(&self) -> Option<&crate::AccessTokens> {
        self.options.access_tokens.as_ref()
    }

    pub(crate) fn aws_credentials(&self) -> Option<&AwsCredentials> {
        self.options.aws_credentials.as_ref()
    }

    pub(crate) fn require_thought_signatures(&self) -> bool {
        self.options.require_thought_signatures
    }

    pub(crate) fn words_per_delta(&self) -> usize {
        self.options.words_per_delta
    }

    pub(crate) fn unix_time(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A mock LLM provider listening on loopback. Dropping it stops it.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockUpstream {
    /// Starts on `127.0.0.1` at a free port, on the current Tokio runtime.
    pub async fn start() -> io::Result<Self> {
        Self::start_with(MockOptions::default()).await
    }

    /// Starts on `addr`, on the current Tokio runtime.
    pub async fn start_on(addr: SocketAddr) -> io::Result<Self> {
        Self::start_with(MockOptions::default().addr(addr)).await
    }

    /// Starts with `options`, on the current Tokio runtime.
    pub async fn start_with(options: MockOptions) -> io::Result<Self> {
        let listener = TcpListener::bind(options.addr).await?;
        let (upstream, shutdown) = Self::new(listener.local_addr()?, options);
        tokio::spawn(accept_loop(
            listener,
            Arc::clone(&upstream.shared),
            shutdown,
        ));
        Ok(upstream)
    }

    /// Starts with `options` on a thread and runtime of its own, for tests without a runtime.
    /// Dropping the handle stops the server and joins the thread.
    pub fn start_in_thread(options: MockOptions) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(options.addr)?;
        listener.set_nonblocking(true)?;
        let runtime = if options.worker_threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder
                .worker_threads(options.worker_threads)
                .enable_all()
                .build()?
        };
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let (mut upstream, shutdown) = Self::new(listener.local_addr()?, options);
        let shared = Arc::clone(&upstream.shared);
        let thread = std::thread::Builder::new()
            .name("busbar-mock-upstream".to_owned())
            .spawn(move || runtime.block_on(accept_loop(listener, shared, shutdown)))?;
        upstream.thread = Some(thread);
        Ok(upstream)
    }

    fn new(addr: SocketAddr, options: MockOptions) -> (Self, watch::Receiver<bool>) {
        let (shutdown, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            options,
            recorder: Recorder::default(),
            faults: FaultBook::default(),
            ids: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            cache: PromptCache::default(),
        });
        (
            Self {
                addr,
                shared,
                shutdown,
                thread: None,
            },
            stopped,
        )
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: a provider's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url()` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, oldest first (empty when recording is off).
    pub fn received(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.snapshot()
    }

    /// Requests received so far, counted even when recording is off.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Forgets the recorded requests and resets the count.
    pub fn clear(&self) {
        self.shared.recorder.clear();
        self.shared.requests.store(0, Ordering::Relaxed);
    }

    /// Queues a fault for the next matching request; queued faults are used once, in order.
    pub fn push_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.push(rule.into());
    }

    /// Applies a fault to every matching request that no queued fault claims, until cleared.
    pub fn set_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.set_sticky(Some(rule.into()));
    }

    /// Draws faults at random for requests no queued or sticky fault claims; `None` stops.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.shared.faults.set_chaos(chaos);
    }

    /// Removes the queued faults, the sticky one and any chaos.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Queued faults not yet used.
    pub fn pending_faults(&self) -> usize {
        self.shared.faults.pending()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(thread) = self.thread.take() {
            // The runtime ends once the accept loop sees the signal; a panic there is not ours to raise.
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections_shutdown = shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, Arc::clone(&shared), connections_shutdown.clone()));
                }
                Err(error) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::debug!(%error, "mock upstream accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // A second descriptor of the socket lets a reset fault set SO_LINGER 0 after hyper owns the
    // stream, so dropping the connection sends RST rather than FIN.
    let (stream, twin) = match split_twin(stream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%error, "mock upstream could not prepare a connection");
            return;
        }
    };
    let reset = Arc::new(Notify::new());
    let service = {
        let reset = Arc::clone(&reset);
        service_fn(move |request| handle(Arc::clone(&shared), Arc::clone(&reset), request))
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = reset.notified() => {
            let _ = TcpSocket::from_std_stream(twin).set_zero_linger();
        }
        _ = stopped(&mut shutdown) => {}
    }
}

/// Resolves once the handle asks to stop or is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here rather than across an await.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}

fn split_twin(stream: TcpStream) -> io::Result<(TcpStream, std::net::TcpStream)> {
    let stream = stream.into_std()?;
    let twin = stream.try_clone()?;
    Ok((TcpStream::from_std(stream)?, twin))
}

async fn handle(
    shared: Arc<Shared>,
    reset: Arc<Notify>,
    request: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = request.into_parts();
    // A body that fails to arrive means the client is gone; whatever we answer is discarded.
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if shared.options.record {
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string());
        let recorded = RecordedRequest::new(
            parts.method.clone(),
            path,
            parts.headers.clone(),
            body.clone(),
        );
        shared.recorder.push(recorded);
    }

    let path = parts.uri.path();
    let format = Format::for_path(path);
    let json: Option<Value> = format.and_then(|_| serde_json::from_slice(&body).ok());
    let request = Received {
        method: &parts.method,
        path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
        json: json.as_ref(),
    };
    let model = format.and_then(|f| f.model(path, request.json));
    let facts = RequestFacts {
        path,
        model: model.as_deref(),
        stream: format.is_some_and(|f| f.streams(path, request.json)),
        format,
    };
    let fault = shared.faults.take(&facts);
    let vendor = format.unwrap_or_else(|| Format::guess(path, request.query, &parts.headers));

    let mut first_byte_delay = None;
    let mut cut = Cut::None;
    match fault {
        None => {}
        Some(Fault::Reset) => {
            reset.notify_one();
            // The connection task drops this future together with the connection.
            return std::future::pending().await;
        }
        Some(Fault::Error(error)) => {
            return Ok(respond(
                &shared,
                vendor,
                vendor.error(&error),
                None,
                Cut::None,
            ))
        }
        Some(Fault::DelayHeaders(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::DelayFirstByte(delay)) => first_byte_delay = Some(delay),
        Some(Fault::TruncateStream { after_events }) => cut = Cut::Truncate(after_events),
        Some(Fault::AbortStream { after_events }) => cut = Cut::Abort(after_events),
        Some(Fault::StreamError {
            after_events,
            error,
        }) => {
            let event = vendor.stream_error_event(&error, &request, after_events);
            cut = Cut::Error(after_events, event);
        }
        Some(Fault::StallStream {
            after_events,
            pause,
        }) => cut = Cut::Stall(after_events, pause),
        Some(Fault::AbortReply { after_bytes }) => cut = Cut::AbortReply(after_bytes),
    }
    let outcome = match format {
        Some(format) => format.handle(&shared, &request),
        None => vendor.not_found(&parts.method, path),
    };
    Ok(respond(&shared, vendor, outcome, first_byte_delay, cut))
}

fn respond(
    shared: &Shared,
    vendor: Format,
    outcome: Outcome,
    first_byte_delay: Option<Duration>,
    cut: Cut,
) -> Response<MockBody> {
    let interval = shared.options.event_interval;
    let (status, mut headers, body) = match outcome {
        Outcome::Json {
            status,
            mut headers,
            body,
        } => {
            let body = match (first_byte_delay, cut) {
                (_, Cut::AbortReply(after_bytes)) => {
                    // The whole length is promised; only the first bytes come.
                    headers.push((CONTENT_LENGTH, HeaderValue::from(body.len())));
                    let at = after_bytes.min(body.len());
                    let pieces = vec![body.slice(..at), body.slice(at..)];
                    body::streamed(pieces, first_byte_delay, Duration::ZERO, Cut::Abort(1))
                }
                (None, _) => MockBody::full(body),
                (Some(delay), _) => {
                    headers.push((CONTENT_LENGTH, HeaderValue::from(body.len())));
                    body::streamed(vec![body], Some(delay), Duration::ZERO, Cut::None)
                }
            };
            (status, headers, body)
        }
        Outcome::Stream { headers, events } => (
            http::StatusCode::OK,
            headers,
            body::streamed(events, first_byte_delay, interval, cut),
        ),
    };
    if let Some(name) = vendor.request_id_header() {
        let request_id = format!("req_mock{:08}", shared.next_id());
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            headers.push((name, value));
        }
    }
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in headers {
        response.headers_mut().append(name, value);
    }
    response
}
