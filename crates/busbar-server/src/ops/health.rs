//! Health probes: a tiny request to lanes whose provider asks for it
//! (`health.mode: dead` re-probes lanes that are open or hard-down,
//! `active` probes every lane), each `interval_secs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use busbar_ir::{Message, Request, Role};
use busbar_protocols::RequestOptions;
use busbar_routing::{FailureClass, LaneId, Outcome};
use tokio::time::Instant;

use crate::error::GatewayError;
use crate::state::State;
use crate::upstream::Target;

/// How often the prober looks for lanes due a probe.
const TICK: Duration = Duration::from_secs(1);

/// Probes lanes until the task is dropped. Reads the current configuration
/// at every tick, so a reload's lanes and settings take effect at once.
pub(crate) async fn run(state: Arc<ArcSwap<State>>) {
    // Keyed by lane name: lane ids change across reloads, names do not.
    let mut last_probe: HashMap<String, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let current = state.load_full();
        let now = Instant::now();
        for (lane, target) in current.targets() {
            let Some(probing) = target.health.filter(|_| target.can_probe()) else {
                continue;
            };
            let name = target.lane_name_str().to_owned();
            let due = last_probe
                .get(&name)
                // Half a tick of slack: ticks drift by microseconds, and a
                // probe a few of them early is better than a whole tick late.
                .is_none_or(|at| now.duration_since(*at) + TICK / 2 >= probing.interval);
            if !due || !current.router.needs_probe(lane, probing.mode) {
                continue;
            }
            last_probe.insert(name, now);
            tokio::spawn(probe(current.clone(), lane, probing.timeout));
        }
    }
}

/// Sends one probe and tells the router how it went.
async fn probe(state: Arc<State>, lane: LaneId, timeout: Duration) {
    let target = state.target(lane);
    let outcome = match tokio::time::timeout(timeout, send(&state, target)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::failed(FailureClass::Timeout),
    };
    let effect = state.router.probe_result(lane, outcome);
    let lane = target.lane_name_str();
    if effect.revived || effect.half_opened > 0 {
        tracing::info!(
            lane,
            revived = effect.revived,
            half_opened = effect.half_opened,
            "health probe succeeded; lane back in service"
        );
    } else if outcome.is_success() {
        tracing::debug!(lane, "health probe succeeded");
    } else {
        tracing::warn!(lane, class = ?outcome.class(), "health probe failed");
    }
}

async fn send(state: &State, target: &Target) -> Outcome {
    let mut request = Request::new(
        target.model_id.clone(),
        vec![Message::text(Role::User, "ping")],
    );
    // 16: the least every format accepts (OpenAI Responses refuses less).
    request.max_tokens = Some(16);
    let options = RequestOptions::new(target.model_id.clone());
    let body = target.protocol.encode_request(&request, &options).body;
    let upstream = match target.build_request(body, false, false, None).await {
        Ok(upstream) => upstream,
        // No credentials renews an `auth` hard-down; their return ends it.
        Err(GatewayError::NoCredentials(_)) => return Outcome::failed(FailureClass::Auth),
        Err(_) => return Outcome::failed(FailureClass::ClientError),
    };
    match state.client.request(upstream).await {
        Err(_) => Outcome::failed(FailureClass::Network),
        Ok(response) if response.status().is_success() => Outcome::Success,
        Ok(response) => {
            let (class, _, _) = crate::proxy::read_error(state, target, response).await;
            Outcome::failed(class)
        }
    }
}
