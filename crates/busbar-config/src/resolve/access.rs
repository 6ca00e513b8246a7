//! Who may use the gateway: `auth:` and `governance:` in `config.yaml`, and
//! the rules that tie them together and to `listen`.

use std::path::PathBuf;

use super::{is_loopback, read_secret_var};
use crate::env::Env;
use crate::model::{Auth, AuthMode, Governance, GovernancePricing, Secret};
use crate::walk::{index, join, Fields, Walker};
use crate::yaml::Node;

const AUTH_FIELDS: [&str; 3] = ["mode", "client_tokens", "token"];
const GOVERNANCE_FIELDS: [&str; 9] = [
    "enabled",
    "db_path",
    "admin_token",
    "pricing",
    "price_per_request_cents",
    "price_per_1k_tokens_cents",
    "store",
    "secret_key_env",
    "fail_open",
];

/// Reads `auth`; the flag says whether the deprecated `auth.token` was used.
pub(super) fn auth(w: &mut Walker, top: &Fields<'_>) -> (Auth, bool) {
    let mut auth = Auth::default();
    let Some((path, node)) = top.get("auth") else {
        return (auth, false);
    };
    let Some(f) = w.object(&path, node, &AUTH_FIELDS) else {
        return (auth, false);
    };
    if let Some((p, n)) = f.get("mode") {
        // Case-insensitive, as Busbar 1.x reads it.
        let lowered = match n {
            Node::Str(s) => Node::Str(s.to_ascii_lowercase()),
            other => other.clone(),
        };
        let modes = [
            ("none", AuthMode::None),
            ("token", AuthMode::Token),
            ("passthrough", AuthMode::Passthrough),
        ];
        if let Some(mode) = w.choice(&p, &lowered, &modes) {
            auth.mode = mode;
        }
    }
    if let Some((p, n)) = f.get("client_tokens") {
        for (i, item) in w.list(&p, n).iter().enumerate() {
            if let Some(token) = token(w, &index(&p, i), item) {
                auth.client_tokens.push(token);
            }
        }
    }
    let mut deprecated = false;
    if let Some((p, n)) = f.get("token") {
        deprecated = true;
        if let Some(token) = token(w, &p, n) {
            if !auth.client_tokens.contains(&token) {
                auth.client_tokens.push(token);
            }
        }
    }
    (auth, deprecated)
}

fn token(w: &mut Walker, path: &str, node: &Node) -> Option<Secret> {
    let value = w.string(path, node)?;
    let problem = if value.is_empty() {
        "must not be empty"
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must not contain whitespace or control characters"
    } else {
        return Some(Secret::new(value));
    };
    w.error(path, problem);
    None
}

/// Reads `governance`. Variables it names are only read when it is enabled,
/// so a disabled section cannot stop the gateway from starting.
pub(super) fn governance(
    w: &mut Walker,
    top: &Fields<'_>,
    mode: AuthMode,
    env: &dyn Env,
    warnings: &mut Vec<String>,
) -> Governance {
    let mut g = Governance::default();
    let Some((path, node)) = top.get("governance") else {
        return g;
    };
    let Some(f) = w.object(&path, node, &GOVERNANCE_FIELDS) else {
        return g;
    };
    g.enabled = f.bool(w, "enabled").unwrap_or(false);
    g.fail_open = f.bool(w, "fail_open").unwrap_or(false);
    if let Some(db_path) = f.str(w, "db_path") {
        if db_path.is_empty() {
            w.error(&join(&path, "db_path"), "must not be empty");
        } else {
            g.db_path = PathBuf::from(db_path);
        }
    }
    if let Some((p, n)) = f.get("admin_token") {
        g.admin_token = token(w, &p, n);
    }
    for (key, slot) in [
        ("price_per_request_cents", &mut g.price_per_request_cents),
        (
            "price_per_1k_tokens_cents",
            &mut g.price_per_1k_tokens_cents,
        ),
    ] {
        if let Some(price) = f.number(w, key) {
            if price < 0.0 {
                w.error(&join(&path, key), "must be >= 0");
            } else {
                *slot = price;
            }
        }
    }
    if let Some(pricing) = f.str(w, "pricing") {
        let p = join(&path, "pricing");
        match [GovernancePricing::Flat, GovernancePricing::Catalog]
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(&pricing))
        {
            Some(mode) => g.pricing = mode,
            None => w.error(&p, "must be flat or catalog"),
        }
    }
    if let Some(store) = f.str(w, "store") {
        if store.starts_with("postgres://") || store.starts_with("postgresql://") {
            g.store = Some(Secret::new(store));
        } else {
            w.error(&join(&path, "store"), "must be a postgres:// URL");
        }
    }
    if let Some(name) = f.str(w, "secret_key_env") {
        let p = join(&path, "secret_key_env");
        if g.enabled {
            g.secret_key = read_secret_var(w, &p, &name, env).map(Secret::new);
        } else if !super::is_env_name(&name) {
            w.error(&p, "must be the name of an environment variable (letters, digits and `_`), not the secret itself");
        }
        g.secret_key_env = Some(name);
    }
    if g.enabled && mode == AuthMode::Passthrough {
        w.error(
            &join(&path, "enabled"),
            "governance cannot be enabled with auth.mode: passthrough (callers' provider keys would bypass virtual keys)",
        );
    }
    if g.enabled && g.admin_token.is_none() && !f.has("admin_token") {
        warnings.push(
            "governance.admin_token: not set; the admin API refuses every call, so virtual keys cannot be created or managed"
                .to_owned(),
        );
    }
    g
}

/// The rules between `auth`, `governance` and `listen`.
pub(super) fn check_auth(
    w: &mut Walker,
    auth: &Auth,
    governance: &Governance,
    listen: &str,
    warnings: &mut Vec<String>,
) {
    if governance.enabled {
        if !auth.client_tokens.is_empty() {
            warnings.push(
                "auth.client_tokens: ignored while governance is enabled; clients need virtual keys"
                    .to_owned(),
            );
        }
        return;
    }
    match auth.mode {
        AuthMode::Token if auth.client_tokens.is_empty() => {
            w.error(
                "auth.client_tokens",
                "must list at least one token under auth.mode: token",
            );
        }
        AuthMode::None | AuthMode::Passthrough if !auth.client_tokens.is_empty() => {
            warnings.push(format!(
                "auth.client_tokens: ignored under auth.mode: {}",
                auth.mode.as_str()
            ));
        }
        _ => {}
    }
    if auth.mode == AuthMode::None && !is_loopback(listen) {
        warnings.push(format!(
            "auth.mode: none while listening on {listen}: anyone who can reach it can spend your provider keys; set auth.mode: token or listen on 127.0.0.1"
        ));
    }
}
