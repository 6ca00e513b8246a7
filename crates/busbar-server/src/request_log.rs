//! The request log's sinks: a JSONL file rotated by size, and a webhook
//! that receives records in batched POSTs.
//!
//! Each sink runs on its own thread behind a bounded queue, so writing a
//! file or waiting on a slow receiver never touches a request: a record is
//! offered with `try_send` when its body ends (`record`), and one that
//! finds the queue full is dropped and counted in
//! `busbar_request_log_dropped_total{sink}`. The sinks end when the last
//! [`RequestLog`] holding their queues is dropped (a reload that changed
//! the settings, or shutdown), after writing what they hold.

mod file;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use busbar_config::Config;
use busbar_protocols::Protocol;
use tokio::sync::mpsc;

use crate::error::StartError;
use crate::record::{Bodies, Kind, Opening, Outlet, Record, Redactor, Sink};

/// The running sinks, shared by every request (and kept across reloads
/// that leave their settings alone).
#[derive(Clone)]
pub(crate) struct RequestLog {
    outlet: Arc<Outlet>,
    /// What the sinks were started from, to tell whether a reload changes
    /// them.
    settings: Arc<Settings>,
}

/// The parts of the configuration the sinks depend on.
#[derive(PartialEq)]
struct Settings {
    log: busbar_config::RequestLog,
    webhook: Option<String>,
    /// Every secret the configuration holds, for redacting logged bodies.
    secrets: Vec<String>,
}

impl RequestLog {
    /// The request log `config` asks for: `None` when it names no sink,
    /// `previous` again when nothing it depends on changed.
    pub(crate) fn for_config(
        config: &Config,
        previous: Option<&RequestLog>,
    ) -> Result<Option<Self>, StartError> {
        let observability = &config.observability;
        if !observability.logs_requests() {
            return Ok(None);
        }
        let settings = Settings {
            log: observability.request_log.clone(),
            webhook: observability.request_log_webhook_url.clone(),
            secrets: if observability.request_log.bodies {
                secrets(config)
            } else {
                Vec::new()
            },
        };
        if let Some(previous) = previous.filter(|previous| *previous.settings == settings) {
            return Ok(Some(previous.clone()));
        }
        Self::start(settings).map(Some)
    }

    fn start(settings: Settings) -> Result<Self, StartError> {
        let log = &settings.log;
        let capacity = usize::try_from(log.queue_records).unwrap_or(usize::MAX);
        let mut sinks = Vec::new();
        if let Some(path) = &log.file {
            let (queue, receiver) = mpsc::channel(capacity);
            file::start(path, log.max_bytes, log.keep, receiver)
                .map_err(|error| StartError::RequestLog(format!("{}: {error}", path.display())))?;
            sinks.push(Sink {
                name: "file",
                queue,
            });
        }
        if let Some(url) = &settings.webhook {
            let (queue, receiver) = mpsc::channel(capacity);
            let batching = webhook::Batching {
                records: usize::try_from(log.webhook_batch_records).unwrap_or(usize::MAX),
                wait: log.webhook_batch_wait,
            };
            webhook::start(url, batching, receiver)
                .map_err(|error| StartError::RequestLog(format!("{url}: {error}")))?;
            sinks.push(Sink {
                name: "webhook",
                queue,
            });
        }
        let bodies = log.bodies.then(|| Bodies {
            max_bytes: usize::try_from(log.body_max_bytes).unwrap_or(usize::MAX),
            redactor: Redactor::new(settings.secrets.iter().cloned()),
        });
        Ok(Self {
            outlet: Arc::new(Outlet::new(sinks, bodies)),
            settings: Arc::new(settings),
        })
    }

    /// Opens the record of a model request that arrived at `started`.
    pub(crate) fn open(
        &self,
        started: Instant,
        request_id: &str,
        client: SocketAddr,
        ingress: Protocol,
        kind: Kind,
        path: &str,
    ) -> Box<Record> {
        Record::open(
            &self.outlet,
            Opening {
                started,
                request_id,
                client,
                ingress,
                kind,
                path,
            },
        )
    }

    /// Has every sink write out what it holds (the webhook posts its
    /// batch), waiting at most `within`: at shutdown.
    pub(crate) async fn flush(&self, within: Duration) {
        self.outlet.flush(within).await;
    }
}

/// Every credential in `config`, for redaction.
fn secrets(config: &Config) -> Vec<String> {
    let mut secrets = Vec::new();
    for provider in config.providers.values() {
        if let Some(key) = &provider.api_key {
            secrets.push(key.expose().to_owned());
        }
        if let Some(keys) = provider.aws_credentials() {
            secrets.push(keys.secret_access_key.expose().to_owned());
            if let Some(token) = &keys.session_token {
                secrets.push(token.expose().to_owned());
            }
        }
    }
    for token in &config.auth.client_tokens {
        secrets.push(token.expose().to_owned());
    }
    if let Some(token) = &config.governance.admin_token {
        secrets.push(token.expose().to_owned());
    }
    secrets
}
