//! The governance admin API (docs/configuration.md, *Governance*): create, list, read, patch and
//! delete virtual keys, read a key's usage, and report spend over days.
//!
//! JSON in and out. The admin token comes as `Authorization: Bearer` or
//! `x-admin-token`; errors are `{"error": "…"}` with the status the
//! governance crate gives them (400 naming the field, 401, 404, 503). With
//! governance off the routes do not exist (404), so a probe cannot tell an
//! ungoverned Busbar from one without the API.

use std::time::Duration;

use busbar_governance::{AdminError, KeyPatch, NewKey, SpendQuery};
use busbar_protocols::wire::percent_decode;
use busbar_protocols::Protocol;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use crate::error::{self, GatewayError};
use crate::governance::Governance;
use crate::ingress::auth::bearer;
use crate::ingress::routes::AdminPath;
use crate::ingress::{collect_within, BodyReadError};
use crate::reply::Body;
use crate::state::State;

/// The largest admin request body read: a key's metadata is small.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// Serves one admin request.
pub(crate) async fn handle(
    state: &State,
    path: AdminPath,
    request: Request<Incoming>,
) -> Response<Body> {
    let governance = match state.governance() {
        Ok(Some(governance)) => governance,
        Ok(None) => {
            return GatewayError::NoRoute(request.uri().path().to_owned())
                .into_response(Protocol::OpenAi)
        }
        Err(error) => return error.into_response(Protocol::OpenAi),
    };
    if !governance.is_admin(request.headers(), bearer(request.headers())) {
        // Without a configured token the governor answers `Disabled`,
        // whose message says how to turn the API on.
        let error = governance
            .governor()
            .check_admin_token(None)
            .err()
            .unwrap_or(AdminError::Unauthorized);
        return error::admin_response(&error);
    }
    let stall = state.limits.body_read_timeout;
    // HEAD is answered as GET is (hyper sends the headers only).
    let method = match request.method() {
        &Method::HEAD => Method::GET,
        method => method.clone(),
    };
    let result = match (&path, &method) {
        (AdminPath::Keys, &Method::POST) => create(governance, request, stall).await,
        (AdminPath::Keys, &Method::GET) => governance
            .governor()
            .list_keys()
            .await
            .map(|keys| ok(StatusCode::OK, &keys)),
        (AdminPath::Key(id), &Method::GET) => governance
            .governor()
            .get_key(id)
            .await
            .map(|key| ok(StatusCode::OK, &key)),
        (AdminPath::Key(id), &Method::PATCH) => patch(governance, id, request, stall).await,
        (AdminPath::Key(id), &Method::DELETE) => governance
            .governor()
            .delete_key(id)
            .await
            .map(|deleted| ok(StatusCode::OK, &deleted)),
        (AdminPath::Usage(id), &Method::GET) => governance
            .governor()
            .usage(id)
            .await
            .map(|usage| ok(StatusCode::OK, &usage)),
        (AdminPath::Spend(query), &Method::GET) => spend(governance, query.as_deref()).await,
        _ => {
            let allow = match path {
                AdminPath::Keys => "GET, HEAD, POST",
                AdminPath::Key(_) => "GET, HEAD, PATCH, DELETE",
                AdminPath::Usage(_) | AdminPath::Spend(_) => "GET, HEAD",
            };
            return error::admin_method_not_allowed(allow);
        }
    };
    result.unwrap_or_else(|error| error::admin_response(&error))
}

async fn create(
    governance: &Governance,
    request: Request<Incoming>,
    stall: Duration,
) -> Result<Response<Body>, AdminError> {
    let body = read(request, stall).await?;
    let spec = NewKey::from_json(&body)?;
    let created = governance.governor().create_key(spec).await?;
    tracing::info!(key_id = %created.key.id, name = %created.key.name, "virtual key created");
    Ok(ok(StatusCode::CREATED, &created))
}

async fn patch(
    governance: &Governance,
    id: &str,
    request: Request<Incoming>,
    stall: Duration,
) -> Result<Response<Body>, AdminError> {
    let body = read(request, stall).await?;
    let patch = KeyPatch::from_json(&body)?;
    let key = governance.governor().update_key(id, &patch).await?;
    Ok(ok(StatusCode::OK, &key))
}

/// `GET /admin/spend?from=…&to=…&group_by=…`: the query's parameters,
/// percent-decoded, are validated by the governance crate.
async fn spend(governance: &Governance, query: Option<&str>) -> Result<Response<Body>, AdminError> {
    let params = query_params(query.unwrap_or_default())?;
    let governor = governance.governor();
    let pairs = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()));
    let query = SpendQuery::from_params(pairs, governor.today())?;
    let report = governor.spend_report(query).await?;
    Ok(ok(StatusCode::OK, &report))
}

/// A query string's `name=value` pairs, percent-decoded (`+` is a space,
/// as forms send it); empty pairs are skipped.
fn query_params(query: &str) -> Result<Vec<(String, String)>, AdminError> {
    let decode = |text: &str| {
        percent_decode(&text.replace('+', " ")).ok_or_else(|| {
            AdminError::Invalid(format!(
                "the query string is not valid percent-encoded UTF-8: `{text}`"
            ))
        })
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

async fn read(request: Request<Incoming>, stall: Duration) -> Result<Bytes, AdminError> {
    match collect_within(request.into_body(), MAX_ADMIN_BODY, stall).await {
        Ok(bytes) => Ok(bytes),
        Err(BodyReadError::TooLarge) => Err(AdminError::Invalid(format!(
            "the body is larger than {MAX_ADMIN_BODY} bytes"
        ))),
        Err(BodyReadError::Stalled) => Err(AdminError::Invalid(format!(
            "no body bytes arrived for {} s",
            stall.as_secs()
        ))),
        Err(BodyReadError::Broken(error)) => Err(AdminError::Invalid(format!(
            "could not read the body: {error}"
        ))),
    }
}

fn ok(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    json(status, serde_json::to_vec(value).unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded_pairs() {
        let params = query_params("from=2025-06-01&&group_by=key%2Cday&to").expect("valid");
        let expected = [("from", "2025-06-01"), ("group_by", "key,day"), ("to", "")];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(params, expected);
        assert_eq!(
            query_params("group_by=key+,+lane").expect("valid")[0].1,
            "key , lane"
        );
        let error = query_params("from=%zz").expect_err("bad escape");
        assert!(error.to_string().contains("percent-encoded"), "{error}");
    }
}
