//! The mock against the vendors' current request types, vendored under `test_data/vendor/`
//! (sources, versions and dates in its README): every case of `cases.json` and every captured
//! agent CLI request under `samples/` is judged by the vendored description and sent to the
//! mock; both must agree with the case's verdict, and a refusal must come in the vendor's error
//! shape. Then each tool type and content-block type the SDK types list is generated in its
//! smallest valid form and must be accepted, so a type the vendor adds shows up here first.

mod schema;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::{mock, post, post_signed, COHERE, GEMINI, OPENAI};
use busbar_testkit::MockUpstream;
use schema::{Schema, Smithy};

fn vendor_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/vendor")
}

fn load(file: &str) -> Value {
    let path = vendor_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {} ({error})", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The vendored descriptions, loaded once per test.
struct Descriptions {
    anthropic: Value,
    openai: Value,
    gemini: Value,
    cohere: Value,
    bedrock: Value,
}

impl Descriptions {
    fn load() -> Self {
        Self {
            anthropic: load("anthropic-messages.json"),
            openai: load("openai-requests.json"),
            gemini: load("gemini-generate-content.json"),
            cohere: load("cohere-chat-v2.json"),
            bedrock: load("bedrock-runtime.json"),
        }
    }

    /// What the vendor's description says is wrong with `body` as a `root`, if anything.
    fn problem(&self, format: &str, root: &str, body: &Value) -> Option<String> {
        let sdk = |document: &Value| {
            let schema = &document["roots"][root];
            assert!(
                schema.is_object(),
                "no root {root} in the {format} description"
            );
            Schema { document: schema }.problem(schema, body, "body")
        };
        match format {
            "anthropic" => sdk(&self.anthropic),
            "gemini" => sdk(&self.gemini),
            "cohere" => sdk(&self.cohere),
            "openai" | "responses" => {
                let schema = &self.openai["components"]["schemas"][root];
                assert!(
                    schema.is_object(),
                    "no schema {root} in the OpenAI description"
                );
                Schema {
                    document: &self.openai,
                }
                .problem(schema, body, "body")
            }
            "bedrock" => Smithy {
                model: &self.bedrock,
            }
            .problem(root, body, "body"),
            other => panic!("unknown format {other}"),
        }
    }
}

/// Sends `body` to the format's endpoint (or `path`) with its credentials.
async fn send(
    upstream: &MockUpstream,
    format: &str,
    path: Option<&str>,
    headers: &Value,
    body: &Value,
) -> (u16, Value, Option<String>) {
    let mut pairs: Vec<(&str, &str)> = headers
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.as_str(), value.as_str()?)))
        .collect();
    let answer = match format {
        "bedrock" => post_signed(upstream, path.unwrap_or("/model/m/converse"), body).await,
        _ => {
            let (default, credentials) = match format {
                "anthropic" => ("/v1/messages", &[("x-api-key", "sk-ant-test")][..]),
                "openai" => ("/v1/chat/completions", OPENAI),
                "responses" => ("/v1/responses", OPENAI),
                "gemini" => ("/v1beta/models/gemini-x:generateContent", GEMINI),
                "cohere" => ("/v2/chat", COHERE),
                other => panic!("unknown format {other}"),
            };
            pairs.extend_from_slice(credentials);
            post(upstream, path.unwrap_or(default), &pairs, body).await
        }
    };
    let error_type = answer.header("x-amzn-errortype").map(str::to_owned);
    (answer.status, answer.json(), error_type)
}

/// Whether a refusal is in the vendor's own error shape and status.
fn vendor_shaped(format: &str, status: u16, body: &Value, aws_type: Option<&str>) -> bool {
    match format {
        "anthropic" => {
            status == 400
                && body["type"] == "error"
                && body["error"]["type"] == "invalid_request_error"
        }
        "openai" | "responses" => {
            status == 400
                && body["error"]["type"] == "invalid_request_error"
                && body["error"]["message"].is_string()
        }
        "gemini" => {
            status == 400
                && body["error"]["status"] == "INVALID_ARGUMENT"
                && body["error"]["code"] == 400
        }
        "cohere" => status == 400 && body["message"].is_string(),
        "bedrock" => {
            status == 400
                && aws_type.is_some_and(|t| t.starts_with("ValidationException"))
                && body["message"].is_string()
        }
        _ => false,
    }
}

#[tokio::test]
async fn the_mock_accepts_and_refuses_what_the_vendors_do() {
    let descriptions = Descriptions::load();
    let upstream = mock().await;
    let cases = load("cases.json");
    let mut failures = Vec::new();
    for case in cases["cases"].as_array().into_iter().flatten() {
        let name = case["name"].as_str().unwrap_or_default();
        let format = case["format"].as_str().unwrap_or_default();
        let valid = case["valid"] == true;
        let body = &case["body"];
        let described =
            descriptions.problem(format, case["schema"].as_str().unwrap_or_default(), body);
        // A case with a `rule` is refused by a rule of the API that the types do not carry.
        let by_rule = case.get("rule").is_some();
        if described.is_none() != (valid || by_rule) {
            failures.push(format!("{name}: the description says {described:?}"));
        }
        let path = case["path"].as_str();
        let (status, reply, aws_type) = send(&upstream, format, path, &case["headers"], body).await;
        if valid && status != 200 {
            failures.push(format!("{name}: refused with {status} {reply}"));
        }
        if !valid && !vendor_shaped(format, status, &reply, aws_type.as_deref()) {
            failures.push(format!(
                "{name}: expected the vendor's 400, got {status} {reply}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn captured_agent_requests_pass_both() {
    let descriptions = Descriptions::load();
    let upstream = mock().await;
    for (file, format, root) in [
        (
            "samples/claude-code-2.1.332.json",
            "anthropic",
            "BetaMessageCreateParams",
        ),
        ("samples/codex-0.171.0.json", "responses", "CreateResponse"),
        (
            "samples/gemini-cli-0.61.0.json",
            "gemini",
            "GenerateContentRequest",
        ),
    ] {
        let sample = load(file);
        let mut body = sample["body"].clone();
        let path = sample["path"].as_str().unwrap_or_default();
        let problem = descriptions.problem(format, root, &body);
        // Codex sends `client_metadata`, which the OpenAPI description does not list; the real
        // API takes it, so the description is the one that is behind (see the README).
        if format == "responses" {
            let unlisted = problem
                .as_deref()
                .is_some_and(|p| p.contains("client_metadata"));
            assert!(problem.is_none() || unlisted, "{file}: {problem:?}");
            if let Some(fields) = body.as_object_mut() {
                fields.remove("client_metadata");
            }
            assert_eq!(descriptions.problem(format, root, &body), None, "{file}");
            body = sample["body"].clone();
        } else {
            assert_eq!(problem, None, "{file}");
        }
        let (status, reply, _) =
            send(&upstream, format, Some(path), &sample["headers"], &body).await;
        assert_eq!(status, 200, "{file}: {reply}");
    }
}

/// The smallest instance of a JSON schema: required members only, the first enum value or
/// variant, `"x"` for strings and 1 for numbers.
fn smallest(document: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = document
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or(&Value::Null);
        return smallest(document, target);
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(variants) = schema.get(key).and_then(Value::as_array) {
            let first = variants
                .iter()
                .find(|v| v.get("type") != Some(&json!("null")));
            return first.map_or(Value::Null, |v| smallest(document, v));
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => json!("x"),
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        // A list that must not be empty (`minItems`) gets its smallest item.
        Some("array") if schema.get("minItems").is_some_and(|n| n.as_u64() > Some(0)) => {
            json!([smallest(document, &schema["items"])])
        }
        Some("array") => json!([]),
        _ => {
            let mut object = serde_json::Map::new();
            let properties = &schema["properties"];
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                object.insert(name.to_owned(), smallest(document, &properties[name]));
            }
            Value::Object(object)
        }
    }
}

#[tokio::test]
async fn every_listed_tool_and_block_type_is_accepted() {
    let descriptions = Descriptions::load();
    let upstream = mock().await;
    let root = &descriptions.anthropic["roots"]["MessageCreateParams"];
    let headers = json!({"anthropic-version": "2023-06-01"});
    let mut failures = Vec::new();
    let tools = root
        .pointer("/properties/tools/items/anyOf")
        .and_then(Value::as_array);
    for variant in tools.into_iter().flatten() {
        let tool = smallest(root, variant);
        let body = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [tool]});
        let (status, reply, _) = send(&upstream, "anthropic", None, &headers, &body).await;
        if status != 200 {
            failures.push(format!("anthropic tool {tool}: {reply}"));
        }
    }
    let user = root
        .pointer("/$defs/UserMessageParam/properties/content/anyOf/1/items/anyOf")
        .and_then(Value::as_array);
    for variant in user.into_iter().flatten() {
        let block = smallest(root, variant);
        let body = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [block]}]});
        let (status, reply, _) = send(&upstream, "anthropic", None, &headers, &body).await;
        if status != 200 {
            failures.push(format!("anthropic block {block}: {reply}"));
        }
    }
    let openai = &descriptions.openai;
    let tools = openai
        .pointer("/components/schemas/Tool/oneOf")
        .and_then(Value::as_array);
    for variant in tools.into_iter().flatten() {
        let tool = smallest(openai, variant);
        let body = json!({"model": "m", "input": "x", "tools": [tool]});
        let (status, reply, _) = send(&upstream, "responses", None, &json!({}), &body).await;
        if status != 200 {
            failures.push(format!("responses tool {tool}: {reply}"));
        }
    }
    let members = descriptions
        .bedrock
        .pointer("/shapes/ContentBlock/members")
        .and_then(Value::as_object);
    for member in members.into_iter().flatten().map(|(name, _)| name) {
        assert!(
            [
                "text",
                "image",
                "document",
                "video",
                "audio",
                "toolUse",
                "toolResult",
                "guardContent",
                "cachePoint",
                "reasoningContent",
                "citationsContent",
                "searchResult",
                "toolAddition",
                "toolRemoval"
            ]
            .contains(&member.as_str()),
            "botocore's ContentBlock has a member the mock does not know: {member}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
