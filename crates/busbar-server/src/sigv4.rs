//! Signing Bedrock requests with AWS Signature Version 4.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::Full;

/// What signs one Bedrock lane's requests.
pub(crate) struct Signer {
    identity: Identity,
    region: String,
}

impl Signer {
    /// A signer for `region` with a key pair and optional session token.
    pub(crate) fn new(
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
        region: String,
    ) -> Self {
        let credentials = Credentials::new(
            access_key_id,
            secret_access_key,
            session_token.map(str::to_owned),
            None,
            "busbar-config",
        );
        Self {
            identity: credentials.into(),
            region,
        }
    }

    /// Adds `Authorization`, `X-Amz-Date` and, with a session token,
    /// `X-Amz-Security-Token` to `request`, signing its method, URI, headers
    /// and body as of `time`.
    pub(crate) fn sign(
        &self,
        request: &mut http::Request<Full<Bytes>>,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), String> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("bedrock")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_the_bedrock_service_and_region() {
        let signer = Signer::new("AKIDEXAMPLE", "secret", Some("token"), "eu-west-1".into());
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
}
