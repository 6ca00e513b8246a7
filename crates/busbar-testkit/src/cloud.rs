//! The cloud platforms that resell the vendors' APIs: Google Vertex AI (Gemini under
//! `…/projects/P/locations/L/publishers/google/models/M:generateContent`, Claude under
//! `…/publishers/anthropic/models/M:rawPredict`, `:streamRawPredict` and
//! `count-tokens:rawPredict`) and Azure OpenAI (`/openai/deployments/D/…?api-version=…`,
//! `/openai/responses?api-version=…`, `/openai/v1/…`). Each checks its credential as the
//! platform does before the vendor's own handler answers: Vertex an OAuth access token,
//! Azure an `api-key` or a Microsoft Entra ID token — against [`AccessTokens`] when the mock
//! has them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::json;

use crate::format::{bearer, Outcome, Request};
use crate::server::Shared;

/// Access tokens a test's token endpoint issued, which the mock then accepts until they
/// expire: the mock's view of Google's and Entra ID's token services. Clones share one book.
#[derive(Debug, Clone, Default)]
pub struct AccessTokens {
    issued: Arc<Mutex<HashMap<String, Instant>>>,
    next: Arc<AtomicU64>,
}

impl AccessTokens {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new token, valid for `life`.
    pub fn issue(&self, life: Duration) -> String {
        let token = format!(
            "mock-access-token-{}",
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        );
        self.lock().insert(token.clone(), Instant::now() + life);
        token
    }

    /// How many tokens were issued.
    pub fn issued(&self) -> usize {
        self.lock().len()
    }

    /// Whether `token` was issued and has not expired.
    pub fn is_valid(&self, token: &str) -> bool {
        self.lock()
            .get(token)
            .is_some_and(|expiry| Instant::now() < *expiry)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The platform a request came through, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cloud<'a> {
    /// Vertex AI; for Claude, the model in the path (`None` for `count-tokens:rawPredict`).
    Vertex { claude: Option<VertexClaude<'a>> },
    /// Azure OpenAI; `v1`: the v1 API, which takes no `api-version`.
    Azure { v1: bool },
}

/// A Claude-on-Vertex path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VertexClaude<'a> {
    /// The model in the path; `None` for `count-tokens:rawPredict`, which counts for any.
    pub(crate) model: Option<&'a str>,
    pub(crate) stream: bool,
}

impl<'a> Cloud<'a> {
    /// The platform of `path`, if any.
    pub(crate) fn of(path: &'a str) -> Option<Self> {
        if path.starts_with("/openai/") {
            return Some(Cloud::Azure {
                v1: path.starts_with("/openai/v1/"),
            });
        }
        if !(path.contains("/projects/") && path.contains("/locations/")) {
            return None;
        }
        let claude = vertex_claude(path);
        (claude.is_some() || path.contains("/publishers/google/models/"))
            .then_some(Cloud::Vertex { claude })
    }
}

/// `…/publishers/anthropic/models/{model}:rawPredict`, `:streamRawPredict`, or
/// `…/models/count-tokens:rawPredict`.
pub(crate) fn vertex_claude(path: &str) -> Option<VertexClaude<'_>> {
    let at = path.find("/publishers/anthropic/models/")?;
    let rest = &path[at + "/publishers/anthropic/models/".len()..];
    let (model, method) = rest.rsplit_once(':')?;
    let stream = match method {
        "rawPredict" => false,
        "streamRawPredict" => true,
        _ => return None,
    };
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let model = (model != "count-tokens").then_some(model);
    Some(VertexClaude { model, stream })
}

/// The platform's refusal of a request's credential or address, before the vendor's handler.
pub(crate) fn refusal(shared: &Shared, request: &Request<'_>, cloud: Cloud<'_>) -> Option<Outcome> {
    let token = bearer(request.headers).filter(|token| !token.is_empty());
    let valid = |token: &str| {
        shared
            .access_tokens()
            .is_none_or(|tokens| tokens.is_valid(token))
    };
    match cloud {
        Cloud::Vertex { .. } => match token {
            Some(token) if valid(token) => None,
            _ => Some(google_unauthenticated()),
        },
        Cloud::Azure { v1 } => {
            if !v1 && request.query_param("api-version").is_none() {
                let body = json!({"error": {"code": "404", "message": "Resource not found"}});
                return Some(Outcome::json(StatusCode::NOT_FOUND, body.to_string()));
            }
            let key = request
                .headers
                .get("api-key")
                .and_then(|value| value.to_str().ok());
            match (key, token) {
                (Some(key), _) if shared.expected_key().is_none_or(|expected| key == expected) => {
                    None
                }
                (Some(_), _) => Some(azure_unauthorized(
                    "Access denied due to invalid subscription key or wrong API endpoint. Make sure \
                     to provide a valid key for an active subscription and use a correct regional \
                     API endpoint for your resource.",
                )),
                (None, Some(token)) if valid(token) => None,
                (None, _) => Some(azure_unauthorized(
                    "Unauthorized. Access token is missing, invalid, audience is incorrect \
                     (https://cognitiveservices.azure.com), or have expired.",
                )),
            }
        }
    }
}

fn google_unauthenticated() -> Outcome {
    let body = json!({"error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access \
                    token, login cookie or other valid authentication credential. See \
                    https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "status": "UNAUTHENTICATED"
    }});
    Outcome::json(StatusCode::UNAUTHORIZED, body.to_string())
}

fn azure_unauthorized(message: &str) -> Outcome {
    let body = json!({"error": {"code": "401", "message": message}});
    Outcome::json(StatusCode::UNAUTHORIZED, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_paths_are_recognised() {
        let claude = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-x@1:streamRawPredict";
        assert_eq!(
            Cloud::of(claude),
            Some(Cloud::Vertex {
                claude: Some(VertexClaude {
                    model: Some("claude-x@1"),
                    stream: true
                })
            })
        );
        let count =
            "/v1/projects/p/locations/global/publishers/anthropic/models/count-tokens:rawPredict";
        assert_eq!(
            vertex_claude(count),
            Some(VertexClaude {
                model: None,
                stream: false
            })
        );
        let gemini = "/v1/projects/p/locations/global/publishers/google/models/g:generateContent";
        assert_eq!(Cloud::of(gemini), Some(Cloud::Vertex { claude: None }));
        assert_eq!(
            Cloud::of("/openai/v1/responses"),
            Some(Cloud::Azure { v1: true })
        );
        assert_eq!(Cloud::of("/v1/chat/completions"), None);
        let tokens = AccessTokens::new();
        let token = tokens.issue(Duration::from_secs(60));
        assert!(tokens.is_valid(&token) && !tokens.is_valid("forged"));
        assert!(!tokens.is_valid(&tokens.issue(Duration::ZERO)));
    }
}
