//! Where and how one lane's requests go upstream: the URL, the credential
//! (a header, or a SigV4 signature), the protocol's extra headers, and what
//! the provider's errors mean.

use std::sync::Arc;
use std::time::Duration;

use busbar_config::{AuthMode, AuthScheme, Credentials, HealthMode, Platform, Price};
use busbar_ir::ApiError;
use busbar_protocols::{IngressRoute, KeyHeader, Platform as CloudPlatform, Protocol};
use busbar_routing::{ErrorSource, FailureClass, ProbeMode};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use http_body_util::Full;

use super::aws::AwsChain;
use super::platform::Rewrite;
use super::sigv4::{SignError, Signer};
use super::token::BearerTokens;
use crate::error::{GatewayError, StartError};
use crate::failure::{classify, ErrorMap};
use crate::record::LaneLine;
use crate::reply::{LaneSpend, Tally};
use crate::trace::LaneAttributes;

/// What a proxied request brings from its client to the upstream request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FromClient<'a> {
    /// The client's headers; the protocol's forwarded ones (`anthropic-beta`)
    /// go upstream when the client speaks the upstream's protocol.
    pub(crate) headers: &'a HeaderMap,
    /// The caller's own credential, under `auth.mode: passthrough`.
    pub(crate) credential: Option<&'a str>,
}

/// Where and how one lane's requests go upstream.
pub(crate) struct Target {
    pub(crate) protocol: Protocol,
    /// The model id sent upstream.
    pub(crate) model_id: String,
    /// The lane's (model's) name, for `x-busbar-model`.
    pub(crate) lane_name: HeaderValue,
    uri: Uri,
    stream_uri: Uri,
    /// The protocol's token-counting endpoint, when it has one.
    count_uri: Option<Uri>,
    /// `None` under `auth.mode: passthrough` (the caller's credential is
    /// used) and for SigV4-signed Bedrock lanes.
    credential: Option<(HeaderName, HeaderValue)>,
    /// Signs each request, for Bedrock lanes with AWS keys or the AWS chain.
    sigv4: Option<Signer>,
    /// Mints the `Authorization` of each request, under `credentials: gcp`
    /// or `azure`.
    bearer: Option<Arc<BearerTokens>>,
    /// What the lane's platform changes in a body.
    rewrite: Option<Rewrite>,
    /// The cloud platform the lane is on, if any.
    platform: Option<CloudPlatform>,
    /// How the key is presented (for passthrough, where it comes per request).
    scheme: AuthScheme,
    pub(crate) default_max_tokens: u64,
    /// The provider's error codes and what they mean for routing.
    error_map: ErrorMap,
    /// How this lane is probed (`health.mode` other than `none`).
    pub(crate) health: Option<Probing>,
    /// What the lane's requests cost, when it has a price.
    price: Option<Arc<Price>>,
    /// The lane's tokens and cost so far.
    pub(crate) spend: Arc<LaneSpend>,
    /// What names this lane's attempt spans.
    pub(crate) span: LaneAttributes,
    /// What names this lane in request-log records.
    pub(crate) record: Arc<LaneLine>,
}

/// A lane's health-probe settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probing {
    pub(crate) mode: ProbeMode,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl Target {
    /// The target for model `name` at `provider`; `chain` is the
    /// provider's AWS credential chain, under `credentials: aws`, and
    /// `bearer` its token source, under `credentials: gcp` or `azure`.
    pub(crate) fn new(
        name: &str,
        model: &busbar_config::Model,
        provider: &busbar_config::Provider,
        mode: AuthMode,
        chain: Option<Arc<AwsChain>>,
        bearer: Option<Arc<BearerTokens>>,
    ) -> Result<Self, StartError> {
        let protocol = provider.protocol;
        let uri = |stream: bool| {
            let url = provider.url(&model.upstream_model, stream);
            url.parse::<Uri>().map_err(|error| {
                StartError::Config(format!(
                    "providers.{}: bad URL {url}: {error}",
                    model.provider
                ))
            })
        };
        let passthrough = mode == AuthMode::Passthrough;
        let service = protocol
            .wire()
            .sigv4_service()
            .filter(|_| provider.auth == AuthScheme::Native && !passthrough);
        let sigv4 = match (service, &provider.credentials) {
            (None, _) => None,
            (Some(service), Credentials::Aws { .. }) => {
                let chain = chain.ok_or_else(|| {
                    StartError::Config(format!(
                        "providers.{}: no AWS credential chain",
                        model.provider
                    ))
                })?;
                Some(Signer::from_chain(chain, provider.aws_region(), service))
            }
            (Some(service), _) => provider.aws_credentials().map(|keys| {
                Signer::new(
                    &keys.access_key_id,
                    keys.secret_access_key.expose(),
                    keys.session_token.as_ref().map(|token| token.expose()),
                    provider.aws_region(),
                    service,
                )
            }),
        };
        let vertex = matches!(provider.platform, Some(Platform::Vertex { .. }));
        // Vertex AI takes an OAuth access token, never a Gemini or Anthropic key.
        let scheme = match provider.auth {
            AuthScheme::Native if vertex => AuthScheme::Bearer,
            scheme => scheme,
        };
        let credential = match &provider.api_key {
            Some(key) if !passthrough && sigv4.is_none() => {
                Some(credential_header(protocol, scheme, key.expose())?)
            }
            _ => None,
        };
        let rewrite = match (vertex && provider.path.is_none(), protocol) {
            (true, Protocol::Anthropic) => Some(Rewrite::VertexAnthropic),
            (true, Protocol::Gemini) => Some(Rewrite::VertexGemini),
            _ => None,
        };
        let platform = match provider.platform {
            Some(Platform::Vertex { .. }) => Some(CloudPlatform::Vertex),
            Some(Platform::Azure { .. }) => Some(CloudPlatform::Azure),
            _ => None,
        };
        let (uri, stream_uri) = (uri(false)?, uri(true)?);
        Ok(Self {
            span: LaneAttributes::new(name, &model.provider, protocol, &model.upstream_model, &uri),
            record: Arc::new(LaneLine::new(
                name,
                &model.provider,
                protocol.name(),
                &model.upstream_model,
            )),
            protocol,
            model_id: model.upstream_model.clone(),
            lane_name: HeaderValue::from_str(name).map_err(|_| {
                StartError::Config(format!("models.{name}: name is not a valid header value"))
            })?,
            uri,
            stream_uri,
            count_uri: match provider.count_url(&model.upstream_model) {
                Some(url) => Some(url.parse::<Uri>().map_err(|error| {
                    StartError::Config(format!(
                        "providers.{}: bad URL {url}: {error}",
                        model.provider
                    ))
                })?),
                None => None,
            },
            credential,
            sigv4,
            bearer: bearer.filter(|_| !passthrough),
            rewrite,
            platform,
            scheme,
            default_max_tokens: u64::from(model.default_max_tokens),
            health: match provider.health.mode {
                HealthMode::None => None,
                HealthMode::Dead => Some(ProbeMode::Dead),
                HealthMode::Active => Some(ProbeMode::Active),
            }
            .map(|mode| Probing {
                mode,
                interval: provider.health.interval,
                timeout: provider.health.timeout,
            }),
            error_map: Arc::new(provider.error_map.clone()),
            price: model.price.clone().map(Arc::new),
            spend: Arc::default(),
        })
    }

    /// The same target, counting into `spend` (a kept lane's totals).
    pub(crate) fn with_spend(mut self, spend: Arc<LaneSpend>) -> Self {
        self.spend = spend;
        self
    }

    /// The lane's price, when it has one.
    pub(crate) fn price(&self) -> Option<Arc<Price>> {
        self.price.clone()
    }

    /// Whether the lane has a price.
    pub(crate) fn is_priced(&self) -> bool {
        self.price.is_some()
    }

    /// A spend tally for a reply from this lane to a request routed as
    /// `pool`.
    pub(crate) fn tally(&self, pool: &str) -> Tally {
        Tally::new(
            pool,
            self.lane_name_str(),
            self.price.clone(),
            Arc::clone(&self.spend),
        )
    }

    /// What an upstream error means for routing (see
    /// [`busbar_routing::classify`]), with the provider's `error_map`.
    pub(crate) fn classify(&self, error: &ApiError, source: ErrorSource) -> FailureClass {
        classify(&self.error_map, error, source)
    }

    /// The provider's `error_map`, for a reply body that classifies errors
    /// arriving inside its stream.
    pub(crate) fn error_map(&self) -> ErrorMap {
        Arc::clone(&self.error_map)
    }

    /// Whether Busbar holds a credential to probe this lane with (not under
    /// `auth.mode: passthrough`, where only callers have keys).
    pub(crate) fn can_probe(&self) -> bool {
        self.credential.is_some() || self.sigv4.is_some() || self.bearer.is_some()
    }

    pub(crate) fn lane_name_str(&self) -> &str {
        self.lane_name.to_str().unwrap_or("?")
    }

    /// The body fields a same-protocol relay from `ingress` leaves out: those
    /// the client's platform adds (Vertex's `anthropic_version`), unless the
    /// lane is on that platform too.
    pub(crate) fn relay_leaves_out(&self, ingress: &IngressRoute) -> &'static [&'static str] {
        match ingress.platform {
            Some(platform) if self.platform != Some(platform) => {
                ingress.protocol.wire().platform_fields(platform)
            }
            _ => &[],
        }
    }

    /// The upstream request for an already-encoded body. Signing may wait
    /// for AWS credentials; without them the error is
    /// [`GatewayError::NoCredentials`], a failure of class `auth`.
    pub(crate) async fn build_request(
        &self,
        body: Vec<u8>,
        stream: bool,
        same_protocol: bool,
        client: Option<FromClient<'_>>,
    ) -> Result<http::Request<Full<Bytes>>, GatewayError> {
        let uri = if stream { &self.stream_uri } else { &self.uri };
        let body = match self.rewrite {
            Some(rewrite) => rewrite.body(body, false),
            None => body,
        };
        self.request_to(uri, body, stream, same_protocol, client)
            .await
    }

    /// Whether the lane's protocol has a token-counting endpoint.
    pub(crate) fn counts_tokens(&self) -> bool {
        self.count_uri.is_some()
    }

    /// The upstream request to the lane's token-counting endpoint; `None`
    /// when it has none.
    pub(crate) async fn build_count_request(
        &self,
        body: Vec<u8>,
        same_protocol: bool,
        client: FromClient<'_>,
    ) -> Option<Result<http::Request<Full<Bytes>>, GatewayError>> {
        let uri = self.count_uri.as_ref()?;
        let body = match self.rewrite {
            Some(rewrite) => rewrite.body(body, true),
            None => body,
        };
        Some(
            self.request_to(uri, body, false, same_protocol, Some(client))
                .await,
        )
    }

    async fn request_to(
        &self,
        uri: &Uri,
        body: Vec<u8>,
        stream: bool,
        same_protocol: bool,
        client: Option<FromClient<'_>>,
    ) -> Result<http::Request<Full<Bytes>>, GatewayError> {
        let body = Bytes::from(body);
        let mut request = http::Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self.credential {
            Some((name, value)) => {
                headers.insert(name.clone(), value.clone());
            }
            // A lane that signs with its own AWS keys, or mints tokens,
            // sends no caller credential.
            None if self.sigv4.is_some() || self.bearer.is_some() => {}
            None => {
                if let Some(token) = client.and_then(|client| client.credential) {
                    let (name, value) = credential_header(self.protocol, self.scheme, token)
                        .map_err(|_| GatewayError::Unauthorized)?;
                    headers.insert(name, value);
                }
            }
        }
        let wire = self.protocol.wire();
        let client_headers = client
            .filter(|_| same_protocol)
            .map(|client| client.headers);
        for extra in wire.upstream_headers() {
            let forwarded = client_headers
                .filter(|_| extra.forwarded)
                .and_then(|headers| headers.get(extra.name));
            let value = match (forwarded, extra.default) {
                (Some(value), _) => value.clone(),
                (None, Some(default)) => HeaderValue::from_static(default),
                (None, None) => continue,
            };
            headers.insert(HeaderName::from_static(extra.name), value);
        }
        if let Some(accept) = wire.stream_accept().filter(|_| stream) {
            headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        }
        if let Some(tokens) = &self.bearer {
            match tokens.authorization().await {
                Ok(value) => {
                    request.headers_mut().insert(header::AUTHORIZATION, value);
                }
                Err(error) => {
                    // The source's words stay in the log: they may name
                    // files, accounts and hosts.
                    tracing::warn!(lane = self.lane_name_str(), %error, "no access token for the upstream");
                    return Err(GatewayError::NoCredentials(self.lane_name_str().to_owned()));
                }
            }
        }
        if let Some(signer) = &self.sigv4 {
            let signed = signer
                .sign(&mut request, &body, std::time::SystemTime::now())
                .await;
            match signed {
                Ok(()) => {}
                Err(SignError::Credentials(error)) => {
                    // The chain's words stay in the log: they may name roles,
                    // files and hosts.
                    tracing::warn!(lane = self.lane_name_str(), %error, "no AWS credentials to sign with");
                    return Err(GatewayError::NoCredentials(self.lane_name_str().to_owned()));
                }
                Err(error) => return Err(GatewayError::Unreachable(error.to_string())),
            }
        }
        Ok(request)
    }
}

/// The header carrying `key` to an upstream of `protocol`.
fn credential_header(
    protocol: Protocol,
    scheme: AuthScheme,
    key: &str,
) -> Result<(HeaderName, HeaderValue), StartError> {
    let invalid =
        || StartError::Config("an API key holds characters not allowed in a header".into());
    let bearer = || {
        HeaderValue::from_str(&format!("Bearer {key}"))
            .map(|value| (header::AUTHORIZATION, sensitive(value)))
            .map_err(|_| invalid())
    };
    let named = |name: &'static str| {
        HeaderValue::from_str(key)
            .map(|value| (HeaderName::from_static(name), sensitive(value)))
            .map_err(|_| invalid())
    };
    match scheme {
        AuthScheme::ApiKey => named("api-key"),
        AuthScheme::Bearer => bearer(),
        AuthScheme::Native => match protocol.wire().key_header(key) {
            KeyHeader::Named(name) => named(name),
            KeyHeader::Bearer => bearer(),
        },
    }
}

fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}
