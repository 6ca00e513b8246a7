//! The listening socket, the accept loop with its connection caps, and
//! graceful shutdown.

mod accept;
mod admission;
mod connection;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::state::{ConnectionBounds, State};
use crate::StartError;
use accept::AcceptErrors;
use admission::Admission;
use connection::Connection;

/// How long streams cut at the end of the shutdown grace have to write
/// their closing error event before their connections are closed.
const CUTOFF_FLUSH: Duration = Duration::from_secs(1);

/// How long the request log's sinks have, at exit, to write what they hold.
const REQUEST_LOG_FLUSH: Duration = Duration::from_secs(5);
/// How long the spans still queued at shutdown have to reach the collector.
const TRACE_FLUSH: Duration = Duration::from_secs(5);

/// A bound, ready-to-run Busbar server.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ArcSwap<State>>,
    reloads: Arc<AtomicU64>,
}

/// Replaces a running server's configuration.
#[derive(Clone)]
pub struct Reloader {
    state: Arc<ArcSwap<State>>,
    /// Counts reloads, so a governor that finishes opening after a newer
    /// reload does not swap an older configuration back in.
    generation: Arc<AtomicU64>,
}

impl Reloader {
    /// Swaps in `config` atomically: requests already in flight finish on
    /// the configuration they started with. The listen address and TLS
    /// files are bound at start and are not changed by a reload.
    ///
    /// Unchanged `governance` settings keep the running governor (and its
    /// store connection). Changed ones need a new governor, which opens
    /// asynchronously: the rest of `config` is checked now, and the new
    /// configuration is swapped in once the store is open, or, if it cannot
    /// be opened, logged and never applied. That needs a tokio runtime.
    pub fn reload(&self, config: &busbar_config::Config) -> Result<(), StartError> {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let current = self.state.load();
        if config.listen != current.listen {
            tracing::warn!(
                listen = %config.listen,
                "a changed listen address takes effect only after a restart"
            );
        }
        if config.observability.otlp_endpoint.as_deref()
            != current.tracer.as_ref().map(|tracer| tracer.endpoint())
        {
            tracing::warn!(
                "a changed observability.otlp_endpoint takes effect only after a restart"
            );
        }
        if ConnectionBounds::new(&config.limits) != current.limits.connections {
            tracing::warn!(
                "changed connection bounds (header_read_timeout_secs … max_connections_per_ip) take effect only after a restart"
            );
        }
        if let Some(governor) = current.governor_for(&config.governance) {
            let next = current.successor(config, governor)?;
            self.state.store(Arc::new(next));
            return Ok(());
        }
        // Everything but the governor is checked before answering.
        current.successor(config, None)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StartError::Config("changed governance settings need a tokio runtime to open".into())
        })?;
        let reloader = self.clone();
        let config = config.clone();
        runtime.spawn(async move {
            let governance = match crate::governance::Governance::open(&config.governance).await {
                Ok(governance) => Arc::new(governance),
                Err(error) => {
                    tracing::error!(%error, "reload refused: the new governance store cannot be opened; keeping the running configuration");
                    return;
                }
            };
            if reloader.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            match reloader.state.load().successor(&config, Some(governance)) {
                Ok(next) => {
                    reloader.state.store(Arc::new(next));
                    tracing::info!("new governance settings in force");
                }
                Err(error) => tracing::error!(%error, "reload refused; keeping the running configuration"),
            }
        });
        Ok(())
    }
}

impl Server {
    /// Binds the listening socket. The port accepts connections as soon as
    /// this returns, before [`Server::run`] is called.
    ///
    /// When governance is on and `state` did not come from [`State::open`],
    /// its store is opened here, before the port is bound.
    pub async fn bind(mut state: State) -> Result<Self, StartError> {
        state.open_governance().await?;
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
            reloads: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A handle that replaces the configuration while the server runs.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            state: self.state.clone(),
            generation: self.reloads.clone(),
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
            reloads: _,
        } = self;
        let (grace, bounds, tracer) = {
            let current = state.load();
            (
                current.limits.shutdown_grace,
                current.limits.connections,
                current.tracer.clone(),
            )
        };
        let prober = tokio::spawn(crate::ops::health::run(state.clone()));
        let builder = Arc::new(connection::builder(&bounds));
        let admission = Admission::new(bounds.max_connections, bounds.max_connections_per_ip);
        tracing::info!(
            max_connections = admission.max_total(),
            max_connections_per_ip = bounds.max_connections_per_ip,
            "client connection caps"
        );
        let (stopping, stop) = watch::channel(false);
        let mut accept_errors = AcceptErrors::default();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        let pause = accept_errors.failed(&error, std::time::Instant::now());
                        tokio::select! {
                            () = tokio::time::sleep(pause) => continue,
                            () = &mut shutdown => break,
                        }
                    }
                },
                () = &mut shutdown => break,
            };
            accept_errors.succeeded();
            let admitted = match admission.admit(peer.ip()) {
                Ok(admitted) => admitted,
                Err(over) => {
                    admission::refuse(stream, over, tls.is_none());
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let connection = Connection {
                stream,
                peer,
                tls: tls.clone(),
                state: state.clone(),
                builder: builder.clone(),
                bounds,
                shutdown: stop.clone(),
                admitted,
            };
            tokio::spawn(connection.serve());
        }
        drop(listener);
        prober.abort();
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: draining in-flight requests"
        );
        let _ = stopping.send(true);
        let drained = admission.all_closed();
        tokio::pin!(drained);
        tokio::select! {
            () = &mut drained => {
                tracing::info!("all connections drained");
                flush_request_log(&state).await;
                flush_traces(tracer).await;
                return;
            }
            () = tokio::time::sleep(grace) => {}
        }
        // Streams still open end with their format's error event and a
        // clean end of body; they get a moment to write it.
        state.load().cutoff.cut();
        if grace.is_zero()
            || tokio::time::timeout(CUTOFF_FLUSH, &mut drained)
                .await
                .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        } else {
            tracing::info!("grace period over; open streams were ended with an error event");
        }
        flush_request_log(&state).await;
        flush_traces(tracer).await;
    }
}

/// Has the request log write out what it holds before the process exits.
async fn flush_request_log(state: &ArcSwap<State>) {
    let log = state.load().request_log.clone();
    if let Some(log) = log {
        log.flush(REQUEST_LOG_FLUSH).await;
    }
}

/// Exports the spans still queued, for at most [`TRACE_FLUSH`].
async fn flush_traces(tracer: Option<crate::trace::Tracer>) {
    if let Some(tracer) = tracer {
        tracer.flush(TRACE_FLUSH).await;
    }
}
