//! Governance in the server (docs/configuration.md, *Governance*): the [`Governor`] a state holds,
//! who a caller of the operational routes is, admitting model requests, and
//! the metrics of refusals and store failures.
//!
//! The governance crate knows nothing of HTTP; this module turns its answers
//! into [`GatewayError`]s (rendered in the client's protocol by `error`) and
//! [`Meter`]s (which settle the admission when the reply ends).

use std::time::Duration;

use busbar_config::GovernancePricing;
use busbar_governance::{Cents, Governor, KeyMetadata, OpenError, RateLimit, Refusal, WorstCase};
use http::HeaderMap;
use tokio::task::JoinHandle;

use crate::error::GatewayError;
use crate::reply::{store_error, LanePrice, Meter};
use crate::upstream::Target;

/// How often lapsed reservations and old rate rows are deleted.
const REAP_EVERY: Duration = Duration::from_secs(60);

/// An open governor and the settings it was opened with.
pub(crate) struct Governance {
    governor: Governor,
    config: busbar_config::Governance,
    reaper: JoinHandle<()>,
}

/// Who is calling an operational route.
pub(crate) enum Caller {
    /// Governance is off and client authentication (if any) passed.
    Anyone,
    /// The governance admin token: sees everything.
    Admin,
    /// A virtual key: sees what its `allowed_pools` allow.
    Key(Box<KeyMetadata>),
}

impl Caller {
    /// Whether this caller may use (and so see) the pool or model `name`.
    pub(crate) fn may_use(&self, name: &str) -> bool {
        match self {
            Self::Anyone | Self::Admin => true,
            Self::Key(key) => key.allows(name),
        }
    }
}

impl Governance {
    /// Opens the store `config` names and starts its reaper.
    pub(crate) async fn open(config: &busbar_config::Governance) -> Result<Self, OpenError> {
        let governor = Governor::open(config).await?;
        let reaper = governor.spawn_reaper(REAP_EVERY);
        tracing::info!(
            store = if config.store.is_some() {
                "postgres"
            } else {
                "sqlite"
            },
            "governance on: virtual keys required"
        );
        Ok(Self {
            governor,
            config: config.clone(),
            reaper,
        })
    }

    /// The settings this governor was opened with.
    pub(crate) fn config(&self) -> &busbar_config::Governance {
        &self.config
    }

    pub(crate) fn governor(&self) -> &Governor {
        &self.governor
    }

    /// Whether the request carries the admin token, as `Authorization:
    /// Bearer` or `x-admin-token`.
    pub(crate) fn is_admin(&self, headers: &HeaderMap, credential: Option<&str>) -> bool {
        let header = headers
            .get("x-admin-token")
            .and_then(|value| value.to_str().ok())
            .map(str::trim);
        [credential, header]
            .into_iter()
            .flatten()
            .any(|token| self.governor.check_admin_token(Some(token)).is_ok())
    }

    /// Admits a request for `target` whose worst case is `worst`.
    pub(crate) async fn admit(
        &self,
        secret: &str,
        target: &str,
        worst: WorstCase,
    ) -> Result<Meter, GatewayError> {
        match self.governor.authorize(secret, target, worst).await {
            Ok(admission) => {
                if !admission.is_metered() {
                    // Admitted under `fail_open` while the store is down.
                    store_error("admit");
                }
                Ok(Meter::new(admission, self.catalog_pricing()))
            }
            Err(refusal) => Err(refused(refusal)),
        }
    }

    /// Whether requests are charged their models' catalog prices.
    pub(crate) fn catalog_pricing(&self) -> bool {
        self.config.pricing == GovernancePricing::Catalog
    }

    /// What to reserve for a request that may be served by any of `lanes`
    /// with at most `estimate` tokens. Flat pricing prices the tokens;
    /// catalog pricing takes the dearest lane's worst case, each lane at
    /// its catalog price or, without one, at the flat prices.
    pub(crate) fn worst_case<'t>(
        &self,
        estimate: Estimate,
        lanes: impl IntoIterator<Item = &'t Target>,
    ) -> WorstCase {
        let tokens = estimate.total();
        if !self.catalog_pricing() {
            return WorstCase::tokens(tokens);
        }
        let flat = self.governor.options().pricing.cost(tokens);
        let dearest = lanes
            .into_iter()
            .map(|target| {
                lane_price(target).map_or(flat, |price| catalog_worst_case(&price, estimate))
            })
            .max()
            .unwrap_or(flat);
        WorstCase::priced(tokens, dearest)
    }

    /// Checks that `secret` is an enabled key that may use `target`, without
    /// reserving budget or counting toward rate limits (token counting is
    /// free).
    pub(crate) async fn allow(&self, secret: &str, target: &str) -> Result<(), GatewayError> {
        let key = self.identify(secret).await?;
        if key.allows(target) {
            Ok(())
        } else {
            Err(refused(Refusal::NotAllowed {
                key_id: key.id,
                target: target.to_owned(),
            }))
        }
    }

    /// The enabled key `secret` belongs to, without admitting anything:
    /// found by its hash in the store, as admission finds it.
    pub(crate) async fn identify(&self, secret: &str) -> Result<KeyMetadata, GatewayError> {
        self.governor.identify(secret).await.map_err(refused)
    }
}

/// A request's worst case in tokens, split as catalog prices need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// An upper bound on the prompt's tokens.
    pub(crate) input: u64,
    /// The most the replies may generate.
    pub(crate) output: u64,
}

impl Estimate {
    pub(crate) fn total(self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// The most a request within `estimate` can cost at `price`: its prompt
/// at the input price and its replies at the output price, at the rates of
/// the long-context tier the prompt would fall in (tiers only raise rates),
/// plus the fee per request, with the input price raised to the dearest
/// cache-write rate (a 1-hour write costs twice the input at Anthropic).
/// Reasoning and cache-read rates are at most these for every vendor the
/// catalog lists, so this bounds the real cost.
fn catalog_worst_case(price: &LanePrice, estimate: Estimate) -> Cents {
    let rates = price.0.rates_for(estimate.input);
    let input = rates
        .input
        .max(rates.cache_write())
        .max(rates.cache_write_1h())
        .times(estimate.input);
    let output = rates.output.max(rates.reasoning()).times(estimate.output);
    crate::reply::money_to_cents(input.plus(output).plus(price.0.per_request))
}

/// The price of the model `target` calls: its `models.NAME.price`, else
/// the catalog's listing for its upstream model.
pub(crate) fn lane_price(target: &Target) -> Option<LanePrice> {
    target.price().map(LanePrice)
}

impl Drop for Governance {
    fn drop(&mut self) {
        self.reaper.abort();
    }
}

/// The error for a refusal, counted by reason.
pub(crate) fn refused(refusal: Refusal) -> GatewayError {
    let reason = match &refusal {
        Refusal::UnknownKey => "invalid_key",
        Refusal::KeyDisabled { .. } => "key_disabled",
        Refusal::NotAllowed { .. } => "not_allowed",
        Refusal::BudgetExhausted { .. } => "budget",
        Refusal::RateLimited {
            limit: RateLimit::Tokens,
            ..
        } => "tpm",
        Refusal::RateLimited { .. } => "rpm",
        Refusal::StoreUnavailable { reason } => {
            tracing::warn!(%reason, "governance refused a request: store unavailable");
            store_error("admit");
            "store_unavailable"
        }
        _ => "other",
    };
    metrics::counter!("busbar_governance_refusals_total", "reason" => reason).increment(1);
    GatewayError::Refused(refusal)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use busbar_config::Secret;
    use busbar_governance::{KeyPatch, NewKey};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A governance store in a fresh directory, removed on drop.
    pub(crate) struct Fixture {
        pub(crate) governance: Governance,
        dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    pub(crate) async fn fixture() -> Fixture {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "busbar-server-governance-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut config = busbar_config::Governance::default();
        config.enabled = true;
        config.db_path = dir.join("governance.db");
        config.admin_token = Some(Secret::new("admin-token"));
        let governance = Governance::open(&config).await.expect("open governance");
        Fixture { governance, dir }
    }

    /// Creates a key; answers its id and secret.
    pub(crate) async fn key(governance: &Governance, spec: NewKey) -> (String, String) {
        let created = governance
            .governor()
            .create_key(spec)
            .await
            .expect("create");
        (created.key.id.clone(), created.secret.clone())
    }

    pub(crate) fn refusal(error: GatewayError) -> Refusal {
        match error {
            GatewayError::Refused(refusal) => refusal,
            other => panic!("not a refusal: {other}"),
        }
    }

    #[tokio::test]
    async fn identify_finds_keys_without_admitting_and_follows_their_state() {
        let fixture = fixture().await;
        let governance = &fixture.governance;
        let (first, secret) = key(governance, NewKey::named("first")).await;
        assert_eq!(governance.identify(&secret).await.expect("known").id, first);
        // A key created later is found too (through the store's hash index).
        let (second, other) = key(governance, NewKey::named("second")).await;
        assert_eq!(governance.identify(&other).await.expect("known").id, second);
        let made_up = "sk-bb-0123456789abcdef0123456789abcdef";
        for wrong in [made_up, "not-a-key", ""] {
            let error = governance.identify(wrong).await.expect_err("unknown");
            assert_eq!(refusal(error), Refusal::UnknownKey);
        }
        let suspend = KeyPatch::from_json(br#"{"enabled": false}"#).expect("a patch");
        governance
            .governor()
            .update_key(&first, &suspend)
            .await
            .expect("patched");
        let error = governance.identify(&secret).await.expect_err("suspended");
        assert!(matches!(refusal(error), Refusal::KeyDisabled { .. }));
        governance
            .governor()
            .delete_key(&first)
            .await
            .expect("deleted");
        let error = governance.identify(&secret).await.expect_err("deleted");
        assert_eq!(refusal(error), Refusal::UnknownKey);
        // Identifying admitted nothing: no request was counted.
        let usage = governance.governor().usage(&second).await.expect("usage");
        assert_eq!(usage.requests, 0);
    }

    #[test]
    fn a_catalog_worst_case_bounds_a_prompt_written_to_the_cache_for_an_hour() {
        use busbar_config::{Price, Rate, Rates};
        let per_mtok = |dollars: u64| Rate::from_picodollars(dollars * 1_000_000);
        let mut rates = Rates::new(per_mtok(3), per_mtok(15));
        rates.cache_write_1h = Some(per_mtok(6));
        let price = LanePrice(std::sync::Arc::new(Price::new(rates)));
        let estimate = Estimate {
            input: 1_000,
            output: 100,
        };
        let mut usage = busbar_ir::Usage::new(1_000, 100);
        usage.cache_write_tokens = Some(1_000);
        usage.cache_write_1h_tokens = Some(1_000);
        let worst = catalog_worst_case(&price, estimate);
        assert_eq!(worst, price.cost(&usage));
        // 1000 × $6/MTok + 100 × $15/MTok = $0.0075: 750,000 micro-cents.
        assert_eq!(worst.micros(), 750_000);
    }

    #[tokio::test]
    async fn the_admin_token_comes_as_bearer_or_its_own_header() {
        let fixture = fixture().await;
        let governance = &fixture.governance;
        let mut headers = HeaderMap::new();
        assert!(governance.is_admin(&headers, Some("admin-token")));
        assert!(!governance.is_admin(&headers, Some("admin-tokem")));
        assert!(!governance.is_admin(&headers, None));
        headers.insert("x-admin-token", "admin-token".parse().expect("a header"));
        assert!(governance.is_admin(&headers, Some("a virtual key")));
    }
}
