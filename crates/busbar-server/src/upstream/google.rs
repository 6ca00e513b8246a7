//! Google OAuth 2.0 access tokens for Vertex AI (`credentials: gcp`), from
//! Application Default Credentials in google-auth's order: the key file
//! `GOOGLE_APPLICATION_CREDENTIALS` names, else gcloud's well-known file
//! (`$CLOUDSDK_CONFIG` or `~/.config/gcloud`), else the GCE/GKE metadata
//! server (`GCE_METADATA_HOST` overrides its host).
//!
//! A service account's key mints tokens by the JWT bearer grant (RFC 7523):
//! an RS256-signed assertion posted to the file's `token_uri`. An authorized
//! user's file (`gcloud auth application-default login`) mints them by its
//! refresh token. The metadata server hands out its service account's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::json;

use super::client::UpstreamClient;
use super::refresh::CredentialsError;
use super::token::{call, encode, AccessToken, SourceError};

/// The scope Vertex AI needs.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The audience of a JWT bearer assertion: Google's token endpoint, whatever
/// `token_uri` the key file names (as google-auth does).
const AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// Where refresh tokens are exchanged when the file names no `token_uri`.
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// An assertion's life: the most Google accepts.
const ASSERTION_LIFE_SECS: u64 = 3600;

/// One source of Google access tokens.
pub(crate) struct GoogleSource {
    kind: Kind,
    client: UpstreamClient,
}

enum Kind {
    ServiceAccount {
        email: String,
        key_id: Option<String>,
        key: Arc<RsaKeyPair>,
        token_uri: String,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    Metadata {
        url: String,
    },
}

impl GoogleSource {
    /// The source Application Default Credentials select; `env` reads a
    /// variable (unset and empty alike `None`).
    pub(crate) fn discover(
        env: &dyn Fn(&str) -> Option<String>,
        client: UpstreamClient,
    ) -> Result<Self, SourceError> {
        let kind = match key_file(env) {
            Some((path, _)) => read_key_file(&path)?,
            None => Kind::Metadata {
                url: format!(
                    "http://{}/computeMetadata/v1/instance/service-accounts/default/token",
                    metadata_host(env)
                ),
            },
        };
        Ok(Self { kind, client })
    }

    /// What [`discover`](Self::discover) would use, in words.
    pub(crate) fn describe(env: &dyn Fn(&str) -> Option<String>) -> Result<String, SourceError> {
        Ok(match key_file(env) {
            Some((path, named_by)) => {
                let what = match read_key_file(&path)? {
                    Kind::ServiceAccount { email, .. } => format!("service account {email}"),
                    _ => "authorized user".to_owned(),
                };
                format!(
                    "Google access tokens for {what}, key file {} ({named_by})",
                    path.display()
                )
            }
            None => format!(
                "Google access tokens from the metadata server at {}",
                metadata_host(env)
            ),
        })
    }

    /// A fresh access token.
    pub(crate) async fn token(&self) -> Result<AccessToken, CredentialsError> {
        match &self.kind {
            Kind::ServiceAccount {
                email,
                key_id,
                key,
                token_uri,
            } => {
                let assertion = assertion(email, key_id.as_deref(), key)?;
                let form = format!(
                    "grant_type={}&assertion={assertion}",
                    encode("urn:ietf:params:oauth:grant-type:jwt-bearer")
                );
                call(&self.client, token_uri, &[], Some(form)).await
            }
            Kind::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let form = format!(
                    "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                    encode(client_id),
                    encode(client_secret),
                    encode(refresh_token)
                );
                call(&self.client, token_uri, &[], Some(form)).await
            }
            Kind::Metadata { url } => {
                call(&self.client, url, &[("metadata-flavor", "Google")], None).await
            }
        }
    }
}

/// The key file ADC uses, and what named it.
fn key_file(env: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, &'static str)> {
    if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS") {
        return Some((PathBuf::from(path), "$GOOGLE_APPLICATION_CREDENTIALS"));
    }
    let config = env("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".config/gcloud")))?;
    let path = config.join("application_default_credentials.json");
    path.is_file().then_some((path, "gcloud's well-known file"))
}

/// The metadata server's host: `GCE_METADATA_HOST`, else the older
/// `GCE_METADATA_ROOT`, else `metadata.google.internal`.
fn metadata_host(env: &dyn Fn(&str) -> Option<String>) -> String {
    env("GCE_METADATA_HOST")
        .or_else(|| env("GCE_METADATA_ROOT"))
        .unwrap_or_else(|| "metadata.google.internal".to_owned())
}

fn read_key_file(path: &Path) -> Result<Kind, SourceError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SourceError::Read {
        path: shown.clone(),
        source,
    })?;
    let invalid = |why: &str| SourceError::Invalid(format!("{shown}: {why}"));
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| invalid("not a JSON credentials file"))?;
    let field = |name: &str| {
        json.get(name)
            .and_then(|value| value.as_str())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let required = |name: &str| field(name).ok_or_else(|| invalid(&format!("no `{name}`")));
    match field("type").as_deref() {
        Some("service_account") => {
            let pem = required("private_key")?;
            Ok(Kind::ServiceAccount {
                email: required("client_email")?,
                key_id: field("private_key_id"),
                key: Arc::new(rsa_key(&pem).map_err(&invalid)?),
                token_uri: field("token_uri").unwrap_or_else(|| TOKEN_URI.to_owned()),
            })
        }
        Some("authorized_user") => Ok(Kind::AuthorizedUser {
            client_id: required("client_id")?,
            client_secret: required("client_secret")?,
            refresh_token: required("refresh_token")?,
            token_uri: field("token_uri").unwrap_or_else(|| TOKEN_URI.to_owned()),
        }),
        Some(other) => Err(invalid(&format!(
            "credentials of type `{other}` are not supported (only `service_account` and `authorized_user`)"
        ))),
        None => Err(invalid("no `type`")),
    }
}

/// The RSA key of a PEM block: PKCS#8, as Google issues them, or PKCS#1.
fn rsa_key(pem: &str) -> Result<RsaKeyPair, &'static str> {
    let key = rustls_pemfile::private_key(&mut pem.as_bytes())
        .ok()
        .flatten()
        .ok_or("`private_key` holds no PEM private key")?;
    let parsed = match &key {
        rustls::pki_types::PrivateKeyDer::Pkcs8(der) => {
            RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        }
        rustls::pki_types::PrivateKeyDer::Pkcs1(der) => {
            RsaKeyPair::from_der(der.secret_pkcs1_der())
        }
        _ => return Err("`private_key` is not an RSA key"),
    };
    parsed.map_err(|_| "`private_key` is not a usable RSA key")
}

/// A signed JWT bearer assertion for `email`, valid for an hour.
fn assertion(
    email: &str,
    key_id: Option<&str>,
    key: &RsaKeyPair,
) -> Result<String, CredentialsError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": email,
        "scope": SCOPE,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ASSERTION_LIFE_SECS,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| CredentialsError::Source("cannot sign the JWT assertion".into()))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}
