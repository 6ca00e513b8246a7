//! Bedrock lanes with `credentials: aws`: the AWS default credential chain
//! in the real binary, each source served on 127.0.0.1 — environment
//! variables, a shared credentials file with a named profile, container
//! credentials (ECS, and EKS Pod Identity's token file) refreshed before
//! they expire, EC2 instance metadata (IMDSv2), web identity (EKS IRSA)
//! against a loopback STS — and a source that fails and recovers.
//!
//! Every test points `HOME` and the shared files at its own directory and
//! switches IMDS off unless IMDS is its subject (the harness drops every
//! inherited `AWS_*` variable), so no test reads the machine's AWS setup or
//! leaves loopback.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use busbar_testkit::MockOptions;
use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::{run_busbar, Gateway, Setup, TempDir};

const KEY_ID: &str = "AKIDCHAINEXAMPLE";
const SECRET: &str = "chain-secret-access-key-0123456789";

/// The Bedrock lane `rock`, on the mock's Bedrock provider.
const ROCK: &str = "
  rock:
    provider: mock-bedrock
    max_concurrent: 4
    upstream_model: anthropic.claude-haiku-4-5
  claude:
    provider: mock-anthropic
    max_concurrent: 4
    upstream_model: claude-3-5-haiku
  gpt:
    provider: mock-openai
    max_concurrent: 4
";

/// The header of an IMDSv2 session's lifetime, asked for and granted.
const IMDS_TTL: &str = "x-aws-ec2-metadata-token-ttl-seconds";

/// One request a credential endpoint received.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) at: SystemTime,
}

pub(crate) type Answer = (u16, String);

/// A credential endpoint on 127.0.0.1 (container credentials, IMDS, STS):
/// `answer` decides each reply; every request is kept.
pub(crate) struct Endpoint {
    pub(crate) base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    pub(crate) async fn start(answer: impl Fn(&Hit) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let answer = Arc::new(answer);
        let kept = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, answer) = (kept.clone(), answer.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let (kept, answer) = (kept.clone(), answer.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes());
                            let hit = Hit {
                                method: parts.method,
                                path: parts.uri.to_string(),
                                headers: parts.headers,
                                body: body.unwrap_or_default(),
                                at: SystemTime::now(),
                            };
                            let (status, text) = answer(&hit);
                            let mut reply = hyper::Response::new(Full::new(Bytes::from(text)));
                            *reply.status_mut() =
                                http::StatusCode::from_u16(status).expect("status");
                            // IMDS grants an IMDSv2 session the TTL asked for.
                            if let Some(ttl) = hit.headers.get(IMDS_TTL) {
                                reply.headers_mut().insert(IMDS_TTL, ttl.clone());
                            }
                            kept.lock().expect("lock").push(hit);
                            Ok::<_, Infallible>(reply)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { base, hits, task }
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    /// The hits whose path starts with `prefix`.
    fn hits_on(&self, prefix: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|hit| hit.path.starts_with(prefix))
            .collect()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An RFC 3339 UTC timestamp, as AWS writes `Expiration`.
fn rfc3339(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Container or instance credentials as AWS serves them, with `token` and
/// an expiry `life` from now.
fn credentials_json(token: &str, life: Duration) -> String {
    json!({
        "Code": "Success",
        "Type": "AWS-HMAC",
        "LastUpdated": rfc3339(SystemTime::now()),
        "AccessKeyId": KEY_ID,
        "SecretAccessKey": SECRET,
        "Token": token,
        "Expiration": rfc3339(SystemTime::now() + life),
    })
    .to_string()
}

/// The environment every test starts from: `HOME` and the shared files in
/// `dir` (files that do not exist unless the test writes them), IMDS off.
fn isolated(dir: &TempDir) -> Vec<(String, String)> {
    let path = |name: &str| dir.path().join(name).display().to_string();
    vec![
        ("HOME".into(), dir.path().display().to_string()),
        ("AWS_CONFIG_FILE".into(), path("aws-config")),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            path("aws-credentials"),
        ),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// A gateway whose `mock-bedrock` provider has `entry` (indented by four)
/// and checks SigV4 against the chain's key pair, started with `env`.
async fn gateway(entry: &str, env: &[(String, String)]) -> Gateway {
    let mut setup = Setup::new()
        .providers(&format!("  mock-bedrock:\n{entry}"))
        .models(ROCK)
        .mock(MockOptions::default().aws_credentials(KEY_ID, SECRET));
    for (name, value) in env {
        setup = setup.env(name, value);
    }
    setup.start().await
}

async fn ask(gateway: &Gateway, text: &str) -> crate::support::Reply {
    gateway
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "rock", "messages": [{"role": "user", "content": text}]}),
        )
        .await
}

/// Asks `rock` and insists on the mock's echo.
async fn ask_ok(gateway: &Gateway, text: &str) {
    let reply = ask(gateway, text).await;
    assert_eq!(
        reply.status,
        200,
        "{}\n{}",
        reply.text(),
        gateway.busbar.log()
    );
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        format!("Echo: {text}")
    );
}

/// The session token the last upstream request was signed with.
fn last_token(gateway: &Gateway) -> Option<String> {
    let received = gateway.received();
    let last = received.last().expect("an upstream request");
    let authorization = last.headers["authorization"].to_str().expect("ascii");
    assert!(
        authorization.contains(&format!("Credential={KEY_ID}/")),
        "{authorization}"
    );
    last.headers
        .get("x-amz-security-token")
        .map(|token| token.to_str().expect("ascii").to_owned())
}

#[tokio::test]
async fn bedrock_signs_with_credentials_from_the_environment() {
    let dir = TempDir::new("aws-env");
    let mut env = isolated(&dir);
    env.extend([
        ("AWS_ACCESS_KEY_ID".into(), KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET.into()),
        ("AWS_SESSION_TOKEN".into(), "env-session-token".into()),
    ]);
    let gateway = gateway("    credentials: aws\n", &env).await;
    ask_ok(&gateway, "from the environment").await;
    assert_eq!(last_token(&gateway).as_deref(), Some("env-session-token"));
    let log = gateway.busbar.log();
    assert!(
        !log.contains(SECRET) && !log.contains("env-session-token"),
        "{log}"
    );
}

#[tokio::test]
async fn bedrock_signs_with_a_named_profile_of_the_shared_files() {
    let dir = TempDir::new("aws-profile");
    dir.write(
        "aws-credentials",
        &format!(
            "[default]\naws_access_key_id = AKIDWRONGDEFAULT\naws_secret_access_key = wrong\n\n\
             [e2e]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n\n\
             [other]\naws_access_key_id = AKIDWRONGOTHER\naws_secret_access_key = wrong\n"
        ),
    );
    dir.write("aws-config", "[profile e2e]\nregion = eu-west-1\n");
    // AWS_PROFILE chooses the profile ...
    let mut env = isolated(&dir);
    env.push(("AWS_PROFILE".into(), "e2e".into()));
    let first = gateway("    credentials: aws\n", &env).await;
    ask_ok(&first, "from AWS_PROFILE").await;
    assert_eq!(last_token(&first), None);
    drop(first);
    // ... and `aws_profile` overrides it.
    let mut env = isolated(&dir);
    env.push(("AWS_PROFILE".into(), "other".into()));
    let second = gateway("    credentials: aws\n    aws_profile: e2e\n", &env).await;
    ask_ok(&second, "from aws_profile").await;
}

#[tokio::test]
async fn busbar_check_names_each_providers_credential_source() {
    let dir = TempDir::new("aws-check");
    let providers = dir.write(
        "providers.yaml",
        &crate::support::providers_yaml("http://127.0.0.1:9"),
    );
    let config = dir.write(
        "config.yaml",
        "providers:\n  mock-bedrock: {credentials: aws, aws_profile: prod}\n  mock-openai: {api_key_env: BUSBAR_E2E_OPENAI_KEY}\nmodels:\n  rock: {provider: mock-bedrock, max_concurrent: 1}\n  gpt: {provider: mock-openai, max_concurrent: 1}\n",
    );
    let paths = [
        "check",
        "--providers",
        providers.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
    ];
    let done = run_busbar(&paths, &crate::support::key_env());
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(
        done.stdout
            .contains("provider mock-bedrock: AWS default credential chain, profile `prod`")
            && done
                .stdout
                .contains("provider mock-openai: key from $BUSBAR_E2E_OPENAI_KEY"),
        "{}",
        done.stdout
    );
    // Neither source on a Bedrock provider is an error that names both.
    dir.write(
        "config.yaml",
        "providers:\n  mock-bedrock: {region: us-west-2}\nmodels:\n  rock: {provider: mock-bedrock, max_concurrent: 1}\n",
    );
    let done = run_busbar(&paths, &crate::support::key_env());
    assert_eq!(done.code(), Some(1));
    assert!(
        done.stderr
            .contains("providers.mock-bedrock.api_key_env: required")
            && done.stderr.contains("`credentials: aws`"),
        "{}",
        done.stderr
    );
}

#[tokio::test]
async fn container_credentials_are_refreshed_before_they_expire() {
    const LIFE: Duration = Duration::from_secs(6);
    let dir = TempDir::new("aws-ecs");
    let issued = Arc::new(Mutex::new(0u32));
    let counter = issued.clone();
    let endpoint = Endpoint::start(move |hit| {
        // EKS Pod Identity: the agent wants the token file's contents.
        if hit.headers.get("authorization").map(|v| v.as_bytes()) != Some(b"pod-identity-token") {
            return (401, "{}".into());
        }
        let mut issued = counter.lock().expect("lock");
        *issued += 1;
        (
            200,
            credentials_json(&format!("container-token-{issued}"), LIFE),
        )
    })
    .await;
    let token_file = dir.write("pod-identity-token", "pod-identity-token");
    let mut env = isolated(&dir);
    env.extend([
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
            format!("{}/v1/credentials", endpoint.base),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(),
            token_file.display().to_string(),
        ),
    ]);
    let gateway = gateway("    credentials: aws\n", &env).await;
    ask_ok(&gateway, "first").await;
    let first = endpoint.hits();
    assert_eq!(first.len(), 1, "one fetch serves many requests: {first:?}");
    assert_eq!(last_token(&gateway).as_deref(), Some("container-token-1"));
    ask_ok(&gateway, "cached").await;
    assert_eq!(endpoint.hits().len(), 1);
    // Past half its life the credentials are refreshed in the background;
    // the request that notices still signs with the current ones.
    let expires = first[0].at + LIFE;
    tokio::time::sleep(LIFE / 2 + Duration::from_millis(300)).await;
    ask_ok(&gateway, "due").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while endpoint.hits().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hits = endpoint.hits();
    assert_eq!(hits.len(), 2, "{}", gateway.busbar.log());
    assert!(
        hits[1].at < expires - Duration::from_secs(1),
        "refreshed too late"
    );
    // The fetch seen above is stored when its answer is read: requests
    // from then on sign with the new session token.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        ask_ok(&gateway, "refreshed").await;
        if last_token(&gateway).as_deref() == Some("container-token-2") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still signing with {:?}",
            last_token(&gateway)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(endpoint.hits().len(), 2, "no fetch beyond the refresh");
}

#[tokio::test]
async fn bedrock_signs_with_instance_credentials_from_imdsv2() {
    let dir = TempDir::new("aws-imds");
    let endpoint = Endpoint::start(|hit| {
        let token_ok = hit
            .headers
            .get("x-aws-ec2-metadata-token")
            .is_some_and(|t| t == "imds-session");
        match (hit.method.as_str(), hit.path.as_str()) {
            ("PUT", "/latest/api/token") if hit.headers.contains_key(IMDS_TTL) => {
                (200, "imds-session".into())
            }
            (_, _) if !token_ok => (401, String::new()),
            ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "busbar-role".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/busbar-role") => (
                200,
                credentials_json("instance-token", Duration::from_secs(6 * 3600)),
            ),
            _ => (404, String::new()),
        }
    })
    .await;
    let mut env = isolated(&dir);
    env.retain(|(name, _)| name != "AWS_EC2_METADATA_DISABLED");
    env.push((
        "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
        endpoint.base.clone(),
    ));
    let gateway = gateway("    credentials: aws\n", &env).await;
    ask_ok(&gateway, "from the instance").await;
    assert_eq!(last_token(&gateway).as_deref(), Some("instance-token"));
    assert!(
        endpoint.hits_on("/latest/api/token")[0].method == Method::PUT,
        "IMDSv2 starts with a session token"
    );
    assert!(!endpoint
        .hits_on("/latest/meta-data/iam/security-credentials/busbar-role")
        .is_empty());
}

#[tokio::test]
async fn bedrock_signs_with_a_role_assumed_by_web_identity() {
    let dir = TempDir::new("aws-irsa");
    let endpoint = Endpoint::start(|hit| {
        let form = String::from_utf8_lossy(&hit.body).into_owned();
        if !form.contains("Action=AssumeRoleWithWebIdentity")
            || !form.contains("WebIdentityToken=irsa-jwt")
        {
            return (400, format!("unexpected: {form}"));
        }
        let expires = rfc3339(SystemTime::now() + Duration::from_secs(3600));
        (
            200,
            format!(
                "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{KEY_ID}</AccessKeyId>\
<SecretAccessKey>{SECRET}</SecretAccessKey><SessionToken>irsa-session</SessionToken>\
<Expiration>{expires}</Expiration></Credentials>\
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/busbar/e2e</Arn>\
<AssumedRoleId>AROAEXAMPLE:e2e</AssumedRoleId></AssumedRoleUser>\
</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\
</AssumeRoleWithWebIdentityResponse>"
            ),
        )
    })
    .await;
    let token_file = dir.write("irsa-token", "irsa-jwt");
    let mut env = isolated(&dir);
    env.extend([
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
            token_file.display().to_string(),
        ),
        (
            "AWS_ROLE_ARN".into(),
            "arn:aws:iam::123456789012:role/busbar".into(),
        ),
        ("AWS_ROLE_SESSION_NAME".into(), "e2e".into()),
        ("AWS_ENDPOINT_URL_STS".into(), endpoint.base.clone()),
    ]);
    let gateway = gateway("    credentials: aws\n", &env).await;
    ask_ok(&gateway, "from a web identity").await;
    assert_eq!(last_token(&gateway).as_deref(), Some("irsa-session"));
    assert_eq!(endpoint.hits().len(), 1);
}

#[tokio::test]
async fn a_failing_credential_source_is_an_auth_failure_and_the_lane_recovers() {
    let dir = TempDir::new("aws-fail");
    let failing = Arc::new(Mutex::new(true));
    let switch = failing.clone();
    let endpoint = Endpoint::start(move |_| {
        if *switch.lock().expect("lock") {
            (403, r#"{"Code":"AccessDenied","Message":"no role"}"#.into())
        } else {
            (
                200,
                credentials_json("recovered-token", Duration::from_secs(3600)),
            )
        }
    })
    .await;
    let mut env = isolated(&dir);
    env.push((
        "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
        format!("{}/creds", endpoint.base),
    ));
    let gateway = gateway(
        "    credentials: aws\n    health: {mode: dead, interval_secs: 1}\n",
        &env,
    )
    .await;
    let reply = ask(&gateway, "no credentials").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    let error: Value = reply.json();
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no upstream credentials for `rock`")),
        "{error}"
    );
    assert!(
        gateway.received().is_empty(),
        "nothing unsigned went upstream"
    );
    let lane = gateway.lane_stats("rock").await;
    assert_eq!(lane["dead_reason"], "auth", "{lane}");
    // The gateway keeps serving its other lanes.
    gateway.assert_still_serving().await;
    // Once the source answers again, the health probe brings the lane back.
    *failing.lock().expect("lock") = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = ask(&gateway, "recovered").await;
        if reply.status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lane never recovered: {}\n{}",
            reply.text(),
            gateway.busbar.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last_token(&gateway).as_deref(), Some("recovered-token"));
}
