//! The Prometheus recorder behind `/metrics`.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Where the Prometheus handle appears once the recorder is installed.
pub type MetricsSlot = Arc<OnceLock<PrometheusHandle>>;

/// Buckets of `busbar_request_duration_seconds`: from a cache-hot relay to a
/// long generation.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the global Prometheus recorder on a background thread, so its
/// clock calibration never delays the first request, and returns the slot
/// its handle lands in. Metrics recorded before it is installed are not
/// kept; in practice that is the first few milliseconds.
pub fn install_metrics() -> MetricsSlot {
    let slot: MetricsSlot = Arc::new(OnceLock::new());
    let filled = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("busbar-metrics".into())
        .spawn(move || {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(
                Matcher::Full("busbar_request_duration_seconds".into()),
                DURATION_BUCKETS,
            );
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                Err(error) => {
                    tracing::warn!(%error, "metrics disabled");
                    return;
                }
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                return;
            }
            let _ = filled.set(handle.clone());
            // Histogram samples wait in buffers until upkeep folds them in;
            // without it they would pile up between scrapes.
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "metrics disabled: cannot start the recorder thread");
    }
    slot
}

/// Waits until the recorder [`install_metrics`] started is in place, for at
/// most `within`: call it before serving, so no request's metrics are
/// recorded into nothing and `/metrics` is never empty. `false` when it
/// did not arrive in time (metrics then start late, as before).
pub async fn metrics_ready(slot: &MetricsSlot, within: std::time::Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while slot.get().is_none() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    true
}
