//! `config.yaml`: the walk from raw text to a resolved [`Config`].
//!
//! Sections are read in dependency order (auth before providers, because
//! passthrough waives keys; providers before models; models before pools),
//! which is also the order docs/configuration.md documents them in. Every section is read
//! even after errors, so one run reports everything; the partly built
//! [`Config`] is thrown away if anything was reported.

mod access;
mod pools;
mod providers;

use std::net::SocketAddr;
use std::time::Duration;

use crate::catalog::{self, Catalog};
use crate::env::{self, Env};
use crate::error::{ConfigError, ConfigErrors};
use crate::model::{AuthMode, Config, Limits, Observability, RequestLog, Tls};
use crate::walk::{join, Fields, Walker};
use crate::yaml::{self, Node};
use crate::Loaded;

/// One file's label (for messages) and text.
pub(crate) struct Source<'a> {
    pub(crate) label: &'a str,
    pub(crate) text: &'a str,
}

const TOP_FIELDS: [&str; 9] = [
    "listen",
    "tls",
    "auth",
    "providers",
    "models",
    "pools",
    "governance",
    "limits",
    "observability",
];

/// Expands, parses and resolves both files.
pub(crate) fn load(
    providers: Source<'_>,
    config: Source<'_>,
    env: &dyn Env,
) -> Result<Loaded, ConfigErrors> {
    let mut errors = Vec::new();
    let catalog_doc = parse(&providers, env, &mut errors);
    let config_doc = parse(&config, env, &mut errors);
    let (Some(catalog_doc), Some(config_doc)) = (catalog_doc, config_doc) else {
        return Err(ConfigErrors::new(errors));
    };

    let mut w = Walker::new(providers.label);
    let catalog = catalog::read(&mut w, &catalog_doc);
    errors.extend(w.into_errors());

    let mut w = Walker::new(config.label);
    let mut warnings = Vec::new();
    let resolved = resolve(&mut w, &config_doc, &catalog, env, &mut warnings);
    errors.extend(w.into_errors());

    if errors.is_empty() {
        tracing::debug!(
            providers = resolved.providers.len(),
            models = resolved.models.len(),
            pools = resolved.pools.len(),
            "configuration loaded"
        );
        Ok(Loaded {
            config: resolved,
            warnings,
        })
    } else {
        Err(ConfigErrors::new(errors))
    }
}

fn parse(source: &Source<'_>, env: &dyn Env, errors: &mut Vec<ConfigError>) -> Option<Node> {
    let text = match env::expand(source.text, env) {
        Ok(text) => text,
        Err(failures) => {
            errors.extend(
                failures
                    .into_iter()
                    .map(|(line, source_error)| ConfigError::Env {
                        file: source.label.to_owned(),
                        line,
                        source: source_error,
                    }),
            );
            return None;
        }
    };
    yaml::parse(&text)
        .map_err(|reason| {
            errors.push(ConfigError::Yaml {
                file: source.label.to_owned(),
                reason,
            })
        })
        .ok()
}

fn resolve(
    w: &mut Walker,
    doc: &Node,
    catalog: &Catalog,
    env: &dyn Env,
    warnings: &mut Vec<String>,
) -> Config {
    let empty = Fields::empty();
    let top = w.object("", doc, &TOP_FIELDS).unwrap_or(empty);

    let listen = listen(w, &top);
    let tls = top.get("tls").and_then(|(path, node)| tls(w, &path, node));
    let (auth, deprecated_token) = access::auth(w, &top);
    if deprecated_token {
        warnings.push(
            "auth.token: deprecated; its value was added to auth.client_tokens (move it there)"
                .to_owned(),
        );
    }

    let (providers, provider_names) = providers::providers(w, &top, catalog, auth.mode, env);
    let (models, model_names) = providers::models(w, &top, &provider_names, catalog, warnings);
    let pools = pools::pools(w, &top, &model_names, &provider_names);
    let governance = access::governance(w, &top, auth.mode, env, warnings);
    let limits = limits(w, &top);
    let observability = observability(w, &top);
    if observability.request_log != RequestLog::default() && !observability.logs_requests() {
        warnings.push(
            "observability.request_log: neither `file` nor `observability.request_log_webhook_url` is set, so no request is logged"
                .to_owned(),
        );
    }
    // Rules that span sections come last, after each section's own checks.
    access::check_auth(w, &auth, &governance, &listen, warnings);

    Config {
        listen,
        tls,
        auth,
        providers,
        models,
        pools,
        governance,
        limits,
        observability,
    }
}

/// `listen`: a socket address, or `host:port` with a host name.
fn listen(w: &mut Walker, top: &Fields<'_>) -> String {
    const DEFAULT: &str = "0.0.0.0:8080";
    let Some((path, node)) = top.get("listen") else {
        return DEFAULT.to_owned();
    };
    let Some(value) = w.string(&path, node) else {
        return DEFAULT.to_owned();
    };
    let named_host = value.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok()
    });
    if value.parse::<SocketAddr>().is_err() && !named_host {
        w.error(
            &path,
            "must be `host:port`, e.g. `0.0.0.0:8080` or `[::1]:8080`",
        );
    }
    value
}

/// Whether `listen` only accepts connections from this machine.
pub(crate) fn is_loopback(listen: &str) -> bool {
    match listen.parse::<SocketAddr>() {
        Ok(addr) => addr.ip().is_loopback(),
        Err(_) => listen
            .rsplit_once(':')
            .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
    }
}

fn tls(w: &mut Walker, path: &str, node: &Node) -> Option<Tls> {
    let f = w.object(path, node, &["cert_file", "key_file"])?;
    let mut file = |key: &str| {
        let value = f.str(w, key);
        let value = f.require(w, key, value)?;
        if value.is_empty() {
            w.error(&crate::walk::join(path, key), "must not be empty");
            return None;
        }
        Some(value.into())
    };
    let cert_file = file("cert_file");
    let key_file = file("key_file");
    Some(Tls {
        cert_file: cert_file?,
        key_file: key_file?,
    })
}

fn limits(w: &mut Walker, top: &Fields<'_>) -> Limits {
    let mut limits = Limits::default();
    let Some((path, node)) = top.get("limits") else {
        return limits;
    };
    let Some(f) = w.object(
        &path,
        node,
        &[
            "max_body_bytes",
            "max_buffered_body_bytes",
            "connect_timeout_secs",
            "first_byte_timeout_secs",
            "idle_timeout_secs",
            "shutdown_grace_secs",
            "header_read_timeout_secs",
            "body_read_timeout_secs",
            "keepalive_idle_secs",
            "http2_max_streams",
            "http2_keepalive_interval_secs",
            "http2_keepalive_timeout_secs",
            "max_connections",
            "max_connections_per_ip",
        ],
    ) else {
        return limits;
    };
    let secs = Duration::from_secs;
    if let Some(v) = f.at_least(w, "max_body_bytes", 1) {
        limits.max_body_bytes = v;
    }
    if let Some(v) = f.at_least(w, "max_buffered_body_bytes", 1) {
        limits.max_buffered_body_bytes = v;
    }
    if limits.max_buffered_body_bytes < limits.max_body_bytes {
        w.error(
            &join(&path, "max_buffered_body_bytes"),
            format!(
                "must be at least max_body_bytes ({}), or a body of the largest allowed size could never be read",
                limits.max_body_bytes
            ),
        );
    }
    if let Some(v) = f.at_least(w, "connect_timeout_secs", 1) {
        limits.connect_timeout = secs(v);
    }
    if let Some(v) = f.at_least(w, "first_byte_timeout_secs", 1) {
        limits.first_byte_timeout = secs(v);
    }
    if let Some(v) = f.at_least(w, "idle_timeout_secs", 1) {
        limits.idle_timeout = secs(v);
    }
    if let Some(v) = f.at_least(w, "shutdown_grace_secs", 0) {
        limits.shutdown_grace = secs(v);
    }
    if let Some(v) = f.at_least(w, "header_read_timeout_secs", 1) {
        limits.header_read_timeout = secs(v);
    }
    if let Some(v) = f.at_least(w, "body_read_timeout_secs", 1) {
        limits.body_read_timeout = secs(v);
    }
    if let Some(v) = f.at_least(w, "keepalive_idle_secs", 1) {
        limits.keepalive_idle = secs(v);
    }
    if let Some(v) = f.at_least(w, "http2_max_streams", 1) {
        limits.http2_max_streams = v;
    }
    if let Some(v) = f.at_least(w, "http2_keepalive_interval_secs", 1) {
        limits.http2_keepalive_interval = secs(v);
    }
    if let Some(v) = f.at_least(w, "http2_keepalive_timeout_secs", 1) {
        limits.http2_keepalive_timeout = secs(v);
    }
    match f.get("max_connections") {
        // `auto`: the server derives it from its open-file limit.
        Some((_, Node::Str(word))) if word == "auto" => {}
        Some((path, Node::Str(_))) => w.error(&path, "expected a whole number >= 1 or `auto`"),
        Some(_) => limits.max_connections = f.at_least(w, "max_connections", 1),
        None => {}
    }
    if let Some(v) = f.at_least(w, "max_connections_per_ip", 1) {
        limits.max_connections_per_ip = v;
    }
    limits
}

fn observability(w: &mut Walker, top: &Fields<'_>) -> Observability {
    let mut out = Observability::default();
    let Some((path, node)) = top.get("observability") else {
        return out;
    };
    let Some(f) = w.object(
        &path,
        node,
        &["otlp_endpoint", "request_log_webhook_url", "request_log"],
    ) else {
        return out;
    };
    if let Some((path, node)) = f.get("request_log") {
        out.request_log = request_log(w, &path, node);
    }
    out.otlp_endpoint = otlp_endpoint(w, &f);
    out.request_log_webhook_url = web_url(w, &f, "request_log_webhook_url");
    out
}

/// An `http://` or `https://` URL at `key`.
fn web_url(w: &mut Walker, f: &Fields<'_>, key: &str) -> Option<String> {
    let (path, node) = f.get(key)?;
    let value = w.string(&path, node)?;
    let ok = (value.starts_with("http://") || value.starts_with("https://"))
        && value.len() > "https://".len()
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        w.error(&path, "must be an http:// or https:// URL");
    }
    ok.then_some(value)
}

/// `observability.otlp_endpoint`: the scheme says the transport, OTLP over
/// HTTP/protobuf (`http://`, `https://`) or over gRPC (`grpc://` in the
/// clear, `grpcs://` with TLS), and a host must follow it.
fn otlp_endpoint(w: &mut Walker, f: &Fields<'_>) -> Option<String> {
    let (path, node) = f.get("otlp_endpoint")?;
    let value = w.string(&path, node)?;
    let rest = ["http://", "https://", "grpc://", "grpcs://"]
        .iter()
        .find_map(|scheme| value.strip_prefix(scheme));
    let ok = rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        w.error(
            &path,
            "must be an http://, https:// (OTLP/HTTP), grpc:// or grpcs:// (OTLP/gRPC) URL",
        );
    }
    ok.then_some(value)
}

/// `observability.request_log`: the file sink, body capture and queues.
fn request_log(w: &mut Walker, path: &str, node: &Node) -> RequestLog {
    let mut out = RequestLog::default();
    let Some(f) = w.object(
        path,
        node,
        &[
            "file",
            "max_bytes",
            "keep",
            "bodies",
            "body_max_bytes",
            "queue_records",
            "webhook_batch_records",
            "webhook_batch_ms",
        ],
    ) else {
        return out;
    };
    if let Some(file) = f.str(w, "file") {
        if file.is_empty() {
            w.error(&join(path, "file"), "must not be empty");
        } else {
            out.file = Some(file.into());
        }
    }
    // Below a few records per file, rotation would churn on every write.
    if let Some(v) = f.at_least(w, "max_bytes", 4096) {
        out.max_bytes = v;
    }
    if let Some(v) = f.at_least(w, "keep", 0) {
        out.keep = v;
    }
    if let Some(v) = f.bool(w, "bodies") {
        out.bodies = v;
    }
    if let Some(v) = f.at_least(w, "body_max_bytes", 1) {
        out.body_max_bytes = v;
    }
    if let Some(v) = f.at_least(w, "queue_records", 1) {
        out.queue_records = v;
    }
    if let Some(v) = f.at_least(w, "webhook_batch_records", 1) {
        out.webhook_batch_records = v;
    }
    if let Some(v) = f.at_least(w, "webhook_batch_ms", 1) {
        out.webhook_batch_wait = Duration::from_millis(v);
    }
    out
}

/// Whether `name` is a valid environment variable name, the only thing
/// `api_key_env` and `secret_key_env` may hold (a key pasted there by mistake
/// is refused without being echoed).
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reads a credential variable named in the configuration, reporting an
/// unset, empty or malformed value at `path` without echoing it.
pub(crate) fn read_secret_var(
    w: &mut Walker,
    path: &str,
    name: &str,
    env: &dyn Env,
) -> Option<String> {
    if !is_env_name(name) {
        w.error(
            path,
            "must be the name of an environment variable (letters, digits and `_`), not the secret itself",
        );
        return None;
    }
    let problem = match env.var(name) {
        None => "is not set",
        Some(value) if value.is_empty() => "is empty",
        Some(value)
            if value
                .chars()
                .any(|c| c.is_whitespace() || env::is_forbidden_char(c)) =>
        {
            "holds whitespace or control characters"
        }
        Some(value) => return Some(value),
    };
    w.error(path, format!("environment variable `{name}` {problem}"));
    None
}

/// The auth mode's effect on whether provider keys are needed.
pub(crate) fn keys_required(mode: AuthMode) -> bool {
    mode != AuthMode::Passthrough
}
