//! `providers.yaml`, and the provider fields it shares with `config.yaml`.
//!
//! The same fields may appear in a catalog entry and, as overrides, under
//! `providers.NAME` in `config.yaml`, so both files read them here into
//! [`ProviderFields`], whose every field is optional; merging and the
//! required-field checks happen in `resolve`.

use std::collections::BTreeMap;

use crate::model::{AuthScheme, FailureClass, HealthMode, Protocol};
use crate::price::{self, Listing};
use crate::ssrf;
use crate::walk::{join, Fields, Walker};
use crate::yaml::Node;

/// The fields a catalog entry may set, which `config.yaml` may override.
pub(crate) const PROVIDER_FIELDS: [&str; 12] = [
    "protocol",
    "base_url",
    "path",
    "auth",
    "error_map",
    "health",
    "region",
    "allow_private",
    "platform",
    "project",
    "location",
    "api_version",
];

/// The cloud platform named by `platform:`, before its own fields are
/// resolved into a [`crate::model::Platform`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlatformKind {
    Vertex,
    Azure,
}

impl PlatformKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PlatformKind::Vertex => "vertex",
            PlatformKind::Azure => "azure",
        }
    }
}

/// Fields only the catalog has: the models a provider serves, with their
/// prices and limits, and where those prices were read.
const CATALOG_ONLY_FIELDS: [&str; 2] = ["models", "price_source"];

const HEALTH_FIELDS: [&str; 3] = ["mode", "interval_secs", "timeout_secs"];

/// Provider settings as written, before defaults and merging.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderFields {
    pub(crate) protocol: Option<Protocol>,
    /// As written; checked once the effective `allow_private` is known.
    pub(crate) base_url: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) auth: Option<AuthScheme>,
    pub(crate) error_map: BTreeMap<String, FailureClass>,
    pub(crate) health_mode: Option<HealthMode>,
    pub(crate) health_interval: Option<u64>,
    pub(crate) health_timeout: Option<u64>,
    pub(crate) region: Option<String>,
    pub(crate) allow_private: Option<bool>,
    pub(crate) platform: Option<PlatformKind>,
    pub(crate) project: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) api_version: Option<String>,
}

impl ProviderFields {
    /// `over`'s fields replace these where set; error maps merge key by key.
    pub(crate) fn merged(&self, over: &ProviderFields) -> ProviderFields {
        let mut error_map = self.error_map.clone();
        error_map.extend(over.error_map.iter().map(|(k, v)| (k.clone(), *v)));
        ProviderFields {
            protocol: over.protocol.or(self.protocol),
            base_url: over.base_url.clone().or_else(|| self.base_url.clone()),
            path: over.path.clone().or_else(|| self.path.clone()),
            auth: over.auth.or(self.auth),
            error_map,
            health_mode: over.health_mode.or(self.health_mode),
            health_interval: over.health_interval.or(self.health_interval),
            health_timeout: over.health_timeout.or(self.health_timeout),
            region: over.region.clone().or_else(|| self.region.clone()),
            allow_private: over.allow_private.or(self.allow_private),
            platform: over.platform.or(self.platform),
            project: over.project.clone().or_else(|| self.project.clone()),
            location: over.location.clone().or_else(|| self.location.clone()),
            api_version: over
                .api_version
                .clone()
                .or_else(|| self.api_version.clone()),
        }
    }
}

/// Reads the shared provider fields from an already opened mapping.
pub(crate) fn read_provider_fields(w: &mut Walker, f: &Fields<'_>) -> ProviderFields {
    let protocols: Vec<(&str, Protocol)> = Protocol::ALL.iter().map(|p| (p.name(), *p)).collect();
    let mut out = ProviderFields {
        protocol: f
            .get("protocol")
            .and_then(|(path, node)| w.choice(&path, node, &protocols)),
        base_url: f.str(w, "base_url"),
        auth: f.get("auth").and_then(|(path, node)| {
            w.choice(
                &path,
                node,
                &[
                    ("bearer", AuthScheme::Bearer),
                    ("api-key", AuthScheme::ApiKey),
                ],
            )
        }),
        allow_private: f.bool(w, "allow_private"),
        platform: f.get("platform").and_then(|(path, node)| {
            w.choice(
                &path,
                node,
                &[
                    ("vertex", PlatformKind::Vertex),
                    ("azure", PlatformKind::Azure),
                ],
            )
        }),
        ..ProviderFields::default()
    };
    // Each lands in a URL: a path segment (project, location) or a query
    // value (api_version), so only the characters their vendors use.
    let word = |w: &mut Walker, key: &str, what: &str, ok: fn(u8) -> bool| {
        let (path, node) = f.get(key)?;
        w.string(&path, node).filter(|value| {
            let fine = !value.is_empty() && value.bytes().all(ok);
            if !fine {
                w.error(&path, format!("must be {what}"));
            }
            fine
        })
    };
    out.project = word(
        w,
        "project",
        "a Google Cloud project id such as `my-project-123`",
        |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b),
    );
    out.location = word(
        w,
        "location",
        "a Vertex AI location such as `us-central1`, `global`, `us` or `eu`",
        |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-',
    );
    out.api_version = word(
        w,
        "api_version",
        "`v1` or a dated Azure OpenAI API version such as `2024-10-21`",
        |b| b.is_ascii_alphanumeric() || b"-.".contains(&b),
    );
    if let Some((path, node)) = f.get("path") {
        out.path = w.string(&path, node).filter(|value| {
            let problem = if !value.starts_with('/') {
                Some("must start with `/`")
            } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Some("must not contain whitespace or control characters")
            } else if value.contains('#') {
                Some("must not contain a fragment (`#`)")
            } else {
                None
            };
            problem.map(|p| w.error(&path, p)).is_none()
        });
    }
    if let Some((path, node)) = f.get("region") {
        out.region = w.string(&path, node).filter(|region| {
            let ok = !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                w.error(&path, "must be an AWS region such as `us-east-1`");
            }
            ok
        });
    }
    if let Some((path, node)) = f.get("error_map") {
        let classes: Vec<(&str, FailureClass)> =
            FailureClass::ALL.iter().map(|c| (c.as_str(), *c)).collect();
        for (code, class) in w.named(&path, node) {
            let code_path = join(&path, code);
            if let Some(class) = w.choice(&code_path, class, &classes) {
                out.error_map.insert(code.clone(), class);
            }
        }
    }
    if let Some((path, node)) = f.get("health") {
        if let Some(h) = w.object(&path, node, &HEALTH_FIELDS) {
            out.health_mode = h.get("mode").and_then(|(p, n)| {
                w.choice(
                    &p,
                    n,
                    &[
                        ("none", HealthMode::None),
                        ("dead", HealthMode::Dead),
                        ("active", HealthMode::Active),
                    ],
                )
            });
            out.health_interval = h.at_least(w, "interval_secs", 1);
            out.health_timeout = h.at_least(w, "timeout_secs", 1);
        }
    }
    out
}

/// The parsed catalog.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// Entries by name; `base_url` already checked and trimmed.
    pub(crate) entries: BTreeMap<String, ProviderFields>,
    /// Each entry's `models`, by entry name: upstream id → listing.
    pub(crate) listings: BTreeMap<String, BTreeMap<String, Listing>>,
}

impl Catalog {
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// What provider `provider` lists for upstream model `id`, by the id or
    /// one of its aliases.
    pub(crate) fn listing(&self, provider: &str, id: &str) -> Option<&Listing> {
        price::lookup(self.listings.get(provider)?, id)
    }
}

/// Reads `providers.yaml`: `providers: {NAME: ENTRY}`, or the entries at top
/// level as Busbar 1.x writes them.
pub(crate) fn read(w: &mut Walker, doc: &Node) -> Catalog {
    let wrapped =
        matches!(doc, Node::Map(entries) if entries.iter().any(|(k, _)| k == "providers"));
    let (prefix, entries) = if wrapped {
        let top = w.object("", doc, &["providers"]);
        let node = top
            .and_then(|t| t.get("providers"))
            .map(|(_, n)| n)
            .unwrap_or(&Node::Null);
        ("providers", w.named("providers", node))
    } else {
        ("", w.named("", doc))
    };
    let mut catalog = Catalog::default();
    for (name, node) in entries {
        let path = join(prefix, name);
        if !w.name(&path, name) {
            continue;
        }
        let known: Vec<&str> = PROVIDER_FIELDS
            .iter()
            .chain(&CATALOG_ONLY_FIELDS)
            .copied()
            .collect();
        let Some(f) = w.object(&path, node, &known) else {
            continue;
        };
        let mut fields = read_provider_fields(w, &f);
        if let Some((path, node)) = f.get("models") {
            let listings = price::read::listings(w, &path, node);
            catalog.listings.insert(name.clone(), listings);
        }
        if let Some((path, node)) = f.get("price_source") {
            price::read::source(w, &path, node);
        }
        f.require(w, "protocol", fields.protocol);
        // A platform's endpoint is the deployment's: Vertex's follows from
        // its location, Azure's is the customer's own resource.
        let base_url = if fields.platform.is_some() {
            fields.base_url.take()
        } else {
            f.require(w, "base_url", fields.base_url.take())
        };
        fields.base_url = base_url.and_then(|raw| {
            match ssrf::check_base_url(&raw, fields.allow_private.unwrap_or(false)) {
                Ok(url) => Some(url),
                Err(reason) => {
                    w.error(&join(&path, "base_url"), reason);
                    None
                }
            }
        });
        catalog.entries.insert(name.clone(), fields);
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str) -> (Catalog, Vec<String>) {
        let mut w = Walker::new("providers.yaml");
        let catalog = read(&mut w, &crate::yaml::parse(text).unwrap());
        (
            catalog,
            w.into_errors().iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn top_level_and_wrapped_forms_are_equivalent() {
        let entry = "openai:\n  protocol: openai\n  base_url: https://api.openai.com/\n";
        let wrapped = format!(
            "providers:\n{}",
            entry
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect::<String>()
        );
        for text in [entry.to_owned(), wrapped] {
            let (catalog, errors) = read_str(&text);
            assert!(errors.is_empty(), "{errors:?}");
            let openai = &catalog.entries["openai"];
            assert_eq!(openai.protocol, Some(Protocol::OpenAi));
            assert_eq!(openai.base_url.as_deref(), Some("https://api.openai.com"));
        }
    }

    #[test]
    fn entries_are_fully_checked() {
        let (_, errors) = read_str(
            "providers:
  a:
    protocol: opnai
    base_url: http://api.example.com
    path: v1/chat
    auth: basic
    error_map: {x: rate_limited, y: billing}
    health: {mode: sometimes, interval_secs: 0}
    region: US East
    colour: red
  b: {}
extra: 1
",
        );
        assert_eq!(
            errors,
            [
                "providers.yaml: extra: unknown field; expected one of: `providers`",
                "providers.yaml: providers.a.colour: unknown field; expected one of: `protocol`, `base_url`, `path`, `auth`, `error_map`, `health`, `region`, `allow_private`, `platform`, `project`, `location`, `api_version`, `models`, `price_source`",
                "providers.yaml: providers.a.protocol: unknown value `opnai`; expected one of: `openai`, `responses`, `anthropic`, `gemini`, `cohere`, `bedrock`, `bedrock-invoke`; did you mean `openai`?",
                "providers.yaml: providers.a.auth: unknown value `basic`; expected one of: `bearer`, `api-key`",
                "providers.yaml: providers.a.path: must start with `/`",
                "providers.yaml: providers.a.region: must be an AWS region such as `us-east-1`",
                "providers.yaml: providers.a.error_map.x: unknown value `rate_limited`; expected one of: `rate_limit`, `overloaded`, `server_error`, `timeout`, `network`, `auth`, `billing`, `client_error`, `context_length`; did you mean `rate_limit`?",
                "providers.yaml: providers.a.health.mode: unknown value `sometimes`; expected one of: `none`, `dead`, `active`",
                "providers.yaml: providers.a.health.interval_secs: must be >= 1",
                "providers.yaml: providers.a.base_url: must use https:// (set `allow_private: true` for a plain-http upstream such as a local server)",
                "providers.yaml: providers.b.protocol: required",
                "providers.yaml: providers.b.base_url: required",
            ]
        );
    }

    #[test]
    fn allow_private_in_the_entry_admits_local_urls() {
        let (catalog, errors) = read_str(
            "vllm: {protocol: openai, base_url: 'http://localhost:8000/', allow_private: true}\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            catalog.entries["vllm"].base_url.as_deref(),
            Some("http://localhost:8000")
        );
    }

    #[test]
    fn reserved_and_malformed_names_are_refused() {
        let (_, errors) = read_str(
            "admin: {protocol: openai, base_url: 'https://a.example.com'}\n'has space': {protocol: openai, base_url: 'https://a.example.com'}\n",
        );
        assert_eq!(
            errors,
            [
                "providers.yaml: admin: `admin` is reserved for the admin API",
                "providers.yaml: has space: a name must not contain whitespace or control characters",
            ]
        );
    }

    #[test]
    fn empty_catalog_is_allowed() {
        let (catalog, errors) = read_str("");
        assert!(errors.is_empty() && catalog.entries.is_empty());
    }

    #[test]
    fn later_error_map_entries_merge_over_earlier_ones() {
        let base = ProviderFields {
            error_map: BTreeMap::from([
                ("a".into(), FailureClass::Auth),
                ("b".into(), FailureClass::Billing),
            ]),
            base_url: Some("https://x.example.com".into()),
            ..ProviderFields::default()
        };
        let over = ProviderFields {
            error_map: BTreeMap::from([("b".into(), FailureClass::RateLimit)]),
            ..ProviderFields::default()
        };
        let merged = base.merged(&over);
        assert_eq!(merged.error_map["a"], FailureClass::Auth);
        assert_eq!(merged.error_map["b"], FailureClass::RateLimit);
        assert_eq!(merged.base_url.as_deref(), Some("https://x.example.com"));
    }
}
