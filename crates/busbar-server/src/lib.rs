//! Busbar's HTTP server: the ingress routes, the upstream client, and the
//! relay and translation of replies.
//!
//! # Request flow
//!
//! 1. `handler` gives every request an `x-request-id` and matches its route
//!    (`ingress::routes`, which asks each protocol's `Wire`); `ops` serves
//!    the operational endpoints and, under governance, the admin API.
//! 2. `ingress` authenticates a model request (`ingress::auth`), reads its
//!    body within `limits.max_body_bytes`, and peeks at `model` and `stream`
//!    without building a JSON tree (`ingress::peek`).
//! 3. `proxy` resolves the name to a pool or model, has governance admit it
//!    (`governance`) and tries candidate lanes in the router's order, each
//!    under its concurrency permit (`proxy::attempt`), calling the lane's
//!    `upstream::Target`. Same protocol in and out: the body goes with only
//!    the model replaced and the reply is relayed frame by frame; otherwise
//!    both are translated through `busbar-ir`.
//! 4. The reply leaves as a `reply::Body` with the lane's guard and
//!    governance's meter inside, so the slot is held and the usage settled
//!    when the client has the last byte. With tracing on (`trace`), the
//!    request's spans ride there too and end with the body.
//! 5. Every failure is a [`GatewayError`], rendered in the client's own
//!    protocol in exactly one place (`error`).
//! 6. When a request log is configured, the request's `record` is filled
//!    along the way and written to the `request_log` sinks when the reply's
//!    body ends.
//!
//! Only this crate does I/O. Nothing retries once a byte of the reply has
//! reached the client: after that an upstream failure becomes the
//! protocol's in-stream error event.
//!
//! The modules below are layered: each imports only from those listed
//! before it (`tests/layers.rs` checks this).

// In layers, each importing only from those above it (blank lines keep
// rustfmt from sorting them):

// the connector of every outgoing HTTP client
mod https;

// what an upstream failure means (error_map → class)
mod failure;

// one request's log record, filled along its path
mod record;
// OpenTelemetry spans of a request and its attempts, and their export
mod trace;

// the reply body, the lane guard inside it, the governance meter
mod reply;

// the Prometheus recorder
mod telemetry;

// loading the certificate and key
mod tls;

// every error, and the one place errors become responses
mod error;

// the HTTP client, SigV4, each lane's target
mod upstream;

// the request log's sinks: the JSONL file, the webhook
mod request_log;

// the server's side of the governance crate
mod governance;

// everything a request needs, built from a configuration
mod state;

// routes, client authentication, the request body, peeking
mod ingress;

// the attempt plan, each attempt, token counting
mod proxy;

// health probing, /stats, /metrics, model lists, the admin API
mod ops;

// one request, from route to response
mod handler;

// listening, TLS, reloads, graceful shutdown
mod server;

pub use error::{GatewayError, StartError, UpstreamError};
pub use reply::{Body, BodyError};
pub use server::{Reloader, Server};
pub use state::State;
pub use telemetry::{install_metrics, metrics_ready, MetricsSlot};
pub use upstream::{describe_credentials, SourceError};
