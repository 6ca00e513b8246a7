//! Token counting: Anthropic `count_tokens`, Gemini `:countTokens`,
//! Responses `input_tokens` and Bedrock `count-tokens`, each relayed to a
//! lane of its own protocol, translated to another protocol's counting
//! endpoint, and estimated for an OpenAI Chat lane, which has none.
//!
//! The mock counts whitespace-separated words, so a prompt of five words is
//! 5 wherever a provider counted it. Busbar's estimate of the same prompt
//! (`one two three four five`, 23 characters in one message) is
//! ⌈23 / 4⌉ + 4 = 10.
//!
//! The tests marked *(mock counting)* need the mock's counting endpoints
//! (branch `mock-today`); the others pass against any mock.

use busbar_testkit::{Fault, FaultRule};
use serde_json::{json, Value};

use crate::support::{anthropic_error, Gateway, Metrics, Setup, CLAUDE_UPSTREAM};

/// A lane of every protocol, each renamed upstream.
const MODELS: &str = "
  gpt:
    provider: mock-openai
    max_concurrent: 8
  claude:
    provider: mock-anthropic
    max_concurrent: 8
    upstream_model: claude-3-5-haiku
  claude-2:
    provider: mock-anthropic
    max_concurrent: 8
  gem:
    provider: mock-gemini
    max_concurrent: 8
    upstream_model: gemini-up
  resp:
    provider: mock-responses
    max_concurrent: 8
    upstream_model: resp-up
  rock:
    provider: mock-bedrock
    max_concurrent: 8
    upstream_model: rock.up-v1:0
";

const POOLS: &str = "pools:
  chat-first:
    members:
      - target: gpt
      - target: claude
  claudes:
    members:
      - target: claude
      - target: claude-2
";

const PROMPT: &str = "one two three four five";
/// What the mock counts for [`PROMPT`].
const WORDS: u64 = 5;
/// Busbar's estimate for [`PROMPT`] in one message.
const ESTIMATE: u64 = 10;

async fn gateway() -> Gateway {
    Setup::new()
        .every_protocol()
        .models(MODELS)
        .extra(POOLS)
        .start()
        .await
}

fn anthropic(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": PROMPT}]})
}

fn gemini() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})
}

fn responses(model: &str) -> Value {
    json!({"model": model, "input": PROMPT})
}

fn bedrock() -> Value {
    json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": PROMPT}]}]}}})
}

/// Each ingress's count route and body for `model`.
fn ingresses(model: &str) -> Vec<(String, Value, &'static str)> {
    vec![
        (
            "/v1/messages/count_tokens".to_owned(),
            anthropic(model),
            "input_tokens",
        ),
        (
            format!("/v1beta/models/{model}:countTokens"),
            gemini(),
            "totalTokens",
        ),
        (
            "/v1/responses/input_tokens".to_owned(),
            responses(model),
            "input_tokens",
        ),
        (
            format!("/model/{model}/count-tokens"),
            bedrock(),
            "inputTokens",
        ),
    ]
}

fn assert_counted(reply: &crate::support::Reply, field: &str, tokens: u64, source: &str) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()[field], tokens, "{}", reply.text());
    assert_eq!(reply.header("x-busbar-token-count"), Some(source));
}

#[tokio::test]
async fn an_openai_chat_lane_gets_the_estimate_in_every_ingress_shape() {
    let gateway = gateway().await;
    for (path, body, field) in ingresses("gpt") {
        let reply = gateway.post_json(&path, &body).await;
        assert_counted(&reply, field, ESTIMATE, "estimate");
        assert_eq!(reply.header("x-busbar-model"), Some("gpt"), "{path}");
    }
    let reply = gateway
        .post_json("/v1/responses/input_tokens", &responses("gpt"))
        .await;
    assert_eq!(reply.json()["object"], "response.input_tokens");
    assert!(gateway.received().is_empty(), "no upstream is asked");
}

#[tokio::test]
async fn counts_are_free_and_invisible_to_lanes() {
    let gateway = gateway().await;
    Metrics::ready(&gateway).await;
    for _ in 0..3 {
        let reply = gateway
            .post_json("/v1/messages/count_tokens", &anthropic("gpt"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let lane = gateway.lane_stats("gpt").await;
    assert_eq!(
        (lane["ok"].as_u64(), lane["err"].as_u64()),
        (Some(0), Some(0))
    );
    let metrics = Metrics::read(&gateway).await;
    assert_eq!(
        metrics.sum(
            "busbar_token_counts_total",
            &[("ingress_protocol", "anthropic"), ("source", "estimate")]
        ),
        3
    );
    assert_eq!(
        metrics.sum("busbar_requests_total", &[("pool", "gpt")]),
        0,
        "counts are not generation requests"
    );
}

#[tokio::test]
async fn count_errors_come_in_the_callers_shape() {
    let gateway = gateway().await;
    let reply = gateway
        .post_json("/v1/messages/count_tokens", &anthropic("nope"))
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(anthropic_error(&reply)["type"], "not_found_error");
    let reply = gateway
        .post("/v1/messages/count_tokens", "{not json", &[])
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(anthropic_error(&reply)["type"], "invalid_request_error");
    let reply = gateway.get("/v1/messages/count_tokens", &[]).await;
    assert_eq!(reply.status, 405);
    // An invokeModel input is a model-native blob only Bedrock can count.
    let invoke = json!({"input": {"invokeModel": {"body": "e30="}}});
    let reply = gateway.post_json("/model/gpt/count-tokens", &invoke).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("ValidationException")
    );
    let reply = gateway
        .post_json("/v1beta/models/nope:countTokens", &gemini())
        .await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.json()["error"]["status"].is_string(),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn counts_need_the_same_credentials_as_generation() {
    let gateway = Setup::new()
        .every_protocol()
        .models(MODELS)
        .extra("auth:\n  mode: token\n  client_tokens: [secret-token]")
        .start()
        .await;
    let reply = gateway
        .post_json("/v1/messages/count_tokens", &anthropic("gpt"))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(anthropic_error(&reply)["type"], "authentication_error");
    let reply = gateway
        .post(
            "/v1/messages/count_tokens",
            anthropic("gpt").to_string(),
            &[("x-api-key", "secret-token")],
        )
        .await;
    assert_counted(&reply, "input_tokens", ESTIMATE, "estimate");
    let reply = gateway
        .post(
            "/v1beta/models/gpt:countTokens?key=secret-token",
            gemini().to_string(),
            &[],
        )
        .await;
    assert_counted(&reply, "totalTokens", ESTIMATE, "estimate");
}

#[tokio::test]
async fn a_failing_count_endpoint_falls_back_to_the_estimate() {
    let gateway = gateway().await;
    gateway
        .mock
        .set_fault(FaultRule::new(Fault::overloaded()).path_suffix("/count_tokens"));
    let reply = gateway
        .post_json("/v1/messages/count_tokens", &anthropic("claudes"))
        .await;
    assert_counted(&reply, "input_tokens", ESTIMATE, "estimate");
    // Both lanes were asked, and neither took a failure for it.
    assert_eq!(gateway.received().len(), 2);
    let lane = gateway.lane_stats("claude").await;
    assert_eq!(
        (lane["ok"].as_u64(), lane["err"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(lane["usable"], true);
}

#[tokio::test]
async fn an_upstream_without_a_counting_endpoint_gets_the_estimate() {
    let gateway = gateway().await;
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::status(404)).path_suffix("/count_tokens"));
    let reply = gateway
        .post_json("/v1/messages/count_tokens", &anthropic("claude"))
        .await;
    assert_counted(&reply, "input_tokens", ESTIMATE, "estimate");
    assert_eq!(reply.header("x-busbar-model"), Some("claude"));
}

#[tokio::test]
async fn a_count_the_upstream_refuses_as_the_callers_fault_is_returned() {
    let gateway = gateway().await;
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::status(400)).path_suffix("/count_tokens"));
    let reply = gateway
        .post_json("/v1/messages/count_tokens", &anthropic("claude"))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.header("x-busbar-token-count"), None);
}

/// *(mock counting)*
#[tokio::test]
async fn same_protocol_counts_are_relayed() {
    let gateway = gateway().await;
    let cases = [
        ("claude", "/v1/messages/count_tokens", "input_tokens"),
        ("gem", "/v1beta/models/gemini-up:countTokens", "totalTokens"),
        ("resp", "/v1/responses/input_tokens", "input_tokens"),
        ("rock", "/model/rock.up-v1%3A0/count-tokens", "inputTokens"),
    ];
    for ((model, upstream_path, field), (path, body, _)) in cases
        .into_iter()
        .zip(ingresses_for(&["claude", "gem", "resp", "rock"]))
    {
        gateway.mock.clear();
        let reply = gateway
            .post(
                &path,
                body.to_string(),
                &[("anthropic-version", "2023-06-01")],
            )
            .await;
        assert_counted(&reply, field, WORDS, "upstream");
        assert_eq!(reply.header("x-busbar-model"), Some(model));
        let sent = gateway.received_one();
        assert_eq!(sent.path, upstream_path, "{model}");
        let sent: Value = serde_json::from_slice(&sent.body).unwrap();
        match model {
            "claude" => assert_eq!(sent["model"], CLAUDE_UPSTREAM),
            "resp" => assert_eq!(sent["model"], "resp-up"),
            _ => assert_eq!(sent, body, "{model}: relayed untouched"),
        }
    }
    // The name may be in an Anthropic URL too.
    let reply = gateway
        .post_json(
            "/claude/v1/messages/count_tokens",
            &json!({"messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_counted(&reply, "input_tokens", WORDS, "upstream");
    let lane = gateway.lane_stats("claude").await;
    assert_eq!(lane["ok"], 0, "a count is not a generation request");
}

/// The ingress route and body of each protocol, in order, for `models`.
fn ingresses_for(models: &[&str]) -> Vec<(String, Value, &'static str)> {
    models
        .iter()
        .enumerate()
        .map(|(index, model)| ingresses(model).swap_remove(index))
        .collect()
}

/// *(mock counting)*
#[tokio::test]
async fn counts_are_translated_to_the_lanes_counting_endpoint() {
    let gateway = gateway().await;
    // Each ingress against a lane of the next protocol round the ring.
    let cases = [
        ("gem", "/v1beta/models/gemini-up:countTokens"),
        ("resp", "/v1/responses/input_tokens"),
        ("rock", "/model/rock.up-v1%3A0/count-tokens"),
        ("claude", "/v1/messages/count_tokens"),
    ];
    for ((path, body, field), (model, upstream_path)) in
        ingresses_for(&[cases[0].0, cases[1].0, cases[2].0, cases[3].0])
            .into_iter()
            .zip(cases)
    {
        gateway.mock.clear();
        let reply = gateway.post_json(&path, &body).await;
        assert_counted(&reply, field, WORDS, "upstream");
        assert_eq!(reply.header("x-busbar-model"), Some(model));
        assert_eq!(gateway.received_one().path, upstream_path, "{path}");
    }
    let reply = gateway
        .post_json("/v1/responses/input_tokens", &responses("claude"))
        .await;
    assert_eq!(reply.json()["object"], "response.input_tokens");
}

/// *(mock counting)*
#[tokio::test]
async fn a_pool_counts_on_its_first_member_that_can() {
    let gateway = gateway().await;
    let reply = gateway
        .post_json("/v1/messages/count_tokens", &anthropic("chat-first"))
        .await;
    assert_counted(&reply, "input_tokens", WORDS, "upstream");
    assert_eq!(reply.header("x-busbar-model"), Some("claude"));
    // A failing member is passed over for the next.
    gateway
        .mock
        .push_fault(FaultRule::new(Fault::server_error()).path_suffix("/count_tokens"));
    let reply = gateway
        .post_json("/v1/messages/count_tokens", &anthropic("claudes"))
        .await;
    assert_counted(&reply, "input_tokens", WORDS, "upstream");
    assert_eq!(reply.header("x-busbar-model"), Some("claude-2"));
}
