//! Bedrock's auth, checked as AWS checks it: a SigV4 `Authorization` header scoped to the
//! `bedrock` service (recomputed with AWS's own signer when the mock knows the credentials), or a
//! bearer token (a Bedrock API key). Failures are AWS's 403s.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::SessionTokenMode;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::date_time::{DateTime, Format as DateFormat};

use super::aws_error;
use crate::format::{self, Outcome, Request};
use crate::options::AwsCredentials;
use crate::server::Shared;

/// The SigV4 signing name of Bedrock's runtime.
const SERVICE: &str = "bedrock";

/// The namespace of AWS's own authentication exceptions.
const CORAL: &str = "http://internal.amazon.com/coral/com.amazon.coral.service/";

/// How far a request's `X-Amz-Date` may stray from the clock.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// The parts of an `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    /// `AKID/DATE/REGION/SERVICE/aws4_request`, split.
    scope: Vec<&'a str>,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(params: &'a str) -> Result<Self, String> {
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for pair in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!(
                    "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization \
                     header: 'AWS4-HMAC-SHA256 {params}'."
                ));
            };
            match key {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed = Some(value),
                "Signature" => signature = Some(value),
                _ => {}
            }
        }
        let mut missing = Vec::new();
        for (name, value) in [
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed),
        ] {
            if value.is_none() {
                missing.push(format!("Authorization header requires '{name}' parameter."));
            }
        }
        match (credential, signed, signature) {
            (Some(credential), Some(signed), Some(signature)) => Ok(Self {
                scope: credential.split('/').collect(),
                signed_headers: signed.split(';').collect(),
                signature,
            }),
            _ => Err(missing.join(" ")),
        }
    }
}

/// Checks a Bedrock request's credentials; `Err` holds AWS's refusal.
pub(super) fn check(shared: &Shared, request: &Request<'_>) -> Result<(), Outcome> {
    let header = request
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
        return Err(refuse(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    if let Some(token) = format::bearer(request.headers) {
        return match (token, shared.expected_key()) {
            ("", _) => Err(refuse(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )),
            (token, Some(expected)) if token != expected => Err(unrecognized()),
            _ => Ok(()),
        };
    }
    let Some(params) = header.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(&format!(
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization={header}"
        )));
    };
    let authorization = Authorization::parse(params).map_err(|message| incomplete(&message))?;
    let [access_key_id, _date, region, service, terminator] = authorization.scope[..] else {
        return Err(incomplete(
            "Credential should be scoped to a valid region, a valid service and a valid \
             terminator.",
        ));
    };
    if service != SERVICE {
        return Err(invalid_signature(&format!(
            "Credential should be scoped to correct service: '{SERVICE}'. "
        )));
    }
    if terminator != "aws4_request" {
        return Err(invalid_signature(&format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not \
             '{terminator}'. "
        )));
    }
    let Some(amz_date) = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(incomplete(&format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. Authorization={header}"
        )));
    };
    let Some(credentials) = shared.aws_credentials() else {
        return Ok(());
    };
    if access_key_id != credentials.access_key_id {
        return Err(unrecognized());
    }
    let Some(signed_at) = parse_amz_date(amz_date) else {
        return Err(incomplete(&format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };
    check_skew(amz_date, signed_at, SystemTime::now())?;
    let expected = expected_signature(credentials, request, &authorization, region, signed_at);
    if expected.as_deref() != Some(authorization.signature) {
        return Err(invalid_signature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ));
    }
    Ok(())
}

/// The signature AWS's signer computes for the request as received, over the headers it lists.
fn expected_signature(
    credentials: &AwsCredentials,
    request: &Request<'_>,
    authorization: &Authorization<'_>,
    region: &str,
    signed_at: SystemTime,
) -> Option<String> {
    let headers = request.headers;
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed: Vec<(&str, &str)> = authorization
        .signed_headers
        .iter()
        .flat_map(|name| {
            let values = headers.get_all(*name).into_iter();
            values.filter_map(move |v| v.to_str().ok().map(|v| (*name, v)))
        })
        .collect();
    let token = value("x-amz-security-token");
    let mut settings = SigningSettings::default();
    // Sign exactly what the client listed: none of the signer's own exclusions apply.
    settings.excluded_headers = None;
    if token.is_some()
        && !authorization
            .signed_headers
            .contains(&"x-amz-security-token")
    {
        settings.session_token_mode = SessionTokenMode::Exclude;
    }
    let identity: Identity = Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        token.map(str::to_owned),
        None,
        "busbar-mock",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(signed_at)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let body = match value("x-amz-content-sha256") {
        Some("UNSIGNED-PAYLOAD") => SignableBody::UnsignedPayload,
        _ => SignableBody::Bytes(request.body),
    };
    let host = value("host").unwrap_or("localhost");
    let query = request.query.map(|q| format!("?{q}")).unwrap_or_default();
    let uri = format!("http://{host}{}{query}", request.path);
    let method = request.method.as_str();
    let signable = SignableRequest::new(method, uri, signed.into_iter(), body).ok()?;
    let output = sign(signable, &params).ok()?;
    Some(output.signature().to_owned())
}

/// `20240102T030405Z` as a point in time.
fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let digits = |range: std::ops::Range<usize>| {
        value
            .get(range)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
    };
    if value.len() != 16 || value.as_bytes()[8] != b'T' || !value.ends_with('Z') {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        digits(0..4)?,
        digits(4..6)?,
        digits(6..8)?,
        digits(9..11)?,
        digits(11..13)?,
        digits(13..15)?
    );
    let parsed = DateTime::from_str(&rfc3339, DateFormat::DateTime).ok()?;
    SystemTime::try_from(parsed).ok()
}

/// `time` as `20240102T030405Z`.
fn format_amz_date(time: SystemTime) -> String {
    let rfc3339 = DateTime::from(time)
        .fmt(DateFormat::DateTime)
        .unwrap_or_default();
    let mut out: String = rfc3339
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    // Drop fractional seconds, which the basic format has no room for.
    if let Some(dot) = out.find('.') {
        out.truncate(dot);
        out.push('Z');
    }
    out
}

fn check_skew(amz_date: &str, signed_at: SystemTime, now: SystemTime) -> Result<(), Outcome> {
    let now_text = format_amz_date(now);
    if signed_at + MAX_SKEW < now {
        let limit = format_amz_date(now - MAX_SKEW);
        return Err(invalid_signature(&format!(
            "Signature expired: {amz_date} is now earlier than {limit} ({now_text} - 5 min.)"
        )));
    }
    if signed_at > now + MAX_SKEW {
        let limit = format_amz_date(now + MAX_SKEW);
        return Err(invalid_signature(&format!(
            "Signature not yet current: {amz_date} is still later than {limit} ({now_text} + 5 \
             min.)"
        )));
    }
    Ok(())
}

fn refuse(name: &str, message: &str) -> Outcome {
    aws_error(403, name, CORAL, message)
}

fn incomplete(message: &str) -> Outcome {
    refuse("IncompleteSignatureException", message)
}

fn invalid_signature(message: &str) -> Outcome {
    refuse("InvalidSignatureException", message)
}

fn unrecognized() -> Outcome {
    refuse(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_parse() {
        let parsed = Authorization::parse(
            "Credential=AK/20240101/us-east-1/bedrock/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc",
        );
        assert_eq!(
            parsed,
            Ok(Authorization {
                scope: vec!["AK", "20240101", "us-east-1", "bedrock", "aws4_request"],
                signed_headers: vec!["host", "x-amz-date"],
                signature: "abc",
            })
        );
        let missing = Authorization::parse("Credential=AK/x").unwrap_err();
        assert!(missing.contains("'Signature'") && missing.contains("'SignedHeaders'"));
        assert!(Authorization::parse("Credential").is_err());
    }

    #[test]
    fn amz_dates_round_trip_and_skew_is_bounded() {
        let time = parse_amz_date("20240102T030405Z").expect("valid date");
        assert_eq!(format_amz_date(time), "20240102T030405Z");
        assert_eq!(parse_amz_date("2024-01-02T03:04:05Z"), None);
        assert_eq!(parse_amz_date("2024010xT030405Z"), None);
        let late = time + Duration::from_secs(6 * 60);
        assert!(check_skew("20240102T030405Z", time, late).is_err());
        assert!(check_skew("20240102T030405Z", late, time).is_err());
        assert!(check_skew("20240102T030405Z", time, time + Duration::from_secs(60)).is_ok());
    }
}
