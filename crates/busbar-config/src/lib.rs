//! Loading and validating Busbar's two files: `providers.yaml` and `config.yaml`.
//!
//! `providers.yaml` is the catalog Busbar ships: for each upstream provider its
//! wire protocol, base URL and the error codes worth classifying, and the
//! models it serves with their list prices and context windows (see
//! [`Price`] for how a cost is computed, exactly, in integers).
//! `config.yaml` is the operator's deployment: which providers to switch on and
//! where their keys live, the models (lanes), the pools over them, client
//! authentication, governance and limits. This crate turns the two into one
//! resolved, typed [`Config`] in which every default is filled in, every
//! catalog entry is merged with its per-deployment overrides and every key has
//! been read from the environment.
//!
//! # Design
//!
//! * **Every error at once.** A gateway that stops at the first mistake makes
//!   the operator restart it once per typo. Loading walks the whole document
//!   and collects every problem into [`ConfigErrors`], each naming its field
//!   path (`pools.smart.members[1].weight: must be >= 1`), in file order where
//!   practical. Unknown keys are errors too, with a "did you mean" when a known
//!   key is close, because a misspelt optional field would otherwise be
//!   silently ignored. That is why the documents are walked by hand over a
//!   small YAML tree rather than deserialized with serde, whose
//!   `deny_unknown_fields` stops at the first error and knows no paths.
//! * **Environment first, then YAML.** `${NAME}` is replaced in the raw text of
//!   each file before it is parsed, exactly as docs/configuration.md says; the
//!   environment is injected through the [`Env`] trait so tests never touch
//!   the process environment. A value holding a control character is refused,
//!   because a newline in a variable could otherwise add YAML keys.
//! * **Resolved, not raw.** Consumers get [`Config`] with concrete values
//!   (durations, enums, the key itself wrapped in [`Secret`]) and never see an
//!   `Option` that merely means "use the default".
//! * **No network.** The SSRF guard judges a `base_url` by its text alone:
//!   scheme, literal addresses in any encoding, and host names that can only
//!   be local. It does no DNS resolution, so a public name that resolves to a
//!   private address passes here; the server, which owns all I/O, can check
//!   the resolved address with [`blocked_address`].
//! * **One YAML seam.** The YAML parser is named in exactly one private module
//!   (`yaml`); moving to a maintained fork of `serde_yaml` is a one-line change
//!   there plus the dependency line.
//!
//! Maps in [`Config`] are `BTreeMap`s so iteration, logs and output are
//! deterministic. Public structs are `#[non_exhaustive]` so fields can be
//! added; build them by loading YAML. Public enums are deliberately
//! exhaustive: each variant (a protocol, a failure class, an auth mode) needs
//! handling downstream, and a new one should break those matches loudly.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! let catalog = "
//! anthropic:
//!   protocol: anthropic
//!   base_url: https://api.anthropic.com
//! ";
//! let config = "
//! providers:
//!   anthropic:
//!     api_key_env: ANTHROPIC_KEY
//! models:
//!   claude-sonnet:
//!     provider: anthropic
//!     max_concurrent: 10
//!     upstream_model: claude-sonnet-4-5-20250929
//!     price: {input: 3, output: 15}   # dollars per million tokens
//! ";
//! let env = BTreeMap::from([("ANTHROPIC_KEY".to_owned(), "sk-ant-test".to_owned())]);
//! let loaded = busbar_config::load_str(catalog, config, &env).unwrap();
//! let model = &loaded.config.models["claude-sonnet"];
//! assert_eq!(model.default_max_tokens, 4096);
//! assert_eq!(loaded.config.listen, "0.0.0.0:8080");
//! // 1000 tokens in, 200 out: $0.003 + $0.003, exactly.
//! let usage = busbar_ir::Usage::new(1000, 200);
//! let cost = model.price.as_ref().unwrap().cost(&usage);
//! assert_eq!(cost.micro_dollars(), 6000);
//! // An open relay on a public address is allowed, but not quietly.
//! assert_eq!(loaded.warnings.len(), 1);
//! ```
#![deny(missing_docs)]

mod catalog;
mod env;
mod error;
mod model;
mod price;
mod resolve;
mod ssrf;
mod walk;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use env::{Env, SystemEnv};
pub use error::{ConfigError, ConfigErrors, EnvError};
pub use model::{
    Affinity, AffinityMode, Auth, AuthMode, AuthScheme, AwsCredentials, Breaker, Config,
    Credentials, Failover, FailureClass, Governance, GovernancePricing, Health, HealthMode, Limits,
    Model, Observability, OnExhausted, Platform, Pool, PoolMember, Protocol, Provider, RequestLog,
    Secret, Target, Tls, Trip, TripMode,
};
pub use price::{alias_candidates, Listing, Money, Price, Rate, Rates, Tier};
pub use ssrf::blocked_address;

/// A successfully loaded configuration and the warnings it produced.
///
/// Warnings are returned rather than logged so the caller decides where they
/// go (`busbar check` prints them, the server logs them).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Loaded {
    /// The resolved configuration.
    pub config: Config,
    /// Things that are allowed but probably not intended, one sentence each,
    /// starting with the field path they concern.
    pub warnings: Vec<String>,
}

/// Loads both files from disk, expanding `${NAME}` from the process
/// environment.
///
/// Errors name the files by the paths given here.
pub fn load(providers: &Path, config: &Path) -> Result<Loaded, ConfigErrors> {
    load_with_env(providers, config, &SystemEnv)
}

/// Loads both files from disk, expanding `${NAME}` and reading `api_key_env`
/// variables from `env`.
pub fn load_with_env(
    providers: &Path,
    config: &Path,
    env: &dyn Env,
) -> Result<Loaded, ConfigErrors> {
    let providers_label = providers.display().to_string();
    let config_label = config.display().to_string();
    let read = |path: &Path, label: &str| {
        std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
            file: label.to_owned(),
            reason: err.to_string(),
        })
    };
    match (
        read(providers, &providers_label),
        read(config, &config_label),
    ) {
        (Ok(p), Ok(c)) => resolve::load(
            resolve::Source {
                label: &providers_label,
                text: &p,
            },
            resolve::Source {
                label: &config_label,
                text: &c,
            },
            env,
        ),
        (p, c) => Err(ConfigErrors::new(
            [p.err(), c.err()].into_iter().flatten().collect(),
        )),
    }
}

/// Loads both files from strings; errors name them `providers.yaml` and
/// `config.yaml`.
///
/// This is the entry point for tests and for configurations embedded in the
/// binary (such as `busbar demo`).
pub fn load_str(
    providers_yaml: &str,
    config_yaml: &str,
    env: &dyn Env,
) -> Result<Loaded, ConfigErrors> {
    resolve::load(
        resolve::Source {
            label: "providers.yaml",
            text: providers_yaml,
        },
        resolve::Source {
            label: "config.yaml",
            text: config_yaml,
        },
        env,
    )
}
