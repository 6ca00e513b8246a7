//! Every refusal in every ingress protocol's own error shape and status:
//! a bad key, a pool the key may not use, a spent budget, a rate limit.

use serde_json::{json, Value};

use super::Governed;
use crate::support::Reply;

/// One ingress protocol: how to ask it for `model` with `key`.
struct Ingress {
    name: &'static str,
    path: fn(&str) -> String,
    body: fn(&str) -> Value,
    /// The header carrying the key, and whether it takes `Bearer `.
    header: &'static str,
}

const INGRESSES: [Ingress; 6] = [
    Ingress {
        name: "openai",
        path: |_| "/v1/chat/completions".into(),
        body: |model| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        header: "authorization",
    },
    Ingress {
        name: "responses",
        path: |_| "/v1/responses".into(),
        body: |model| json!({"model": model, "input": "hi"}),
        header: "authorization",
    },
    Ingress {
        name: "anthropic",
        path: |model| format!("/{model}/v1/messages"),
        body: |_| json!({"max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}),
        header: "x-api-key",
    },
    Ingress {
        name: "gemini",
        path: |model| format!("/v1beta/models/{model}:generateContent"),
        body: |_| json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
        header: "x-goog-api-key",
    },
    Ingress {
        name: "cohere",
        path: |_| "/v2/chat".into(),
        body: |model| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        header: "authorization",
    },
    Ingress {
        name: "bedrock",
        path: |model| format!("/model/{model}/converse"),
        body: |_| json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        header: "authorization",
    },
];

impl Ingress {
    async fn ask(&self, governed: &Governed, key: &str, model: &str) -> Reply {
        let value = if self.header == "authorization" {
            format!("Bearer {key}")
        } else {
            key.to_owned()
        };
        governed
            .post(
                &(self.path)(model),
                &(self.body)(model),
                &[(self.header, &value)],
            )
            .await
    }
}

/// What a refusal looks like to one protocol's client: the status and the
/// protocol's name for the error (OpenAI `type`, Anthropic `error.type`,
/// Gemini `error.status`, Bedrock `x-amzn-errortype`; Cohere has none).
fn shape(ingress: &str, reply: &Reply) -> (u16, String) {
    let body = reply.json();
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let name = match ingress {
        "openai" | "responses" => text(&body["error"]["type"]),
        "anthropic" => {
            assert_eq!(body["type"], "error", "{body}");
            text(&body["error"]["type"])
        }
        "gemini" => text(&body["error"]["status"]),
        "bedrock" => {
            assert!(body["message"].is_string(), "{body}");
            reply
                .header("x-amzn-errortype")
                .unwrap_or_default()
                .to_owned()
        }
        _ => {
            assert!(body["message"].is_string(), "{body}");
            String::new()
        }
    };
    (reply.status, name)
}

#[tokio::test]
async fn refusals_take_each_ingress_protocols_shape() {
    let governed = Governed::start("  price_per_request_cents: 1\n", "").await;
    let (_, slow_only) = governed
        .create_key(json!({"name": "slow-only", "allowed_pools": ["slow"]}))
        .await;
    let (_, broke) = governed
        .create_key(json!({"name": "broke", "max_budget_cents": 0}))
        .await;
    let (_, limited) = governed
        .create_key(json!({"name": "limited", "rpm_limit": 1}))
        .await;
    assert_eq!(governed.chat(&limited, "fast").await.status, 200);
    let bad = "sk-bb-ffffffffffffffffffffffffffffffff";
    let expectations: [(&str, [(u16, &str); 4]); 6] = [
        (
            "openai",
            [
                (401, "invalid_request_error"),
                (403, "permission_error"),
                (429, "insufficient_quota"),
                (429, "requests"),
            ],
        ),
        (
            "responses",
            [
                (401, "invalid_request_error"),
                (403, "permission_error"),
                (429, "insufficient_quota"),
                (429, "requests"),
            ],
        ),
        (
            "anthropic",
            [
                (401, "authentication_error"),
                (403, "permission_error"),
                (429, "billing_error"),
                (429, "rate_limit_error"),
            ],
        ),
        (
            "gemini",
            [
                (400, "INVALID_ARGUMENT"),
                (403, "PERMISSION_DENIED"),
                (429, "RESOURCE_EXHAUSTED"),
                (429, "RESOURCE_EXHAUSTED"),
            ],
        ),
        ("cohere", [(401, ""), (403, ""), (402, ""), (429, "")]),
        (
            "bedrock",
            [
                (403, "UnrecognizedClientException"),
                (403, "AccessDeniedException"),
                (400, "ServiceQuotaExceededException"),
                (429, "ThrottlingException"),
            ],
        ),
    ];
    for (ingress, expected) in expectations {
        let ask = INGRESSES
            .iter()
            .find(|candidate| candidate.name == ingress)
            .expect("a known ingress");
        let cases = [
            (bad, "fast"),
            (slow_only.as_str(), "fast"),
            (broke.as_str(), "fast"),
            (limited.as_str(), "slow"),
        ];
        for ((key, model), (status, name)) in cases.into_iter().zip(expected) {
            let reply = ask.ask(&governed, key, model).await;
            assert_eq!(
                shape(ingress, &reply),
                (status, name.to_owned()),
                "{ingress}: {}",
                reply.text()
            );
            let retry = reply.header("retry-after");
            assert_eq!(
                retry.is_some(),
                key == limited,
                "{ingress}: {:?}",
                reply.headers
            );
        }
        // Gemini clients tell a bad key by its reason.
        if ingress == "gemini" {
            let reply = ask.ask(&governed, bad, "fast").await;
            assert_eq!(
                reply.json()["error"]["details"][0]["reason"],
                "API_KEY_INVALID"
            );
        }
    }
    assert_eq!(
        governed.mock.received().len(),
        1,
        "no refusal reached the upstream"
    );
}
