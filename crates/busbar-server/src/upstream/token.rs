//! OAuth 2.0 access tokens minted from the platform, sent as
//! `Authorization: Bearer`: Google's (`credentials: gcp`, in `google`) and
//! Microsoft Entra ID's (`credentials: azure`, in `entra`), each cached and
//! refreshed by a [`Refreshing`]. This module holds what they share: the
//! source chosen from the environment, the token endpoint's HTTP call and
//! its JSON reply.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use busbar_config::Credentials;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use super::client::UpstreamClient;
use super::entra::EntraSource;
use super::google::GoogleSource;
use super::refresh::{CredentialsError, Fetch, Refreshing};

/// The most of a token endpoint's reply that is read.
const MAX_REPLY: usize = 64 * 1024;

/// Why a token source cannot be set up from the environment and its files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A file the environment names cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file or variable holds something unusable.
    #[error("{0}")]
    Invalid(String),
}

/// The tokens of one credential source, cached: shared by the lanes of
/// every provider with that source, and kept across reloads.
pub(crate) struct BearerTokens {
    credentials: Credentials,
    cache: Arc<Refreshing<Minter>>,
}

/// Where tokens come from.
pub(crate) enum Minter {
    Google(GoogleSource),
    Entra(EntraSource),
}

impl BearerTokens {
    /// The source `credentials` names, found from the process's
    /// environment; `None` for sources that mint no bearer token.
    pub(crate) fn new(
        credentials: &Credentials,
        client: UpstreamClient,
    ) -> Option<Result<Self, SourceError>> {
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let minter = match credentials {
            Credentials::Gcp => GoogleSource::discover(&env, client).map(Minter::Google),
            Credentials::Azure => EntraSource::discover(&env, client).map(Minter::Entra),
            _ => return None,
        };
        Some(minter.map(|minter| Self {
            credentials: credentials.clone(),
            cache: Arc::new(Refreshing::new(minter)),
        }))
    }

    /// Whether these are the tokens of `credentials`.
    pub(crate) fn is_for(&self, credentials: &Credentials) -> bool {
        &self.credentials == credentials
    }

    /// The `Authorization` value to send now.
    pub(crate) async fn authorization(&self) -> Result<HeaderValue, CredentialsError> {
        self.cache.get().await
    }

    /// Fetches in the background, so the first request need not wait.
    pub(crate) fn warm_up(&self) {
        self.cache.warm_up();
    }
}

impl Fetch for Minter {
    type Item = HeaderValue;

    async fn fetch(&self) -> Result<(HeaderValue, Option<SystemTime>), CredentialsError> {
        let token = match self {
            Minter::Google(source) => source.token().await?,
            Minter::Entra(source) => source.token().await?,
        };
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", token.access_token)).map_err(|_| {
                CredentialsError::Source("the token is not a valid header value".into())
            })?;
        value.set_sensitive(true);
        Ok((value, Some(token.expires_at)))
    }
}

/// Where a provider's credential comes from, as `busbar check` reports it:
/// which source the environment selects, never a secret. An error when the
/// source is unusable (a key file that does not parse, say).
pub fn describe_credentials(provider: &busbar_config::Provider) -> Result<String, SourceError> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    match &provider.credentials {
        Credentials::Gcp => GoogleSource::describe(&env),
        Credentials::Azure => EntraSource::describe(&env),
        Credentials::ApiKey => Ok(match &provider.api_key_env {
            Some(var) => format!("key from ${var}"),
            None => "the caller's own key (passthrough)".into(),
        }),
        other => Ok(other.to_string()),
    }
}

/// An access token and when it expires.
pub(crate) struct AccessToken {
    pub(crate) access_token: String,
    pub(crate) expires_at: SystemTime,
}

/// One call to a token endpoint: `form` is posted as
/// `application/x-www-form-urlencoded`, else the call is a GET.
pub(crate) async fn call(
    client: &UpstreamClient,
    url: &str,
    headers: &[(&'static str, &str)],
    form: Option<String>,
) -> Result<AccessToken, CredentialsError> {
    let failed = |why: String| CredentialsError::Source(format!("{url}: {why}"));
    let mut request = Request::new(Full::new(Bytes::from(form.clone().unwrap_or_default())));
    *request.uri_mut() = url.parse().map_err(|_| failed("not a valid URL".into()))?;
    if form.is_some() {
        *request.method_mut() = Method::POST;
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    for (name, value) in headers {
        let mut value =
            HeaderValue::from_str(value).map_err(|_| failed(format!("invalid {name} header")))?;
        value.set_sensitive(true);
        request.headers_mut().insert(*name, value);
    }
    let response = client
        .request(request)
        .await
        .map_err(|error| failed(format!("unreachable: {error}")))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|error| failed(format!("reply broke off: {error}")))?
        .to_bytes();
    parse(status, &body).map_err(failed)
}

/// The token in a token endpoint's reply: `access_token` with `expires_in`
/// (seconds, a number or a string), else `expires_on` (Unix seconds, as
/// Azure's managed identity endpoints write it).
fn parse(status: StatusCode, body: &[u8]) -> Result<AccessToken, String> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if !status.is_success() {
        // The endpoint's own error words, never the whole body.
        let words = ["error", "error_description", "message"]
            .iter()
            .filter_map(|key| json.get(key).and_then(|value| value.as_str()))
            .collect::<Vec<_>>()
            .join(": ");
        return Err(format!("answered {status} {words}"));
    }
    let number = |key: &str| {
        json.get(key).and_then(|value| {
            value
                .as_u64()
                .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
        })
    };
    let access_token = json
        .get("access_token")
        .and_then(|token| token.as_str())
        .filter(|token| !token.is_empty())
        .ok_or("the reply has no access_token")?
        .to_owned();
    let now = SystemTime::now();
    let expires_at = match (number("expires_in"), number("expires_on")) {
        (Some(secs), _) => now + Duration::from_secs(secs),
        (None, Some(epoch)) => SystemTime::UNIX_EPOCH + Duration::from_secs(epoch),
        (None, None) => return Err("the reply says nothing of when the token expires".into()),
    };
    Ok(AccessToken {
        access_token,
        expires_at,
    })
}

/// `value` percent-encoded for a query or a form.
pub(crate) fn encode(value: &str) -> String {
    busbar_protocols::wire::percent_encode(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_replies_are_read_with_either_expiry_and_errors_keep_only_their_words() {
        let token = parse(
            StatusCode::OK,
            br#"{"access_token":"ya29.x","expires_in":"3599","token_type":"Bearer"}"#,
        )
        .expect("a token");
        assert_eq!(token.access_token, "ya29.x");
        let left = token.expires_at.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(3590), "{left:?}");
        let on = parse(
            StatusCode::OK,
            br#"{"access_token":"eyJ0","expires_on":"4102444800"}"#,
        )
        .expect("a token");
        assert_eq!(
            on.expires_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800)
        );
        assert_eq!(
            parse(
                StatusCode::BAD_REQUEST,
                br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature.","secret":"s"}"#
            )
            .err()
            .as_deref(),
            Some("answered 400 Bad Request invalid_grant: Invalid JWT Signature.")
        );
        assert!(parse(StatusCode::OK, br#"{"expires_in":3600}"#).is_err());
    }
}
