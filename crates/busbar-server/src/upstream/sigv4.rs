//! AWS Signature Version 4: signing Bedrock requests to upstreams, and
//! verifying the signatures Bedrock clients send Busbar.
//!
//! A client verifies as AWS would: the `Authorization` header names the
//! access key, scope and signed headers; Busbar recomputes the signature
//! over exactly those headers, the method, path, query and body, with the
//! secret the access key stands for, and compares. `X-Amz-Date` must be
//! within five minutes of now, so a captured request cannot be replayed
//! later.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SessionTokenMode, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::Full;

use super::aws::AwsChain;
use super::refresh::CredentialsError;
use crate::error::GatewayError;

/// How far a client's `X-Amz-Date` may be from Busbar's clock.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// What signs one Bedrock lane's requests.
pub(crate) struct Signer {
    keys: Keys,
    region: String,
    /// The AWS service the signature is scoped to (the protocol's).
    service: &'static str,
}

/// Where a signer's credentials come from.
enum Keys {
    /// The key pair in `api_key_env`.
    Fixed(Identity),
    /// The AWS default credential chain, shared by the provider's lanes.
    Chain(Arc<AwsChain>),
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SignError {
    /// No credentials: a failure of class `auth`.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The request cannot be signed (a header the signer refuses).
    #[error("cannot sign the request: {0}")]
    Request(String),
}

impl Signer {
    /// A signer for `region` with a key pair and optional session token.
    pub(crate) fn new(
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
        region: String,
        service: &'static str,
    ) -> Self {
        let credentials = Credentials::new(
            access_key_id,
            secret_access_key,
            session_token.map(str::to_owned),
            None,
            "busbar-config",
        );
        Self {
            keys: Keys::Fixed(credentials.into()),
            region,
            service,
        }
    }

    /// A signer for `region` taking its credentials from `chain`.
    pub(crate) fn from_chain(chain: Arc<AwsChain>, region: String, service: &'static str) -> Self {
        Self {
            keys: Keys::Chain(chain),
            region,
            service,
        }
    }

    /// Adds `Authorization`, `X-Amz-Date` and, with a session token,
    /// `X-Amz-Security-Token` to `request`, signing its method, URI, headers
    /// and body as of `time`.
    pub(crate) async fn sign(
        &self,
        request: &mut http::Request<Full<Bytes>>,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), SignError> {
        let identity = match &self.keys {
            Keys::Fixed(identity) => identity.clone(),
            Keys::Chain(chain) => chain.identity().await?,
        };
        self.sign_as(&identity, request, body, time)
            .map_err(SignError::Request)
    }

    fn sign_as(
        &self,
        identity: &Identity,
        request: &mut http::Request<Full<Bytes>>,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), String> {
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| error.to_string())?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri.as_str(),
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|error| error.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|error| error.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// A client's `Authorization: AWS4-HMAC-SHA256 …` header, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Presented {
    /// The access key id: a virtual key's id, or anything in token mode.
    pub(crate) access_key_id: String,
    region: String,
    service: String,
    /// The service the protocol's signatures must be scoped to.
    expected_service: &'static str,
    signed_headers: Vec<String>,
    signature: String,
    signed_at: SystemTime,
}

/// Why a signature does not verify; AWS's exception name and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Rejected {
    /// `IncompleteSignatureException` or `InvalidSignatureException`.
    pub(crate) exception: &'static str,
    /// What is wrong.
    pub(crate) message: String,
}

impl Rejected {
    fn incomplete(message: impl Into<String>) -> Self {
        Self {
            exception: "IncompleteSignatureException",
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self {
            exception: "InvalidSignatureException",
            message: message.into(),
        }
    }
}

impl Presented {
    /// The SigV4 header of a request to a protocol whose signatures are
    /// scoped to `service`: `None` when it carries none (a bearer token, say),
    /// an error when it carries a malformed one.
    pub(crate) fn parse(
        headers: &HeaderMap,
        service: &'static str,
    ) -> Option<Result<Self, Rejected>> {
        let header = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let params = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
        Some(Self::parse_params(params, headers, service))
    }

    fn parse_params(
        params: &str,
        headers: &HeaderMap,
        expected_service: &'static str,
    ) -> Result<Self, Rejected> {
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for pair in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("Credential", value)) => credential = Some(value),
                Some(("SignedHeaders", value)) => signed = Some(value),
                Some(("Signature", value)) => signature = Some(value),
                _ => {}
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature)
        else {
            return Err(Rejected::incomplete(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
            ));
        };
        let [access_key_id, _date, region, service, "aws4_request"] =
            credential.split('/').collect::<Vec<_>>()[..]
        else {
            return Err(Rejected::incomplete(
                "Credential should be scoped to a valid region, a valid service and a valid terminator.",
            ));
        };
        let signed_at = headers
            .get("x-amz-date")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_amz_date)
            .ok_or_else(|| {
                Rejected::incomplete("Authorization header requires a valid 'X-Amz-Date' header.")
            })?;
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            expected_service,
            signed_headers: signed
                .split(';')
                .map(|name| name.to_ascii_lowercase())
                .collect(),
            signature: signature.to_ascii_lowercase(),
            signed_at,
        })
    }

    /// Checks the signature of the request `parts` with `body`, made with
    /// `secret` as the secret access key, as of `now`.
    /// Checks what the headers alone can show: the date is within five
    /// minutes of `now` and the credential is scoped to the protocol's
    /// service. Done before the body is read, so a stale or misdirected
    /// signature costs no body.
    pub(crate) fn check_scope(&self, now: SystemTime) -> Result<(), Rejected> {
        let skew = now
            .duration_since(self.signed_at)
            .or_else(|_| self.signed_at.duration_since(now))
            .unwrap_or(Duration::MAX);
        if skew > MAX_SKEW {
            return Err(Rejected::invalid(
                "Signature expired or not yet valid: X-Amz-Date is more than 5 minutes from now.",
            ));
        }
        if self.service != self.expected_service {
            return Err(Rejected::invalid(format!(
                "Credential should be scoped to correct service: '{}'.",
                self.expected_service
            )));
        }
        Ok(())
    }

    /// Checks the signature over the request and its `body`, with `secret`
    /// (after [`check_scope`](Self::check_scope), which it repeats).
    pub(crate) fn verify(
        &self,
        secret: &str,
        parts: &http::request::Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Rejected> {
        self.check_scope(now)?;
        let expected = self.expected_signature(secret, parts, body);
        let matches = expected.as_deref().is_some_and(|expected| {
            constant_time_eq(expected.as_bytes(), self.signature.as_bytes())
        });
        if matches {
            Ok(())
        } else {
            Err(Rejected::invalid(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method.",
            ))
        }
    }

    /// The signature of the request as received, over the headers the
    /// client listed and no others.
    fn expected_signature(
        &self,
        secret: &str,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Option<String> {
        let headers = &parts.headers;
        // HTTP/2 carries the host as the URI's authority, not a header.
        let authority = parts.uri.authority().map(|a| a.as_str());
        let host = headers
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .or(authority)?;
        let mut signed: Vec<(&str, &str)> = Vec::with_capacity(self.signed_headers.len());
        for name in &self.signed_headers {
            if name == "host" {
                signed.push(("host", host));
                continue;
            }
            for value in headers.get_all(name.as_str()) {
                signed.push((name.as_str(), value.to_str().ok()?));
            }
        }
        let token = headers
            .get("x-amz-security-token")
            .and_then(|value| value.to_str().ok());
        let mut settings = SigningSettings::default();
        settings.excluded_headers = None;
        if token.is_some()
            && !self
                .signed_headers
                .iter()
                .any(|h| h == "x-amz-security-token")
        {
            settings.session_token_mode = SessionTokenMode::Exclude;
        }
        let identity: Identity = Credentials::new(
            &self.access_key_id,
            secret,
            token.map(str::to_owned),
            None,
            "busbar-client",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(self.signed_at)
            .settings(settings)
            .build()
            .ok()?
            .into();
        let unsigned = headers
            .get("x-amz-content-sha256")
            .is_some_and(|value| value == "UNSIGNED-PAYLOAD");
        let body = if unsigned {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(body)
        };
        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let uri = format!("http://{host}{}{query}", parts.uri.path());
        let signable =
            SignableRequest::new(parts.method.as_str(), uri, signed.into_iter(), body).ok()?;
        Some(sign(signable, &params).ok()?.signature().to_owned())
    }
}

/// `20250501T120000Z` as a point in time.
fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let bytes = value.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = value.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar.
    let shifted = if month <= 2 { year - 1 } else { year };
    let era = shifted.div_euclid(400);
    let year_of_era = shifted - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// Whether `a` equals `b`, in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl From<Rejected> for GatewayError {
    fn from(rejected: Rejected) -> Self {
        GatewayError::BadSignature {
            exception: rejected.exception,
            message: rejected.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signs_with_the_bedrock_service_and_region() {
        let signer = Signer::new(
            "AKIDEXAMPLE",
            "secret",
            Some("token"),
            "eu-west-1".into(),
            "bedrock",
        );
        let body = b"{}".to_vec();
        let mut request = http::Request::new(Full::new(Bytes::from(body.clone())));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m%3A0/converse"
            .parse()
            .unwrap();
        request
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        signer
            .sign(
                &mut request,
                &body,
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            )
            .await
            .unwrap();
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/bedrock/aws4_request"
            ),
            "{authorization}"
        );
        assert!(authorization.contains("SignedHeaders="));
        assert_eq!(request.headers()["x-amz-date"], "20231114T221320Z");
        assert_eq!(request.headers()["x-amz-security-token"], "token");
    }

    /// What botocore 1.43 sent for `aws_access_key_id` = a virtual key's id
    /// and `aws_secret_access_key` = the key.
    fn botocore_request() -> (http::request::Parts, &'static [u8]) {
        let request = http::Request::builder()
            .method("POST")
            .uri("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse")
            .header("host", "127.0.0.1:8080")
            .header("content-type", "application/json")
            .header("user-agent", "Boto3/1.43")
            .header("x-amz-date", "20261125T031327Z")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=vk_0123456789abcdef/20261125/us-east-1/bedrock/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=fa23d1c5d6c0b654ca5083fcfb4d75ce92f8d3b7653f24e475f3adc60656e84d",
            )
            .body(())
            .unwrap();
        let body: &'static [u8] = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        (request.into_parts().0, body)
    }

    const SECRET: &str = "sk-bb-0123456789abcdef0123456789abcdef";

    #[test]
    fn verifies_what_botocore_signed_and_nothing_else() {
        let (parts, body) = botocore_request();
        let presented = Presented::parse(&parts.headers, "bedrock")
            .unwrap()
            .unwrap();
        assert_eq!(presented.access_key_id, "vk_0123456789abcdef");
        let signed_at = parse_amz_date("20261125T031327Z").unwrap();
        let now = signed_at + Duration::from_secs(30);
        assert_eq!(presented.verify(SECRET, &parts, body, now), Ok(()));
        let wrong_secret =
            presented.verify("sk-bb-ffffffffffffffffffffffffffffffff", &parts, body, now);
        assert_eq!(
            wrong_secret.unwrap_err().exception,
            "InvalidSignatureException"
        );
        let tampered = presented.verify(SECRET, &parts, br#"{"messages":[]}"#, now);
        assert!(tampered.is_err());
        let late = presented.verify(SECRET, &parts, body, signed_at + Duration::from_secs(301));
        assert!(late.unwrap_err().message.contains("expired"));
    }

    #[test]
    fn a_bearer_token_is_no_signature_and_a_broken_header_is_incomplete() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer sk-bb-x".parse().unwrap());
        assert_eq!(Presented::parse(&headers, "bedrock"), None);
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=a/b".parse().unwrap(),
        );
        let rejected = Presented::parse(&headers, "bedrock").unwrap().unwrap_err();
        assert_eq!(rejected.exception, "IncompleteSignatureException");
    }

    #[tokio::test]
    async fn signs_and_verifies_its_own_requests() {
        let signer = Signer::new(
            "vk_0123456789abcdef",
            SECRET,
            None,
            "eu-west-1".into(),
            "bedrock",
        );
        let body = b"{}".to_vec();
        let mut request = http::Request::new(Full::new(Bytes::from(body.clone())));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = "http://localhost:8080/model/m%3A0/converse-stream?x=1"
            .parse()
            .unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        signer.sign(&mut request, &body, now).await.unwrap();
        let (parts, _) = request.into_parts();
        let presented = Presented::parse(&parts.headers, "bedrock")
            .unwrap()
            .unwrap();
        assert_eq!(presented.verify(SECRET, &parts, &body, now), Ok(()));
    }

    #[test]
    fn reads_amz_dates() {
        let date = parse_amz_date("20231114T221320Z").unwrap();
        assert_eq!(
            date,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            parse_amz_date("20000229T000000Z").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)
        );
        for bad in [
            "2023-11-14T22:13:20Z",
            "20231314T221320Z",
            "20231114T221320",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
