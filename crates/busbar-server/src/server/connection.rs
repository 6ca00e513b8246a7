//! One client connection: its TLS handshake, HTTP/1 or HTTP/2, and the
//! timers that close it when the client stalls or goes idle.
//!
//! hyper bounds an HTTP/1 request head (`header_read_timeout`, counted from
//! when the connection is ready for a request: at the start and after each
//! response) and HTTP/2 liveness (pings). It does not bound the time before
//! it knows which protocol the client speaks, the TLS handshake before that,
//! or an HTTP/2 connection that answers pings but sends no request. So each
//! connection also has a watchdog that counts the requests in flight and
//! closes the connection when there are none for too long: the header read
//! timeout from the accept until the first request arrives, then the
//! keep-alive idle timeout from the end of the last response.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::TlsAcceptor;

use super::admission::Admitted;
use crate::handler;
use crate::reply::{Body, BodyError};
use crate::state::{ConnectionBounds, State};

/// How long a connection being closed (idle, or at shutdown) may take to
/// say goodbye once no request is in flight: hyper's HTTP/2 `GOAWAY` waits
/// for a ping the client may never answer.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The HTTP/1 and HTTP/2 connection builder `bounds` configure.
pub(crate) fn builder(bounds: &ConnectionBounds) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(bounds.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(bounds.http2_max_streams)
        .keep_alive_interval(bounds.http2_keepalive_interval)
        .keep_alive_timeout(bounds.http2_keepalive_timeout);
    builder
}

/// What a connection's task is given.
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) state: Arc<ArcSwap<State>>,
    pub(crate) builder: Arc<auto::Builder<TokioExecutor>>,
    pub(crate) bounds: ConnectionBounds,
    /// Turns `true` when the server shuts down.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The connection's place under the caps, given back when it closes.
    pub(crate) admitted: Admitted,
}

impl Connection {
    /// Serves the connection until it closes.
    pub(crate) async fn serve(self) {
        let accepted = Instant::now();
        let first_request_due = accepted + self.bounds.header_read_timeout;
        let Self {
            stream,
            peer,
            tls,
            state,
            builder,
            bounds,
            shutdown,
            admitted,
        } = self;
        let watch = Watch {
            first_request_due,
            keepalive_idle: bounds.keepalive_idle,
            shutdown,
        };
        match tls {
            None => {
                watch
                    .serve(TokioIo::new(stream), peer, state, &builder)
                    .await
            }
            Some(acceptor) => {
                match tokio::time::timeout_at(first_request_due, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        watch
                            .serve(TokioIo::new(stream), peer, state, &builder)
                            .await
                    }
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
        drop(admitted);
    }
}

/// The watchdog's settings for one connection.
struct Watch {
    /// Until the first request arrives, the connection is closed at this
    /// instant.
    first_request_due: Instant,
    keepalive_idle: Duration,
    shutdown: watch::Receiver<bool>,
}

impl Watch {
    async fn serve<I>(
        mut self,
        io: TokioIo<I>,
        peer: SocketAddr,
        state: Arc<ArcSwap<State>>,
        builder: &auto::Builder<TokioExecutor>,
    ) where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (in_flight, mut requests) = watch::channel(0u32);
        let in_flight = Arc::new(in_flight);
        let service = service_fn(move |request: hyper::Request<Incoming>| {
            // Each request runs on the configuration current when it arrived.
            let state = state.load_full();
            let request_open = RequestOpen::new(in_flight.clone());
            async move {
                let response = handler::handle(&state, request, peer).await;
                Ok::<_, Infallible>(response.map(|body| Held {
                    body,
                    _request_open: request_open,
                }))
            }
        });
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut served_any = false;
        let mut idle_since = Instant::now();
        let mut closing_since: Option<Instant> = None;
        let mut shutting_down = false;
        let mut counting = true;
        loop {
            let idle = *requests.borrow_and_update() == 0;
            let idle_until = if served_any {
                idle_since + self.keepalive_idle
            } else {
                self.first_request_due
            };
            let hard_close =
                closing_since.map_or(idle_until, |since| since.max(idle_since) + CLOSE_GRACE);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                changed = requests.changed(), if counting => {
                    if changed.is_err() {
                        // The service is gone, so hyper is finishing.
                        counting = false;
                        continue;
                    }
                    served_any = true;
                    if *requests.borrow() == 0 {
                        idle_since = Instant::now();
                    }
                }
                () = sleep_until(idle_until), if idle && closing_since.is_none() => {
                    tracing::debug!(%peer, served_any, "closing an idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
                () = sleep_until(hard_close), if idle && closing_since.is_some() => {
                    tracing::debug!(%peer, "connection did not close in time; dropping it");
                    return;
                }
                _ = self.shutdown.wait_for(|&down| down), if !shutting_down => {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                    closing_since.get_or_insert_with(Instant::now);
                }
            }
        }
    }
}

/// A request in flight on its connection, from the moment hyper hands it to
/// the service until its response body is finished or dropped.
struct RequestOpen {
    in_flight: Arc<watch::Sender<u32>>,
}

impl RequestOpen {
    fn new(in_flight: Arc<watch::Sender<u32>>) -> Self {
        in_flight.send_modify(|open| *open += 1);
        Self { in_flight }
    }
}

impl Drop for RequestOpen {
    fn drop(&mut self) {
        self.in_flight.send_modify(|open| *open -= 1);
    }
}

/// A response body that keeps its request counted as in flight.
struct Held {
    body: Body,
    _request_open: RequestOpen,
}

impl HttpBody for Held {
    type Data = bytes::Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
