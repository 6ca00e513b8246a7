//! Client authentication: who may use Busbar (a client token, a virtual
//! key, a Bedrock client's SigV4 signature), and the caller's credential for
//! `auth.mode: passthrough`.

use std::time::SystemTime;

use busbar_governance::{looks_like_virtual_key, Refusal};
use busbar_protocols::wire::percent_decode;
use busbar_protocols::Protocol;
use http::{HeaderMap, Request};

use crate::error::GatewayError;
use crate::governance::{refused, Caller};
use crate::state::{ClientAuth, State};
use crate::upstream::sigv4::Presented;

/// The credential a request carries, from the first carrier that has one:
/// `Authorization: Bearer`, then each protocol's own headers (`x-api-key`,
/// `x-goog-api-key`, Azure's `api-key`), then its query parameters
/// (`?key=`). Any carrier is read on any route: an SDK pointed at another
/// protocol's path still sends its own.
pub(crate) struct Credential(Option<String>);

impl Credential {
    pub(crate) fn from_request<B>(request: &Request<B>) -> Self {
        let headers = request.headers();
        let wires = || Protocol::ALL.into_iter().map(Protocol::wire);
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(|value| value.trim().to_owned())
        };
        let query_key = |key: &str| {
            request.uri().query().and_then(|query| {
                query.split('&').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    (name == key).then(|| percent_decode(value))?
                })
            })
        };
        let token = bearer(headers)
            .map(str::to_owned)
            .or_else(|| {
                wires()
                    .flat_map(|wire| wire.credential_headers())
                    .find_map(|name| header(name))
            })
            .or_else(|| {
                wires()
                    .filter_map(|wire| wire.credential_query())
                    .find_map(query_key)
            });
        Self(token.filter(|token| !token.is_empty()))
    }

    /// The credential, if the request carries one.
    pub(crate) fn token(&self) -> Option<&str> {
        self.0.as_deref()
    }

    pub(crate) fn into_token(self) -> Option<String> {
        self.0
    }
}

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// What a proxied request offers as proof of who sent it, read from its
/// headers before its body is.
pub(crate) enum Proof {
    /// Admitted as it stands; the credential (if any) goes upstream under
    /// `auth.mode: passthrough`.
    Admitted(Option<String>),
    /// A virtual key, for governance to admit.
    Key(String),
    /// A Bedrock client's SigV4 signature, checked once the body is in.
    Signed(Presented),
    /// A SigV4 signature made with a virtual key, whose secret was recovered
    /// (the key exists) before the body was read.
    SignedWithKey {
        /// The signature.
        presented: Presented,
        /// The virtual key's secret, which signed it.
        secret: String,
    },
}

/// Checks everything about a proof that needs no body, so that a request
/// that will be refused is refused before its body is read: a virtual key
/// must name an enabled key, a signature must be in date and scoped to the
/// protocol's service, and under governance its key id must name a key.
/// Only a signature's match against the body waits for [`verify`].
pub(crate) async fn precheck(state: &State, proof: Proof) -> Result<Proof, GatewayError> {
    match proof {
        Proof::Admitted(_) | Proof::SignedWithKey { .. } => Ok(proof),
        Proof::Key(secret) => {
            if let Some(governance) = state.governance()? {
                governance.identify(&secret).await?;
            }
            Ok(Proof::Key(secret))
        }
        Proof::Signed(presented) => {
            presented.check_scope(SystemTime::now())?;
            let Some(governance) = state.governance()? else {
                return Ok(Proof::Signed(presented));
            };
            // The access key id is the virtual key's id; its sealed copy is
            // the secret the client signed with.
            match governance
                .governor()
                .recover_secret(&presented.access_key_id)
                .await
            {
                Ok(Some(secret)) => Ok(Proof::SignedWithKey {
                    presented,
                    secret: secret.expose().to_owned(),
                }),
                Ok(None) => Err(refused(Refusal::UnknownKey)),
                Err(error) => Err(refused(Refusal::StoreUnavailable {
                    reason: error.to_string(),
                })),
            }
        }
    }
}

/// A request's proof, checked.
pub(crate) struct Verified {
    /// The caller's own credential, for `auth.mode: passthrough`.
    pub(crate) client_credential: Option<String>,
    /// The virtual key, under governance.
    pub(crate) virtual_key: Option<String>,
}

/// Who calls `/stats`, `/metrics` or a model list: with governance on, a
/// valid key or the admin token; otherwise whoever `auth` admits.
pub(crate) async fn caller<B>(
    state: &State,
    request: &http::Request<B>,
) -> Result<Caller, GatewayError> {
    let credential = Credential::from_request(request);
    let Some(governance) = state.governance()? else {
        state.auth.check(credential.token())?;
        return Ok(Caller::Anyone);
    };
    let token = credential.into_token();
    if governance.is_admin(request.headers(), token.as_deref()) {
        return Ok(Caller::Admin);
    }
    match token {
        Some(secret) => governance
            .identify(&secret)
            .await
            .map(|key| Caller::Key(Box::new(key))),
        None => Err(refused(Refusal::UnknownKey)),
    }
}

/// Reads a proxied request's proof. Under governance only a virtual key
/// (in any carrier) or, from a Bedrock client, a signature made with one
/// will do; static client tokens no longer admit. Under `auth.mode: token`
/// a Bedrock client may sign with a client token as its secret.
pub(crate) fn proof<B>(
    state: &State,
    request: &Request<B>,
    protocol: Protocol,
) -> Result<Proof, GatewayError> {
    let signed = protocol
        .wire()
        .sigv4_service()
        .and_then(|service| Presented::parse(request.headers(), service));
    let governed = state.governance()?.is_some();
    match signed {
        Some(Ok(presented)) if governed || matches!(state.auth, ClientAuth::Tokens(_)) => {
            return Ok(Proof::Signed(presented));
        }
        Some(Err(rejected)) if governed || matches!(state.auth, ClientAuth::Tokens(_)) => {
            return Err(rejected.into());
        }
        _ => {}
    }
    let credential = Credential::from_request(request);
    if governed {
        return match credential.into_token() {
            Some(secret) if looks_like_virtual_key(&secret) => Ok(Proof::Key(secret)),
            _ => Err(refused(Refusal::UnknownKey)),
        };
    }
    state.auth.check(credential.token())?;
    // Only a passthrough caller's credential goes on: a client token is
    // Busbar's, never an upstream's.
    let own = match state.auth {
        ClientAuth::Passthrough => credential.into_token(),
        ClientAuth::Open | ClientAuth::Tokens(_) => None,
    };
    Ok(Proof::Admitted(own))
}

/// Checks a proof that needs the body (a signature) and says what the
/// request carries on.
pub(crate) async fn verify(
    state: &State,
    proof: Proof,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Verified, GatewayError> {
    let presented = match proof {
        Proof::Admitted(client_credential) => {
            return Ok(Verified {
                client_credential,
                virtual_key: None,
            })
        }
        Proof::Key(secret) => {
            return Ok(Verified {
                client_credential: None,
                virtual_key: Some(secret),
            })
        }
        Proof::SignedWithKey { presented, secret } => {
            presented.verify(&secret, parts, body, SystemTime::now())?;
            return Ok(Verified {
                client_credential: None,
                virtual_key: Some(secret),
            });
        }
        Proof::Signed(presented) => presented,
    };
    let now = SystemTime::now();
    if state.governance()?.is_some() {
        // Governed signatures were resolved to their key by `precheck`.
        return Err(refused(Refusal::UnknownKey));
    }
    let ClientAuth::Tokens(tokens) = &state.auth else {
        return Err(GatewayError::Unauthorized);
    };
    // Any client token may be the secret; the access key id names none.
    let mut outcome = Err(GatewayError::Unauthorized);
    for token in tokens {
        let Ok(token) = std::str::from_utf8(token) else {
            continue;
        };
        match presented.verify(token, parts, body, now) {
            Ok(()) => {
                return Ok(Verified {
                    client_credential: None,
                    virtual_key: None,
                })
            }
            Err(rejected) => outcome = Err(rejected.into()),
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], uri: &str) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn carriers_in_order() {
        let r = request(&[("authorization", "Bearer a"), ("x-api-key", "b")], "/");
        assert_eq!(
            Credential::from_request(&r).into_token().as_deref(),
            Some("a")
        );
        let r = request(&[("x-api-key", "b"), ("x-goog-api-key", "c")], "/");
        assert_eq!(
            Credential::from_request(&r).into_token().as_deref(),
            Some("b")
        );
        let r = request(&[("x-goog-api-key", "c")], "/?key=d");
        assert_eq!(
            Credential::from_request(&r).into_token().as_deref(),
            Some("c")
        );
        let r = request(&[], "/x?alt=sse&key=d%2Be");
        assert_eq!(
            Credential::from_request(&r).into_token().as_deref(),
            Some("d+e")
        );
        // Azure OpenAI's clients send `api-key`.
        let r = request(&[("api-key", "k")], "/openai/v1/responses");
        assert_eq!(
            Credential::from_request(&r).into_token().as_deref(),
            Some("k")
        );
        let r = request(&[("authorization", "Basic zzz")], "/");
        assert_eq!(Credential::from_request(&r).into_token(), None);
    }

    #[test]
    fn tokens_admit_only_exact_matches() {
        let auth = ClientAuth::Tokens(vec![b"secret".to_vec(), b"other".to_vec()]);
        let with = |token: &str| Credential(Some(token.to_owned()));
        assert!(auth.check(with("secret").token()).is_ok());
        assert!(auth.check(with("other").token()).is_ok());
        assert!(auth.check(with("secre").token()).is_err());
        assert!(auth.check(with("secret2").token()).is_err());
        assert!(auth.check(None).is_err());
        assert!(ClientAuth::Open.check(None).is_ok());
    }
}
