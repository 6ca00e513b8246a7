//! Busbar's HTTP server: the ingress routes, the upstream client, and the
//! relay and translation of replies.
//!
//! # Request flow
//!
//! 1. [`handler`] gives every request an `x-request-id`, matches its route
//!    ([`ingress`]), authenticates it and serves the operational endpoints
//!    and, under governance, the admin API ([`admin`]).
//! 2. [`proxy`] reads the body (bounded by `limits.max_body_bytes`), peeks
//!    at `model` and `stream` without building a JSON tree ([`peek`]),
//!    resolves the name to a pool or model, has governance admit it
//!    ([`governance`]) and tries candidate lanes in the router's order, each
//!    under its concurrency permit. The admission travels with the reply
//!    ([`meter`]) and settles with the reply's real usage when it ends.
//! 3. Same protocol in and out: the body is forwarded with only the model
//!    replaced, and the reply's bytes are relayed frame by frame. Otherwise
//!    the request is decoded into `busbar-ir` and encoded for the upstream,
//!    and the reply — complete or streamed — is translated back
//!    ([`body`]), frame by frame for streams.
//! 4. Every failure is a [`GatewayError`], rendered in the client's own
//!    protocol in exactly one place ([`error`]).
//!
//! Only this crate does I/O. Nothing retries once a byte of the reply has
//! reached the client: after that an upstream failure becomes the
//! protocol's in-stream error event.

mod admin;
mod auth;
mod body;
mod client;
mod count;
mod error;
mod governance;
mod guard;
mod handler;
mod health;
mod ingress;
mod meter;
mod peek;
mod proxy;
mod server;
mod sigv4;
mod state;
mod telemetry;
mod tls;

pub use body::{Body, BodyError};
pub use error::{GatewayError, UpstreamError};
pub use server::{Reloader, Server};
pub use state::State;
pub use telemetry::{install_metrics, MetricsSlot};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration cannot be served (a protocol not supported yet, an
    /// upstream URL that does not parse, …).
    #[error("{0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// Governance is on and its store could not be opened.
    #[error(transparent)]
    Governance(#[from] busbar_governance::OpenError),
}
