//! Client authentication: who may use Busbar, and the caller's credential
//! for `auth.mode: passthrough`.

use http::Request;

use crate::error::GatewayError;

/// How clients are authenticated.
pub(crate) enum ClientAuth {
    /// Anyone may call.
    Open,
    /// A request must carry one of these tokens.
    Tokens(Vec<Vec<u8>>),
    /// Anyone may call; the caller's own credential goes upstream.
    Passthrough,
}

/// The credential a request carries, from the first carrier that has one:
/// `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`, then `?key=`.
pub(crate) struct Credential(Option<String>);

impl Credential {
    pub(crate) fn from_request<B>(request: &Request<B>) -> Self {
        let headers = request.headers();
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            });
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(|value| value.trim().to_owned())
        };
        let query_key = || {
            request.uri().query().and_then(|query| {
                query.split('&').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    (name == "key").then(|| crate::ingress::percent_decode(value))?
                })
            })
        };
        Self(
            bearer
                .or_else(|| header("x-api-key"))
                .or_else(|| header("x-goog-api-key"))
                .or_else(query_key)
                .filter(|token| !token.is_empty()),
        )
    }

    pub(crate) fn into_token(self) -> Option<String> {
        self.0
    }
}

impl ClientAuth {
    /// Admits or refuses a request's credential.
    pub(crate) fn check(&self, credential: &Credential) -> Result<(), GatewayError> {
        match self {
            Self::Open | Self::Passthrough => Ok(()),
            Self::Tokens(tokens) => {
                let Some(presented) = credential.0.as_deref() else {
                    return Err(GatewayError::Unauthorized);
                };
                // Compare against every token, in constant time for each, so
                // timing reveals neither which token matched nor how much of
                // one did.
                let mut matched = false;
                for token in tokens {
                    matched |= constant_time_eq(token, presented.as_bytes());
                }
                if matched {
                    Ok(())
                } else {
                    Err(GatewayError::Unauthorized)
                }
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        let r = request(&[("authorization", "Basic zzz")], "/");
        assert_eq!(Credential::from_request(&r).into_token(), None);
    }

    #[test]
    fn tokens_admit_only_exact_matches() {
        let auth = ClientAuth::Tokens(vec![b"secret".to_vec(), b"other".to_vec()]);
        let with = |token: &str| Credential(Some(token.to_owned()));
        assert!(auth.check(&with("secret")).is_ok());
        assert!(auth.check(&with("other")).is_ok());
        assert!(auth.check(&with("secre")).is_err());
        assert!(auth.check(&with("secret2")).is_err());
        assert!(auth.check(&Credential(None)).is_err());
        assert!(ClientAuth::Open.check(&Credential(None)).is_ok());
    }
}
