//! `providers:` (catalog entries switched on, overridden, keys read) and
//! `models:` (lanes) in `config.yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{keys_required, read_secret_var};
use crate::catalog::{
    read_provider_fields, Catalog, PlatformKind, ProviderFields, PROVIDER_FIELDS,
};
use crate::env::Env;
use crate::model::{
    AuthMode, AuthScheme, AwsCredentials, Credentials, Health, Model, Platform, Protocol, Provider,
    Secret,
};
use crate::price;
use crate::ssrf;
use crate::walk::{join, suggest, Fields, Walker};

const MODEL_FIELDS: [&str; 6] = [
    "provider",
    "max_concurrent",
    "max_requests",
    "default_max_tokens",
    "upstream_model",
    "price",
];

/// Resolves every configured provider against the catalog.
///
/// Also returns every declared name, resolved or not, so a provider with a
/// bad field is not reported a second time by each model that uses it.
pub(super) fn providers(
    w: &mut Walker,
    top: &Fields<'_>,
    catalog: &Catalog,
    mode: AuthMode,
    env: &dyn Env,
) -> (BTreeMap<String, Provider>, BTreeSet<String>) {
    let mut out = BTreeMap::new();
    let mut declared = BTreeSet::new();
    let Some((section, node)) = top.get("providers") else {
        w.error(
            "providers",
            "required: at least one provider with its `api_key_env`",
        );
        return (out, declared);
    };
    let mut known = PROVIDER_FIELDS.to_vec();
    known.extend(["api_key_env", "credentials", "aws_profile"]);
    let entries = w.named(&section, node);
    if entries.is_empty() {
        w.error(&section, "must configure at least one provider");
    }
    for (name, node) in entries {
        let path = join(&section, name);
        declared.insert(name.clone());
        if !w.name(&path, name) {
            continue;
        }
        let Some(f) = w.object(&path, node, &known) else {
            continue;
        };
        let over = read_provider_fields(w, &f);
        let api_key_env = f.str(w, "api_key_env");
        let listed = catalog.entries.get(name);
        let protocol = over.protocol.or_else(|| listed.and_then(|c| c.protocol));
        let scheme = over
            .auth
            .or_else(|| listed.and_then(|c| c.auth))
            .unwrap_or_default();
        // Only a provider Busbar signs for (SigV4: Bedrock) needs an AWS key
        // pair; with `auth: bearer` it holds an API key like any other token.
        let sigv4 = protocol.is_some_and(|protocol| protocol.wire().sigv4_service().is_some())
            && scheme == AuthScheme::Native;
        let platform = over.platform.or_else(|| listed.and_then(|c| c.platform));
        let source = Source {
            sigv4: protocol.is_some().then_some(sigv4),
            platform,
        };
        let credentials = credentials(w, &f, source, mode);
        let api_key = match credentials {
            Some(Credentials::ApiKey) => api_key(w, &f, api_key_env.as_deref(), source, mode, env),
            _ => None,
        };
        let provider = merge(w, &path, name, catalog, &over);
        if let (Some(provider), Some(credentials)) = (provider, credentials) {
            out.insert(
                name.clone(),
                Provider {
                    credentials,
                    api_key_env,
                    api_key,
                    ..provider
                },
            );
        }
    }
    (out, declared)
}

/// The catalog entry (if any) with the deployment's fields over it.
fn merge(
    w: &mut Walker,
    path: &str,
    name: &str,
    catalog: &Catalog,
    over: &ProviderFields,
) -> Option<Provider> {
    let merged = match catalog.entries.get(name) {
        Some(base) => base.merged(over),
        None if over.protocol.is_some() && (over.base_url.is_some() || over.platform.is_some()) => {
            over.clone()
        }
        None => {
            let hint = suggest(name, catalog.names())
                .map(|close| format!(" (did you mean `{close}`?)"))
                .unwrap_or_default();
            w.error(
                path,
                format!("not in the provider catalog{hint}; define `protocol` and `base_url` here to add it inline"),
            );
            return None;
        }
    };
    let platform = match merged.platform {
        Some(kind) => Some(platform(w, path, kind, &merged)?),
        None => {
            for key in ["project", "location", "api_version"] {
                if over_has(&merged, key) {
                    w.error(&join(path, key), "applies only with a `platform:`");
                }
            }
            None
        }
    };
    let allow_private = merged.allow_private.unwrap_or(false);
    // A catalog URL was checked with the catalog's own `allow_private`; check
    // again only when this deployment changed the URL or that permission.
    let base_url = match &merged.base_url {
        Some(url) if over.base_url.is_some() || over.allow_private.is_some() => {
            match ssrf::check_base_url(url, allow_private) {
                Ok(url) => url,
                Err(reason) => {
                    w.error(&join(path, "base_url"), reason);
                    return None;
                }
            }
        }
        Some(url) => url.clone(),
        None => match &platform {
            Some(Platform::Vertex { location, .. }) => Platform::vertex_base_url(location),
            Some(Platform::Azure { .. }) => {
                w.error(
                    &join(path, "base_url"),
                    "required: your Azure OpenAI resource's endpoint, e.g. `https://NAME.openai.azure.com`",
                );
                return None;
            }
            // The catalog entry's own error was reported in providers.yaml.
            None => return None,
        },
    };
    let defaults = Health::default();
    Some(Provider {
        name: name.to_owned(),
        protocol: merged.protocol?,
        base_url,
        path: merged.path,
        auth: merged.auth.unwrap_or_default(),
        error_map: merged.error_map,
        health: Health {
            mode: merged.health_mode.unwrap_or_default(),
            interval: merged
                .health_interval
                .map_or(defaults.interval, Duration::from_secs),
            timeout: merged
                .health_timeout
                .map_or(defaults.timeout, Duration::from_secs),
        },
        region: merged.region,
        allow_private,
        platform,
        credentials: Credentials::ApiKey,
        api_key_env: None,
        api_key: None,
    })
}

/// Whether `key` of a platform's fields was set (in either file).
fn over_has(fields: &ProviderFields, key: &str) -> bool {
    match key {
        "project" => fields.project.is_some(),
        "location" => fields.location.is_some(),
        _ => fields.api_version.is_some(),
    }
}

/// The platform's resolved fields; `None` after an error.
fn platform(
    w: &mut Walker,
    path: &str,
    kind: PlatformKind,
    merged: &ProviderFields,
) -> Option<Platform> {
    let served: &[Protocol] = match kind {
        PlatformKind::Vertex => &[Protocol::Gemini, Protocol::Anthropic],
        PlatformKind::Azure => &[Protocol::OpenAi, Protocol::Responses],
    };
    let mut ok = true;
    if let Some(protocol) = merged.protocol.filter(|p| !served.contains(p)) {
        let names: Vec<&str> = served.iter().map(|p| p.name()).collect();
        w.error(
            &join(path, "platform"),
            format!(
                "`{}` serves the `{}` protocols, not `{}`",
                kind.as_str(),
                names.join("` and `"),
                protocol.name()
            ),
        );
        ok = false;
    }
    let foreign: &[&str] = match kind {
        PlatformKind::Vertex => &["api_version"],
        PlatformKind::Azure => &["project", "location"],
    };
    for key in foreign.iter().filter(|key| over_has(merged, key)) {
        w.error(
            &join(path, key),
            format!("does not apply to `platform: {}`", kind.as_str()),
        );
        ok = false;
    }
    let platform = match kind {
        PlatformKind::Vertex => {
            let Some(project) = merged.project.clone() else {
                w.error(
                    &join(path, "project"),
                    "required: the Google Cloud project to call Vertex AI in",
                );
                return None;
            };
            Platform::Vertex {
                project,
                location: merged.location.clone().unwrap_or_else(|| "global".into()),
            }
        }
        PlatformKind::Azure => Platform::Azure {
            api_version: merged.api_version.clone().unwrap_or_else(|| "v1".into()),
        },
    };
    ok.then_some(platform)
}

/// What decides which credential sources a provider can take.
#[derive(Debug, Clone, Copy)]
struct Source {
    /// Whether it signs with SigV4 (`None`: its protocol is unknown, an
    /// error reported elsewhere).
    sigv4: Option<bool>,
    /// The cloud platform it is called at.
    platform: Option<PlatformKind>,
}

/// Reads `credentials` and `aws_profile`; `None` after an error.
fn credentials(
    w: &mut Walker,
    f: &Fields<'_>,
    source: Source,
    mode: AuthMode,
) -> Option<Credentials> {
    let profile = f.get("aws_profile").and_then(|(path, node)| {
        w.string(&path, node).filter(|name| {
            let ok = !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                w.error(
                    &path,
                    "must be a profile name of the shared AWS config files",
                );
            }
            ok
        })
    });
    let Some((path, node)) = f.get("credentials") else {
        if f.has("aws_profile") {
            w.error(
                &join(f.path(), "aws_profile"),
                "applies only with `credentials: aws`",
            );
            return None;
        }
        return Some(Credentials::ApiKey);
    };
    let chosen = w.choice(
        &path,
        node,
        &[
            ("aws", Credentials::Aws { profile: None }),
            ("gcp", Credentials::Gcp),
            ("azure", Credentials::Azure),
        ],
    )?;
    let word = chosen.keyword().unwrap_or_default();
    let mut ok = f.has("aws_profile") == profile.is_some();
    if f.has("api_key_env") {
        w.error(
            &path,
            format!("`{word}` and `api_key_env` are two sources of the same credential; keep one"),
        );
        ok = false;
    }
    let misplaced = match chosen {
        Credentials::Aws { .. } => (source.sigv4 == Some(false)).then_some(
            "`aws` signs requests with SigV4, which only a `bedrock` or `bedrock-invoke` provider without `auth:` does",
        ),
        Credentials::Gcp => (source.platform != Some(PlatformKind::Vertex))
            .then_some("`gcp` mints Google access tokens, which only a `platform: vertex` provider takes"),
        _ => (source.platform != Some(PlatformKind::Azure))
            .then_some("`azure` mints Microsoft Entra ID tokens, which only a `platform: azure` provider takes"),
    };
    if let Some(reason) = misplaced {
        w.error(&path, reason);
        ok = false;
    }
    if profile.is_some() && !matches!(chosen, Credentials::Aws { .. }) {
        w.error(
            &join(f.path(), "aws_profile"),
            "applies only with `credentials: aws`",
        );
        ok = false;
    }
    if !keys_required(mode) {
        w.error(
            &path,
            "has no use under `auth.mode: passthrough`, where each caller's own credential goes upstream",
        );
        ok = false;
    }
    ok.then_some(match chosen {
        Credentials::Aws { .. } => Credentials::Aws { profile },
        other => other,
    })
}

/// Reads the provider's key. Required unless the caller's own credential is
/// forwarded (passthrough), where a key that happens to be set is still kept.
fn api_key(
    w: &mut Walker,
    f: &Fields<'_>,
    api_key_env: Option<&str>,
    source: Source,
    mode: AuthMode,
    env: &dyn Env,
) -> Option<Secret> {
    let sigv4 = source.sigv4 == Some(true);
    let path = join(f.path(), "api_key_env");
    let Some(name) = api_key_env else {
        if keys_required(mode) && !f.has("api_key_env") {
            let also = match source.platform {
                _ if sigv4 => ", or `credentials: aws` for the AWS default credential chain",
                Some(PlatformKind::Vertex) => {
                    ", or `credentials: gcp` for Google Application Default Credentials"
                }
                Some(PlatformKind::Azure) => ", or `credentials: azure` for Microsoft Entra ID",
                None => "",
            };
            w.error(
                &path,
                format!("required: the name of the environment variable holding this provider's key{also}"),
            );
        }
        return None;
    };
    if !keys_required(mode) {
        let value = env.var(name).filter(|v| !v.is_empty())?;
        return Some(Secret::new(value));
    }
    let value = read_secret_var(w, &path, name, env)?;
    if sigv4 && AwsCredentials::parse(&value).is_none() {
        w.error(
            &path,
            format!("environment variable `{name}` must hold ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]"),
        );
        return None;
    }
    Some(Secret::new(value))
}

/// Resolves every model against the declared providers; also returns every
/// declared model name.
pub(super) fn models(
    w: &mut Walker,
    top: &Fields<'_>,
    providers: &BTreeSet<String>,
    catalog: &Catalog,
    warnings: &mut Vec<String>,
) -> (BTreeMap<String, Model>, BTreeSet<String>) {
    let mut out = BTreeMap::new();
    let mut declared = BTreeSet::new();
    let Some((section, node)) = top.get("models") else {
        w.error("models", "required: at least one model");
        return (out, declared);
    };
    let entries = w.named(&section, node);
    if entries.is_empty() {
        w.error(&section, "must define at least one model");
    }
    let mut unpriced = Vec::new();
    for (name, node) in entries {
        let path = join(&section, name);
        declared.insert(name.clone());
        if !w.name(&path, name) {
            continue;
        }
        let Some(f) = w.object(&path, node, &MODEL_FIELDS) else {
            continue;
        };
        let provider = f.str(w, "provider");
        let provider = f.require(w, "provider", provider);
        let provider = provider.filter(|p| {
            let known = providers.contains(p);
            if !known {
                provider_reference_error(w, &join(&path, "provider"), p, providers, catalog);
            }
            known
        });
        let max_concurrent = f.at_least(w, "max_concurrent", 1);
        let max_concurrent = f.require(w, "max_concurrent", max_concurrent);
        let max_requests = match f.get("max_requests") {
            None => Some(None),
            Some((p, node)) => match w.integer(&p, node) {
                Some(-1) => Some(None),
                Some(n) if n >= 1 => u64::try_from(n).ok().map(Some),
                Some(_) => {
                    w.error(&p, "must be -1 (unlimited) or a positive budget");
                    None
                }
                None => None,
            },
        };
        let default_max_tokens = f.at_least(w, "default_max_tokens", 1);
        let upstream_model = f.str(w, "upstream_model").filter(|id| {
            let ok = !id.is_empty() && !id.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                w.error(
                    &join(&path, "upstream_model"),
                    "must be non-empty without whitespace or control characters",
                );
            }
            ok
        });
        let price = f
            .get("price")
            .map(|(path, node)| price::read::price(w, &path, node));
        if let (Some(provider), Some(max_concurrent), Some(max_requests)) =
            (provider, max_concurrent, max_requests)
        {
            let upstream_model = upstream_model.unwrap_or_else(|| name.clone());
            let listing = catalog.listing(&provider, &upstream_model).cloned();
            // A price with an error was reported; it is no missing price.
            let price = match price {
                Some(written) => written,
                None => listing.as_ref().map(|listing| listing.price.clone()),
            };
            if price.is_none() && f.get("price").is_none() {
                unpriced.push(format!("`{name}` (`{upstream_model}` at `{provider}`)"));
            }
            out.insert(
                name.clone(),
                Model {
                    name: name.clone(),
                    provider,
                    max_concurrent,
                    max_requests,
                    default_max_tokens: default_max_tokens.unwrap_or(4096),
                    upstream_model,
                    price,
                    listing,
                },
            );
        }
    }
    if !unpriced.is_empty() {
        warnings.push(format!(
            "models: the catalog has no price for {}, so their tokens are counted but not their cost; set models.NAME.price (`{{input: 0, output: 0}}` for a free model)",
            unpriced.join(", ")
        ));
    }
    (out, declared)
}

fn provider_reference_error(
    w: &mut Walker,
    path: &str,
    name: &str,
    providers: &BTreeSet<String>,
    catalog: &Catalog,
) {
    let reason = if catalog.entries.contains_key(name) {
        format!("`{name}` is in the catalog but not configured; add it under `providers:` with its `api_key_env`")
    } else {
        let hint = suggest(name, providers.iter().map(String::as_str))
            .map(|close| format!("; did you mean `{close}`?"))
            .unwrap_or_default();
        format!("`{name}` is not a configured provider{hint}")
    };
    w.error(path, reason);
}
