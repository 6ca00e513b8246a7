//! Microsoft Entra ID access tokens for Azure OpenAI (`credentials: azure`),
//! in azure-identity's order: a service principal's client secret
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, at
//! `AZURE_AUTHORITY_HOST`), else a managed identity: App Service's,
//! Functions' and Container Apps' endpoint (`IDENTITY_ENDPOINT` with
//! `IDENTITY_HEADER`), else the instance metadata service (IMDS). Without
//! a secret, `AZURE_CLIENT_ID` picks a user-assigned managed identity.

use super::client::UpstreamClient;
use super::refresh::CredentialsError;
use super::token::{call, encode, AccessToken, SourceError};

/// The scope of Azure OpenAI's data plane (Cognitive Services).
const SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// The same, as a managed identity's `resource`.
const RESOURCE: &str = "https://cognitiveservices.azure.com";
/// Microsoft Entra ID's public-cloud authority.
const AUTHORITY: &str = "https://login.microsoftonline.com";
/// IMDS's address on every Azure VM.
const IMDS: &str = "http://169.254.169.254";
/// Overrides [`IMDS`] (tests, proxies): Busbar's own variable.
pub(crate) const IMDS_OVERRIDE: &str = "BUSBAR_AZURE_IMDS_ENDPOINT";

/// One source of Entra ID access tokens.
pub(crate) struct EntraSource {
    kind: Kind,
    client: UpstreamClient,
}

enum Kind {
    ClientSecret {
        url: String,
        client_id: String,
        secret: String,
    },
    AppService {
        url: String,
        header: String,
    },
    Imds {
        url: String,
    },
}

impl EntraSource {
    /// The source the environment selects; `env` reads a variable (unset
    /// and empty alike `None`).
    pub(crate) fn discover(
        env: &dyn Fn(&str) -> Option<String>,
        client: UpstreamClient,
    ) -> Result<Self, SourceError> {
        Ok(Self {
            kind: kind(env)?,
            client,
        })
    }

    /// What [`discover`](Self::discover) would use, in words.
    pub(crate) fn describe(env: &dyn Fn(&str) -> Option<String>) -> Result<String, SourceError> {
        Ok(match kind(env)? {
            Kind::ClientSecret { url, client_id, .. } => format!(
                "Microsoft Entra ID client credentials of {client_id} (secret from $AZURE_CLIENT_SECRET) at {url}"
            ),
            Kind::AppService { url, .. } => {
                format!("Azure managed identity at $IDENTITY_ENDPOINT ({url})")
            }
            Kind::Imds { url } => format!("Azure managed identity from IMDS ({url})"),
        })
    }

    /// A fresh access token.
    pub(crate) async fn token(&self) -> Result<AccessToken, CredentialsError> {
        match &self.kind {
            Kind::ClientSecret {
                url,
                client_id,
                secret,
            } => {
                let form = format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
                    encode(client_id),
                    encode(secret),
                    encode(SCOPE)
                );
                call(&self.client, url, &[], Some(form)).await
            }
            Kind::AppService { url, header } => {
                call(&self.client, url, &[("x-identity-header", header)], None).await
            }
            Kind::Imds { url } => call(&self.client, url, &[("metadata", "true")], None).await,
        }
    }
}

fn kind(env: &dyn Fn(&str) -> Option<String>) -> Result<Kind, SourceError> {
    let client_id = env("AZURE_CLIENT_ID");
    if let Some(secret) = env("AZURE_CLIENT_SECRET") {
        let missing = |name: &str| {
            SourceError::Invalid(format!(
                "AZURE_CLIENT_SECRET is set but {name} is not: the client-credentials grant needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
            ))
        };
        let tenant = env("AZURE_TENANT_ID").ok_or_else(|| missing("AZURE_TENANT_ID"))?;
        let client_id = client_id.ok_or_else(|| missing("AZURE_CLIENT_ID"))?;
        let authority = env("AZURE_AUTHORITY_HOST").unwrap_or_else(|| AUTHORITY.to_owned());
        return Ok(Kind::ClientSecret {
            url: format!(
                "{}/{}/oauth2/v2.0/token",
                authority.trim_end_matches('/'),
                encode(&tenant)
            ),
            client_id,
            secret,
        });
    }
    let user_assigned = client_id
        .map(|id| format!("&client_id={}", encode(&id)))
        .unwrap_or_default();
    if let (Some(endpoint), Some(header)) = (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
        return Ok(Kind::AppService {
            url: format!(
                "{endpoint}?api-version=2019-08-01&resource={}{user_assigned}",
                encode(RESOURCE)
            ),
            header,
        });
    }
    let base = env(IMDS_OVERRIDE).unwrap_or_else(|| IMDS.to_owned());
    Ok(Kind::Imds {
        url: format!(
            "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}{user_assigned}",
            base.trim_end_matches('/'),
            encode(RESOURCE)
        ),
    })
}
