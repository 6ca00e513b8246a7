//! Cloud platforms in the real binary: Gemini and Claude on Vertex AI, Azure
//! OpenAI's deployments and v1 APIs, with tokens minted from each token
//! source — a service-account key (the JWT verified by a loopback Google
//! token endpoint with the public half of `clouds/test-only-service-account-key.pem`,
//! a key made for these tests and used nowhere else), an authorized user, the
//! GCE metadata server, Entra ID's client-credentials grant, App Service's
//! and IMDS's managed identity — each served on 127.0.0.1. The mock accepts
//! only tokens those endpoints issued ([`AccessTokens`]) and not yet expired.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use busbar_testkit::{AccessTokens, MockOptions};
use serde_json::{json, Value};

use crate::bedrock_credentials::{Answer, Endpoint, Hit};
use crate::support::{run_busbar, Gateway, Setup, TempDir};

const TEST_KEY: &str = include_str!("clouds/test-only-service-account-key.pem");
const EMAIL: &str = "busbar-e2e@test-project.iam.gserviceaccount.com";

/// The models of every test: Gemini and Claude on Vertex, Chat Completions
/// and Responses on Azure, and `gpt` on the plain OpenAI mock.
const MODELS: &str = "
  gem:
    provider: vx-gemini
    max_concurrent: 4
    upstream_model: gemini-2.5-flash
  vclaude:
    provider: vx-claude
    max_concurrent: 4
    upstream_model: claude-sonnet-4-5@20250929
  az-chat:
    provider: az-chat
    max_concurrent: 4
    upstream_model: my-gpt-deployment
  az-resp:
    provider: az-resp
    max_concurrent: 4
    upstream_model: my-responses-deployment
  gpt:
    provider: mock-openai
    max_concurrent: 4
  claude:
    provider: mock-anthropic
    max_concurrent: 4
";

/// A gateway whose Vertex providers take `vertex` (indented by four: their
/// credential lines) and Azure providers `azure`, with `env`; the mock
/// accepts the tokens in `tokens`.
async fn start_gateway(
    vertex: &str,
    azure: &str,
    env: &[(String, String)],
    tokens: &AccessTokens,
) -> Gateway {
    let providers = format!(
        "  vx-gemini:
    protocol: gemini
    platform: vertex
    project: test-project
    location: us-central1
    base_url: {{MOCK_BASE_URL}}
    allow_private: true
{vertex}  vx-claude:
    protocol: anthropic
    platform: vertex
    project: test-project
    location: us-east5
    base_url: {{MOCK_BASE_URL}}
    allow_private: true
{vertex}  az-chat:
    protocol: openai
    platform: azure
    api_version: 2024-10-21
    auth: api-key
    base_url: {{MOCK_BASE_URL}}
    allow_private: true
    api_key_env: BUSBAR_E2E_AZURE_KEY
  az-resp:
    protocol: responses
    platform: azure
    base_url: {{MOCK_BASE_URL}}
    allow_private: true
{azure}"
    );
    let mut setup = Setup::new()
        .models(MODELS)
        .mock(MockOptions::default().access_tokens(tokens.clone()))
        .env("BUSBAR_E2E_AZURE_KEY", "azure-key");
    for (name, value) in env {
        setup = setup.env(name, value);
    }
    setup.providers(&providers).start().await
}

/// The environment every test starts from: `HOME` in `dir`, so no gcloud
/// file of the machine's is read.
fn isolated(dir: &TempDir) -> Vec<(String, String)> {
    vec![("HOME".into(), dir.path().display().to_string())]
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A token reply for a token `tokens` issues, living `life`.
fn issue(tokens: &AccessTokens, life: Duration) -> Answer {
    let token = tokens.issue(life);
    (
        200,
        json!({"access_token": token, "expires_in": life.as_secs(), "token_type": "Bearer"})
            .to_string(),
    )
}

/// The form fields of a token request.
fn form(hit: &Hit) -> Vec<(String, String)> {
    String::from_utf8_lossy(&hit.body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), percent_decode(value)))
        .collect()
}

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// The DER of the test key's public half (PKCS#1 `RSAPublicKey`).
fn public_key() -> Vec<u8> {
    let body: String = TEST_KEY
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).expect("base64 PEM");
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("a PKCS#8 RSA key");
    ring::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec()
}

/// Google's token endpoint: checks the JWT bearer assertion as Google does
/// (RS256 over header and claims with the service account's public key, its
/// issuer, audience, scope and lifetime), then issues a token of `life`.
fn google_token_endpoint(tokens: AccessTokens, life: Duration) -> impl Fn(&Hit) -> Answer {
    let public = public_key();
    move |hit| {
        let form = form(hit);
        let refuse = |why: &str| {
            (
                400,
                json!({"error": "invalid_grant", "error_description": why}).to_string(),
            )
        };
        if field(&form, "grant_type").as_deref()
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return refuse("grant_type");
        }
        let Some(assertion) = field(&form, "assertion") else {
            return refuse("no assertion");
        };
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return refuse("not a JWT");
        };
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &public,
        );
        let signed = format!("{header}.{claims}");
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
        if key.verify(signed.as_bytes(), &signature).is_err() {
            return refuse("Invalid JWT Signature.");
        }
        let decode = |part: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap_or_default())
                .unwrap_or_default()
        };
        let (header, claims) = (decode(header), decode(claims));
        let iat = claims["iat"].as_u64().unwrap_or_default();
        let exp = claims["exp"].as_u64().unwrap_or_default();
        let fine = header["alg"] == "RS256"
            && header["kid"] == "test-key-id"
            && claims["iss"] == EMAIL
            && claims["aud"] == "https://oauth2.googleapis.com/token"
            && claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
            && iat.abs_diff(now()) < 60
            && exp > now()
            && exp - iat <= 3600;
        if !fine {
            return refuse(&format!("bad claims {header} {claims}"));
        }
        issue(&tokens, life)
    }
}

/// A service-account key file naming `token_uri`.
fn key_file(dir: &TempDir, token_uri: &str) -> String {
    let file = json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key-id",
        "private_key": TEST_KEY,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    });
    dir.write("sa.json", &file.to_string())
        .display()
        .to_string()
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Asks `model` in OpenAI's shape, as JSON and as a stream, and insists on the echo.
async fn ask_both_ways(gateway: &Gateway, model: &str) {
    let reply = gateway
        .post_json("/v1/chat/completions", &chat(model, "hello cloud"))
        .await;
    assert_eq!(
        reply.status,
        200,
        "{model}: {}\n{}",
        reply.text(),
        gateway.busbar.log()
    );
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "Echo: hello cloud"
    );
    let mut streamed = chat(model, "streamed cloud");
    streamed["stream"] = json!(true);
    let stream = gateway.stream("/v1/chat/completions", &streamed).await;
    let text: String = stream
        .data()
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Echo: streamed cloud", "{model}: {}", stream.text());
}

/// The bearer tokens the mock received, in order.
fn bearers(gateway: &Gateway) -> Vec<String> {
    gateway
        .received()
        .iter()
        .filter_map(|request| request.headers.get("authorization"))
        .map(|value| value.to_str().expect("ascii").to_owned())
        .collect()
}

#[tokio::test]
async fn vertex_serves_gemini_and_claude_with_one_token_from_a_service_account_key() {
    let dir = TempDir::new("vertex-sa");
    let tokens = AccessTokens::new();
    let endpoint = Endpoint::start(google_token_endpoint(
        tokens.clone(),
        Duration::from_secs(3600),
    ))
    .await;
    let mut env = isolated(&dir);
    env.push((
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        key_file(&dir, &format!("{}/token", endpoint.base)),
    ));
    let gateway = start_gateway(
        "    credentials: gcp\n",
        "    api_key_env: BUSBAR_E2E_AZURE_KEY\n",
        &env,
        &tokens,
    )
    .await;
    ask_both_ways(&gateway, "gem").await;
    ask_both_ways(&gateway, "vclaude").await;

    let paths: Vec<String> = gateway.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
            "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            "/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
            "/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
        ]
    );
    let claude: Value = serde_json::from_slice(&gateway.received()[2].body).expect("JSON");
    assert_eq!(claude["anthropic_version"], "vertex-2023-10-16");
    assert!(claude.get("model").is_none(), "{claude}");

    // Claude's own protocol, relayed, and counted at count-tokens:rawPredict.
    gateway.mock.clear();
    let messages = json!({"model": "vclaude", "max_tokens": 64,
                          "messages": [{"role": "user", "content": "relayed to vertex"}]});
    let reply = gateway.post_json("/v1/messages", &messages).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["content"][0]["text"],
        "Echo: relayed to vertex"
    );
    let count = json!({"model": "vclaude",
                       "messages": [{"role": "user", "content": "relayed to vertex"}]});
    let count = gateway.post_json("/v1/messages/count_tokens", &count).await;
    assert_eq!(count.status, 200, "{}", count.text());
    assert_eq!(count.header("x-busbar-token-count"), Some("upstream"));
    assert_eq!(count.json()["input_tokens"], 3);
    let received = gateway.received();
    assert!(received[1]
        .path
        .ends_with("/publishers/anthropic/models/count-tokens:rawPredict"));
    let counted: Value = serde_json::from_slice(&received[1].body).expect("JSON");
    assert_eq!(counted["model"], "claude-sonnet-4-5@20250929");

    // A client at Vertex's own path keeps its `anthropic_version` on a lane
    // on Vertex (a lane elsewhere would have it left out).
    gateway.mock.clear();
    let vertex = json!({"anthropic_version": "2026-10-21", "max_tokens": 64,
                        "messages": [{"role": "user", "content": "vertex to vertex"}]});
    let reply = gateway
        .post_json(
            "/v1/projects/client-project/locations/europe-west1/publishers/anthropic/models/vclaude:rawPredict",
            &vertex,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = gateway.received_one();
    assert!(sent
        .path
        .starts_with("/v1/projects/test-project/locations/us-east5/"));
    let sent: Value = serde_json::from_slice(&sent.body).expect("JSON");
    assert_eq!(sent["anthropic_version"], "2026-10-21");
    assert!(sent.get("model").is_none(), "{sent}");

    // Every request carried the one token minted: one fetch served them all.
    let sent = bearers(&gateway);
    assert!(
        sent.iter()
            .all(|value| value == "Bearer mock-access-token-1"),
        "{sent:?}"
    );
    assert_eq!(endpoint.hits().len(), 1);
    assert_eq!(tokens.issued(), 1);
    let log = gateway.busbar.log();
    assert!(
        !log.contains("mock-access-token") && !log.contains("PRIVATE KEY"),
        "{log}"
    );
}

#[tokio::test]
async fn vertex_tokens_from_the_metadata_server_are_refreshed_before_they_expire() {
    let dir = TempDir::new("vertex-mds");
    let tokens = AccessTokens::new();
    let issuer = tokens.clone();
    let endpoint = Endpoint::start(move |hit| {
        let flavoured = hit
            .headers
            .get("metadata-flavor")
            .is_some_and(|value| value == "Google");
        if !flavoured || hit.path != "/computeMetadata/v1/instance/service-accounts/default/token" {
            return (403, "missing Metadata-Flavor".into());
        }
        // Short-lived, so the test sees a refresh.
        issue(&issuer, Duration::from_secs(6))
    })
    .await;
    let mut env = isolated(&dir);
    env.push((
        "GCE_METADATA_HOST".into(),
        endpoint.base.trim_start_matches("http://").to_owned(),
    ));
    let gateway = start_gateway(
        "    credentials: gcp\n",
        "    api_key_env: BUSBAR_E2E_AZURE_KEY\n",
        &env,
        &tokens,
    )
    .await;
    let started = tokio::time::Instant::now();
    ask_both_ways(&gateway, "gem").await;
    // Past half the token's life: the request is served with the current
    // token while one fetch replaces it in the background.
    tokio::time::sleep_until(started + Duration::from_millis(3300)).await;
    ask_both_ways(&gateway, "vclaude").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while endpoint.hits().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no refresh");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = bearers(&gateway).len();
    // Past the first token's expiry (the mock refuses it then), requests go
    // out with a later one, and none failed on the way.
    tokio::time::sleep_until(started + Duration::from_millis(6500)).await;
    ask_both_ways(&gateway, "gem").await;
    let sent = bearers(&gateway);
    assert_eq!(sent[0], "Bearer mock-access-token-1");
    assert!(
        sent[before..]
            .iter()
            .all(|value| value != "Bearer mock-access-token-1"),
        "{sent:?}"
    );
    assert!(endpoint.hits().len() <= 3, "one refresh per token life");
}

#[tokio::test]
async fn vertex_takes_an_authorized_users_file_from_gclouds_well_known_place() {
    let dir = TempDir::new("vertex-user");
    let tokens = AccessTokens::new();
    let issuer = tokens.clone();
    let endpoint = Endpoint::start(move |hit| {
        let form = form(hit);
        let fine = field(&form, "grant_type").as_deref() == Some("refresh_token")
            && field(&form, "client_id").as_deref() == Some("user-client")
            && field(&form, "client_secret").as_deref() == Some("user-secret")
            && field(&form, "refresh_token").as_deref() == Some("1//refresh");
        if fine {
            issue(&issuer, Duration::from_secs(3600))
        } else {
            (400, json!({"error": "invalid_grant"}).to_string())
        }
    })
    .await;
    std::fs::create_dir_all(dir.path().join(".config/gcloud")).expect("mkdir");
    dir.write(
        ".config/gcloud/application_default_credentials.json",
        &json!({"type": "authorized_user", "client_id": "user-client",
                "client_secret": "user-secret", "refresh_token": "1//refresh",
                "token_uri": format!("{}/token", endpoint.base)})
        .to_string(),
    );
    let gateway = start_gateway(
        "    credentials: gcp\n",
        "    api_key_env: BUSBAR_E2E_AZURE_KEY\n",
        &isolated(&dir),
        &tokens,
    )
    .await;
    ask_both_ways(&gateway, "gem").await;
    assert_eq!(endpoint.hits().len(), 1);
}

#[tokio::test]
async fn azure_serves_the_deployments_api_by_api_key_and_the_v1_api_by_entra_client_credentials() {
    let dir = TempDir::new("azure-sp");
    let tokens = AccessTokens::new();
    let issuer = tokens.clone();
    let endpoint = Endpoint::start(move |hit| {
        let form = form(hit);
        let fine = hit.path == "/tenant-1/oauth2/v2.0/token"
            && field(&form, "grant_type").as_deref() == Some("client_credentials")
            && field(&form, "client_id").as_deref() == Some("app-1")
            && field(&form, "client_secret").as_deref() == Some("app-secret")
            && field(&form, "scope").as_deref()
                == Some("https://cognitiveservices.azure.com/.default");
        if fine {
            issue(&issuer, Duration::from_secs(3600))
        } else {
            (401, json!({"error": "invalid_client"}).to_string())
        }
    })
    .await;
    let mut env = isolated(&dir);
    env.extend([
        ("AZURE_TENANT_ID".into(), "tenant-1".into()),
        ("AZURE_CLIENT_ID".into(), "app-1".into()),
        ("AZURE_CLIENT_SECRET".into(), "app-secret".into()),
        ("AZURE_AUTHORITY_HOST".into(), endpoint.base.clone()),
    ]);
    let gateway = start_gateway(
        "    api_key_env: BUSBAR_E2E_AZURE_KEY\n",
        "    credentials: azure\n",
        &env,
        &tokens,
    )
    .await;
    ask_both_ways(&gateway, "az-chat").await;
    ask_both_ways(&gateway, "az-resp").await;
    let received = gateway.received();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/openai/deployments/my-gpt-deployment/chat/completions?api-version=2024-10-21",
            "/openai/deployments/my-gpt-deployment/chat/completions?api-version=2024-10-21",
            "/openai/v1/responses",
            "/openai/v1/responses",
        ]
    );
    assert_eq!(received[0].headers["api-key"], "azure-key");
    assert!(received[0].headers.get("authorization").is_none());
    assert_eq!(
        received[2].headers["authorization"],
        "Bearer mock-access-token-1"
    );
    assert_eq!(
        received[3].headers["authorization"],
        "Bearer mock-access-token-1"
    );
    let body: Value = serde_json::from_slice(&received[2].body).expect("JSON");
    assert_eq!(body["model"], "my-responses-deployment");
    assert_eq!(endpoint.hits().len(), 1);
    assert!(!gateway.busbar.log().contains("app-secret"));
}

#[tokio::test]
async fn azure_takes_managed_identity_tokens_from_imds_and_from_app_service() {
    let tokens = AccessTokens::new();
    let issuer = tokens.clone();
    let imds = Endpoint::start(move |hit| {
        let fine = hit.headers.get("metadata").is_some_and(|v| v == "true")
            && hit.path
                == "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fcognitiveservices.azure.com&client_id=user-assigned-1";
        if !fine {
            return (400, json!({"error": "invalid_request"}).to_string());
        }
        // IMDS writes its numbers as strings.
        let token = issuer.issue(Duration::from_secs(3600));
        let on = (now() + 3600).to_string();
        (200, json!({"access_token": token, "expires_in": "3600", "expires_on": on,
                     "resource": "https://cognitiveservices.azure.com", "token_type": "Bearer"})
            .to_string())
    })
    .await;
    let dir = TempDir::new("azure-imds");
    let mut env = isolated(&dir);
    env.extend([
        ("BUSBAR_AZURE_IMDS_ENDPOINT".into(), imds.base.clone()),
        ("AZURE_CLIENT_ID".into(), "user-assigned-1".into()),
    ]);
    let gateway = start_gateway(
        "    api_key_env: BUSBAR_E2E_AZURE_KEY\n",
        "    credentials: azure\n",
        &env,
        &tokens,
    )
    .await;
    ask_both_ways(&gateway, "az-resp").await;
    assert_eq!(imds.hits().len(), 1);
    drop(gateway);

    let issuer = tokens.clone();
    let app_service = Endpoint::start(move |hit| {
        let fine = hit
            .headers
            .get("x-identity-header")
            .is_some_and(|v| v == "identity-secret")
            && hit
                .path
                .starts_with("/msi/token?api-version=2019-08-01&resource=");
        if !fine {
            return (400, json!({"error": "invalid_request"}).to_string());
        }
        let token = issuer.issue(Duration::from_secs(3600));
        let on = (now() + 3600).to_string();
        (
            200,
            json!({"access_token": token, "expires_on": on}).to_string(),
        )
    })
    .await;
    let dir = TempDir::new("azure-appservice");
    let mut env = isolated(&dir);
    env.extend([
        (
            "IDENTITY_ENDPOINT".into(),
            format!("{}/msi/token", app_service.base),
        ),
        ("IDENTITY_HEADER".into(), "identity-secret".into()),
    ]);
    let gateway = start_gateway(
        "    api_key_env: BUSBAR_E2E_AZURE_KEY\n",
        "    credentials: azure\n",
        &env,
        &tokens,
    )
    .await;
    ask_both_ways(&gateway, "az-resp").await;
    assert_eq!(app_service.hits().len(), 1);
}

#[tokio::test]
async fn a_failing_token_source_is_an_auth_error_in_the_clients_shape_and_the_gateway_keeps_serving(
) {
    let dir = TempDir::new("vertex-fail");
    let tokens = AccessTokens::new();
    let failing = Arc::new(Mutex::new(true));
    let switch = failing.clone();
    let issuer = tokens.clone();
    let endpoint = Endpoint::start(move |_| {
        if *switch.lock().expect("lock") {
            (500, "metadata server down".into())
        } else {
            issue(&issuer, Duration::from_secs(3600))
        }
    })
    .await;
    let mut env = isolated(&dir);
    env.push((
        "GCE_METADATA_HOST".into(),
        endpoint.base.trim_start_matches("http://").to_owned(),
    ));
    let gateway = start_gateway(
        "    credentials: gcp\n    health: {mode: dead, interval_secs: 1}\n",
        "    api_key_env: BUSBAR_E2E_AZURE_KEY\n",
        &env,
        &tokens,
    )
    .await;
    // OpenAI's shape for an OpenAI client…
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("gem", "no token"))
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no upstream credentials for `gem`")),
        "{}",
        reply.text()
    );
    // …and Anthropic's for an Anthropic client.
    let messages = json!({"model": "vclaude", "max_tokens": 16,
                          "messages": [{"role": "user", "content": "no token"}]});
    let reply = gateway.post_json("/v1/messages", &messages).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["type"], "error", "{}", reply.text());
    assert!(
        gateway.received().is_empty(),
        "nothing went upstream without a token"
    );
    assert_eq!(gateway.lane_stats("gem").await["dead_reason"], "auth");
    gateway.assert_still_serving().await;
    // Once the source answers, the probe brings the lanes back.
    *failing.lock().expect("lock") = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = gateway
            .post_json("/v1/chat/completions", &chat("gem", "back"))
            .await;
        if reply.status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", reply.text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn busbar_check_names_each_token_source_and_refuses_a_broken_key_file() {
    let dir = TempDir::new("clouds-check");
    let catalog = dir.write("providers.yaml", "providers: {}\n");
    let config = dir.write(
        "config.yaml",
        "providers:
  vx:
    protocol: gemini
    platform: vertex
    project: p
    credentials: gcp
  az:
    protocol: openai
    platform: azure
    base_url: https://res.openai.azure.com
    credentials: azure
models:
  a: {provider: vx, max_concurrent: 1, price: {input: 0, output: 0}}
  b: {provider: az, max_concurrent: 1, price: {input: 0, output: 0}}
",
    );
    let args = [
        "check",
        "--providers",
        catalog.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
    ];
    let key = key_file(&dir, "https://oauth2.googleapis.com/token");
    let mut env = isolated(&dir);
    env.extend([
        ("GOOGLE_APPLICATION_CREDENTIALS".into(), key.clone()),
        ("AZURE_TENANT_ID".into(), "t".into()),
        ("AZURE_CLIENT_ID".into(), "c".into()),
        ("AZURE_CLIENT_SECRET".into(), "never-printed".into()),
    ]);
    let finished = run_busbar(&args, &env);
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    assert!(
        finished.stdout.contains(&format!(
            "provider vx: Google access tokens for service account {EMAIL}, key file {key} ($GOOGLE_APPLICATION_CREDENTIALS)"
        )),
        "{}",
        finished.stdout
    );
    assert!(
        finished.stdout.contains("provider az: Microsoft Entra ID client credentials of c (secret from $AZURE_CLIENT_SECRET) at https://login.microsoftonline.com/t/oauth2/v2.0/token"),
        "{}",
        finished.stdout
    );
    assert!(!finished.stdout.contains("never-printed"));

    dir.write("sa.json", "{\"type\": \"service_account\"}");
    let finished = run_busbar(&args, &env[..2]);
    assert_eq!(finished.code(), Some(1), "{}", finished.stdout);
    assert!(
        finished.stderr.contains(&format!(
            "providers.vx.credentials: {key}: no `private_key`"
        )),
        "{}",
        finished.stderr
    );
}
