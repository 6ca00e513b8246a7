//! The listening socket, the connection loop and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::handler;
use crate::state::State;
use crate::StartError;

/// A bound, ready-to-run Busbar server.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ArcSwap<State>>,
}

/// Replaces a running server's configuration.
#[derive(Clone)]
pub struct Reloader {
    state: Arc<ArcSwap<State>>,
}

impl Reloader {
    /// Swaps in `config` atomically: requests already in flight finish on
    /// the configuration they started with. The listen address and TLS
    /// files are bound at start and are not changed by a reload.
    pub fn reload(&self, config: &busbar_config::Config) -> Result<(), StartError> {
        let current = self.state.load();
        if config.listen != current.listen {
            tracing::warn!(
                listen = %config.listen,
                "a changed listen address takes effect only after a restart"
            );
        }
        let next = current.successor(config)?;
        self.state.store(Arc::new(next));
        Ok(())
    }
}

impl Server {
    /// Binds the listening socket. The port accepts connections as soon as
    /// this returns, before [`Server::run`] is called.
    pub async fn bind(state: State) -> Result<Self, StartError> {
        let tls = match &state.tls {
            Some(paths) => Some(crate::tls::acceptor(&paths.0, &paths.1)?),
            None => None,
        };
        let listener =
            TcpListener::bind(&state.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: state.listen.clone(),
                    source,
                })?;
        Ok(Self {
            listener,
            tls,
            state: Arc::new(ArcSwap::from_pointee(state)),
        })
    }

    /// A handle that replaces the configuration while the server runs.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            state: self.state.clone(),
        }
    }

    /// The address actually bound (the real port when `listen` asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves until `shutdown` completes, then stops accepting and lets
    /// in-flight requests and streams finish for up to the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            tls,
            state,
        } = self;
        let grace = state.load().limits.shutdown_grace;
        let prober = tokio::spawn(crate::health::run(state.clone()));
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .keep_alive(true);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off
                        // briefly rather than spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            let builder = builder.clone();
            let watcher = graceful.watcher();
            let tls = tls.clone();
            tokio::spawn(async move {
                serve_connection(stream, peer, tls, state, builder, watcher).await;
            });
        }
        drop(listener);
        prober.abort();
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: draining in-flight requests"
        );
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections drained"),
            () = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing remaining connections"),
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<ArcSwap<State>>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        // Each request runs on the configuration current when it arrived.
        let state = state.load_full();
        async move { Ok::<_, Infallible>(handler::handle(&state, request).await) }
    });
    let result = match tls {
        None => {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            watcher.watch(connection.into_owned()).await
        }
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => {
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                watcher.watch(connection.into_owned()).await
            }
            Err(error) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
        },
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}
