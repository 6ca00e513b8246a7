//! Bedrock clients under governance: a SigV4 signature made with the key id
//! as access key id and the virtual key as secret admits; a wrong secret or
//! an unknown key id is refused in AWS's shape.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use serde_json::json;

use super::Governed;
use crate::support::Reply;

/// Signs a Converse request to `path` as the AWS SDK would (service
/// `bedrock`, region `us-east-1`) and sends it.
async fn signed_converse(governed: &Governed, path: &str, key_id: &str, secret: &str) -> Reply {
    let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).to_string();
    signed(governed, path, body, key_id, secret).await
}

/// Signs a request with `body` to `path` as the AWS SDKs would (service
/// `bedrock`, region `us-east-1`; the path signed as it is sent) and sends it.
async fn signed(
    governed: &Governed,
    path: &str,
    body: String,
    key_id: &str,
    secret: &str,
) -> Reply {
    let url = format!("{}{path}", governed.base);
    let identity: Identity = Credentials::new(key_id, secret, None, None, "e2e").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let content_type = [("content-type", "application/json")];
    let signable = SignableRequest::new(
        "POST",
        &url,
        content_type.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("a signable request");
    let (instructions, _) = sign(signable, &params)
        .expect("the request signs")
        .into_parts();
    let mut headers: Vec<(&str, &str)> = instructions.headers().collect();
    headers.extend(content_type);
    governed
        .client
        .send("POST", &url, Bytes::from(body.clone()), &headers)
        .await
}

#[tokio::test]
async fn a_sigv4_signature_with_a_virtual_key_admits() {
    let governed = Governed::start("  price_per_request_cents: 1\n", "").await;
    let (id, secret) = governed.create_key(json!({"name": "bedrock-app"})).await;
    assert!(
        id.starts_with("vk_") && secret.starts_with("sk-bb-"),
        "{id}"
    );

    let reply = signed_converse(&governed, "/model/fast/converse", &id, &secret).await;
    assert_eq!(reply.status, 200, "{}\n{}", reply.text(), governed.log());
    let text = reply.json()["output"]["message"]["content"][0]["text"].clone();
    assert!(text.is_string(), "{}", reply.text());
    let usage = governed.usage(&id).await;
    assert_eq!(usage["requests"], 1, "{usage}");

    // The right key id with another secret: the signature does not verify.
    let wrong = "sk-bb-0123456789abcdef0123456789abcdef";
    let reply = signed_converse(&governed, "/model/fast/converse", &id, wrong).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    let error_type = reply.header("x-amzn-errortype").unwrap_or_default();
    assert!(
        error_type.starts_with("InvalidSignatureException"),
        "{error_type}: {}",
        reply.text()
    );

    // A key id the store does not know.
    let unknown = "vk_0123456789abcdef";
    let reply = signed_converse(&governed, "/model/fast/converse", unknown, &secret).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    let error_type = reply.header("x-amzn-errortype").unwrap_or_default();
    assert!(
        error_type.starts_with("UnrecognizedClientException"),
        "{error_type}: {}",
        reply.text()
    );

    // Only the admitted request reached the upstream or was charged.
    assert_eq!(governed.mock.received().len(), 1);
    let usage = governed.usage(&id).await;
    assert_eq!(
        (usage["requests"].clone(), usage["spend_cents"].clone()),
        (json!(1), json!(1))
    );
}

/// InvokeModel under governance, with a Bedrock id in the path as each client
/// sends it: the Anthropic SDK leaves its `:` as it is, boto3 percent-encodes
/// it. Either way the signature checks against the path as sent.
#[tokio::test]
async fn invoke_model_signed_with_a_virtual_key_admits_with_the_id_encoded_or_not() {
    let models = format!(
        "{}  us.anthropic.fast-v1:0:\n    provider: mock-openai\n    max_concurrent: 8\n",
        crate::support::DEFAULT_MODELS
    );
    let governed = Governed::start_with_models(&models, "  price_per_request_cents: 1\n", "").await;
    let (id, secret) = governed.create_key(json!({"name": "claude-bedrock"})).await;
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20,
                      "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    for path in [
        "/model/us.anthropic.fast-v1:0/invoke",
        "/model/us.anthropic.fast-v1%3A0/invoke",
    ] {
        let reply = signed(&governed, path, body.clone(), &id, &secret).await;
        assert_eq!(
            reply.status,
            200,
            "{path}: {}\n{}",
            reply.text(),
            governed.log()
        );
        assert_eq!(reply.json()["content"][0]["text"], "Echo: hi");
    }
    let wrong = "sk-bb-0123456789abcdef0123456789abcdef";
    let reply = signed(
        &governed,
        "/model/us.anthropic.fast-v1:0/invoke",
        body,
        &id,
        wrong,
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(reply
        .header("x-amzn-errortype")
        .is_some_and(|name| name.starts_with("InvalidSignatureException")));
}
