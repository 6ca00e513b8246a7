//! `/healthz`, `/stats`, `/metrics` and the model lists (OpenAI's and
//! Gemini's shapes), each showing a caller only what it may use.

use busbar_protocols::Protocol;
use http::{header, HeaderValue, Response, StatusCode};

use crate::governance::Caller;
use crate::reply::Body;
use crate::state::State;

/// `GET /healthz`: 200 while any lane is usable.
pub(crate) fn healthz(state: &State) -> Response<Body> {
    if state.any_usable() {
        text(StatusCode::OK, "ok")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "no usable lanes")
    }
}

/// `GET /stats`: the router's snapshot, narrowed to a key's pools, with
/// each lane's tokens and cost.
pub(crate) fn stats(state: &State, caller: &Caller) -> Response<Body> {
    let snapshot = match caller {
        Caller::Key(_) => state.router.snapshot_for(|name| caller.may_use(name)),
        _ => state.snapshot(),
    };
    let mut document = serde_json::to_value(&snapshot).unwrap_or_default();
    let lanes = document
        .get_mut("lanes")
        .and_then(serde_json::Value::as_array_mut);
    for lane in lanes.into_iter().flatten() {
        add_spend(state, lane);
    }
    json(
        StatusCode::OK,
        serde_json::to_vec(&document).unwrap_or_default(),
    )
}

/// Adds a lane's `tokens` by class and `cost_microdollars` (`null` for a
/// lane without a price) to its `/stats` entry.
fn add_spend(state: &State, lane: &mut serde_json::Value) {
    let Some(entry) = lane.as_object_mut() else {
        return;
    };
    let target = entry
        .get("model")
        .and_then(serde_json::Value::as_str)
        .and_then(|name| state.router.lane_id(name))
        .map(|id| state.target(id));
    let Some(target) = target else {
        return;
    };
    let (tokens, cost) = target.spend.snapshot();
    entry.insert(
        "tokens".into(),
        serde_json::to_value(tokens).unwrap_or_default(),
    );
    entry.insert(
        "cost_microdollars".into(),
        if target.is_priced() {
            cost.micro_dollars().into()
        } else {
            serde_json::Value::Null
        },
    );
}

/// `GET /metrics`: the Prometheus exposition.
pub(crate) fn metrics(state: &State) -> Response<Body> {
    // Breakers count their own trips, however a request ended (a stream
    // that broke mid-body trips one too); the counter mirrors them.
    for (lane, target) in state.targets() {
        for (pool, cell) in state.router.cells(lane) {
            metrics::counter!(
                "busbar_breaker_trips_total",
                "pool" => pool.to_owned(),
                "lane" => target.lane_name_str().to_owned()
            )
            .absolute(cell.trips());
        }
    }
    let rendered = state
        .metrics
        .get()
        .map(|handle| handle.render())
        .unwrap_or_default();
    let mut response = Response::new(Body::full(rendered));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET` of `protocol`'s model list, in its shape: the pools and models the
/// caller may use.
pub(crate) fn models(state: &State, caller: &Caller, protocol: Protocol) -> Response<Body> {
    let names: Vec<&str> = state
        .model_names()
        .filter(|name| caller.may_use(name))
        .collect();
    let body = protocol
        .wire()
        .encode_model_list(&names, crate::proxy::unix_now());
    json(StatusCode::OK, body)
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
