//! Gemini: model from the URL, API-key auth, camelCase and snake_case requests, function calls
//! with thought signatures, and both stream shapes.

use serde_json::{json, Value};

use busbar_testkit::{sse, MockOptions, MockUpstream, THINKING_SIGNATURE, THINKING_TEXT};

use crate::support::{mock, post, send, GEMINI};

const GENERATE: &str = "/v1beta/models/gemini-test:generateContent";
const STREAM: &str = "/v1beta/models/gemini-test:streamGenerateContent";

fn ask(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn tools() -> Value {
    json!([{"functionDeclarations": [
        {"name": "get_weather", "parameters": {"type": "OBJECT",
            "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}}}},
        {"name": "get_time", "parametersJsonSchema": {"type": "object",
            "properties": {"utc": {"type": "boolean"}}}}
    ]}])
}

#[tokio::test]
async fn text_reply_has_the_vendor_shape() {
    let upstream = mock().await;
    let mut request = ask("hello there");
    request["systemInstruction"] = json!({"parts": [{"text": "Be brief."}]});
    let answer = post(
        &upstream,
        "/g/v1/models/gemini-test:generateContent",
        GEMINI,
        &request,
    )
    .await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    let candidate = &body["candidates"][0];
    assert_eq!(
        candidate["content"],
        json!({"parts": [{"text": "Echo: hello there"}], "role": "model"})
    );
    assert_eq!(
        (&candidate["finishReason"], &candidate["index"]),
        (&json!("STOP"), &json!(0))
    );
    assert_eq!(body["modelVersion"], "gemini-test");
    assert!(body["responseId"].is_string());
    assert_eq!(
        body["usageMetadata"],
        json!({"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7,
               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}]})
    );

    let snake = json!({"contents": [{"role": "user", "parts": [{"text": "one two three"}]}],
                       "generation_config": {"max_output_tokens": 2, "stop_sequences": ["x"]}});
    let body = post(&upstream, GENERATE, GEMINI, &snake).await.json();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: one"
    );
    assert_eq!(body["candidates"][0]["finishReason"], "MAX_TOKENS");
    let mut stopped = ask("alpha beta gamma");
    stopped["generationConfig"] = json!({"stopSequences": ["gamma"]});
    let body = post(&upstream, GENERATE, GEMINI, &stopped).await.json();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: alpha beta "
    );
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn keys_come_from_the_header_or_the_query() {
    let upstream = mock().await;
    let answer = post(&upstream, GENERATE, &[], &ask("hi")).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["error"]["status"], "PERMISSION_DENIED");
    assert!(answer.json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Method doesn't allow unregistered callers")));
    let query = format!("{GENERATE}?key=AIza-test");
    assert_eq!(post(&upstream, &query, &[], &ask("hi")).await.status, 200);

    let keyed = MockUpstream::start_with(MockOptions::default().expected_key("AIza-right"))
        .await
        .expect("start");
    let answer = post(&keyed, GENERATE, GEMINI, &ask("hi")).await;
    assert_eq!(answer.status, 400);
    let error = &answer.json()["error"];
    assert_eq!(
        (&error["code"], &error["status"]),
        (&json!(400), &json!("INVALID_ARGUMENT"))
    );
    assert_eq!(
        error["message"],
        "API key not valid. Please pass a valid API key."
    );
    assert_eq!(error["details"][0]["reason"], "API_KEY_INVALID");
    let right = [("x-goog-api-key", "AIza-right")];
    assert_eq!(post(&keyed, GENERATE, &right, &ask("hi")).await.status, 200);
}

#[tokio::test]
async fn validation_errors_have_the_vendor_body() {
    let upstream = mock().await;
    let bad = send(&upstream, "POST", GENERATE, GEMINI, "{nope")
        .await
        .expect("answer");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["status"], "INVALID_ARGUMENT");
    let cases = [
        (
            json!({}),
            "* GenerateContentRequest.contents: contents is not specified\n",
        ),
        (
            json!({"contents": [{"role": "bot", "parts": [{"text": "x"}]}]}),
            "Please use a valid role: user, model.",
        ),
        (
            json!({"contents": [{"role": "user", "parts": []}]}),
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
        ),
    ];
    for (request, message) in cases {
        let answer = post(&upstream, GENERATE, GEMINI, &request).await;
        assert_eq!(
            answer.json(),
            json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
        );
    }
    let missing = post(
        &upstream,
        "/v1beta/models/g:embedContent",
        GEMINI,
        &ask("x"),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn function_calls_carry_thought_signatures() {
    let upstream = mock().await;
    let mut request = ask("weather in parallel");
    request["tools"] = tools();
    let body = post(&upstream, GENERATE, GEMINI, &request).await.json();
    let parts = body["candidates"][0]["content"]["parts"]
        .as_array()
        .expect("parts")
        .clone();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        parts[0],
        json!({"text": "Calling get_weather and get_time."})
    );
    assert_eq!(
        parts[1],
        json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 1}},
               "thoughtSignature": THINKING_SIGNATURE})
    );
    assert_eq!(
        parts[2],
        json!({"functionCall": {"name": "get_time", "args": {"utc": true}}})
    );
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");

    request["toolConfig"] = json!({"functionCallingConfig": {"mode": "ANY",
                                                             "allowedFunctionNames": ["get_time"]}});
    let body = post(&upstream, GENERATE, GEMINI, &request).await.json();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][1]["functionCall"]["name"],
        "get_time"
    );
    request["toolConfig"] = json!({"function_calling_config": {"mode": "NONE"}});
    let body = post(&upstream, GENERATE, GEMINI, &request).await.json();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: weather in parallel"
    );

    let history = |signature: Option<&str>, id: bool| {
        let mut call = json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}});
        if let Some(signature) = signature {
            call["thoughtSignature"] = json!(signature);
        }
        let mut response = json!({"name": "get_weather", "response": {"result": "18C"}});
        if id {
            call["functionCall"]["id"] = json!("c1");
            response["id"] = json!("c1");
        }
        json!({"tools": tools(), "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [call]},
            {"role": "user", "parts": [{"functionResponse": response}]}]})
    };
    let body = post(
        &upstream,
        GENERATE,
        GEMINI,
        &history(Some(THINKING_SIGNATURE), false),
    )
    .await;
    assert_eq!(
        body.json()["candidates"][0]["content"]["parts"][0]["text"],
        "Tool result received: 18C"
    );
    let sentinel = history(Some("skip_thought_signature_validator"), true);
    assert_eq!(
        post(&upstream, GENERATE, GEMINI, &sentinel).await.status,
        200
    );
    let unsigned = post(&upstream, GENERATE, GEMINI, &history(None, false)).await;
    assert_eq!(unsigned.status, 400);
    let message = unsigned.json()["error"]["message"].clone();
    assert!(message.as_str().is_some_and(|m| m
        .starts_with("Function call is missing a thought_signature")
        && m.contains("`default_api:get_weather`")));

    let lenient =
        MockUpstream::start_with(MockOptions::default().require_thought_signatures(false))
            .await
            .expect("start");
    assert_eq!(
        post(&lenient, GENERATE, GEMINI, &history(None, false))
            .await
            .status,
        200
    );

    let mut again = history(Some(THINKING_SIGNATURE), true);
    again["contents"][2]["parts"][0] = json!({"text": "and tomorrow?"});
    let body = post(&upstream, GENERATE, GEMINI, &again).await.json();
    let call = &body["candidates"][0]["content"]["parts"][1]["functionCall"];
    assert!(
        call["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("call_mock")),
        "{call}"
    );
}

#[tokio::test]
async fn thoughts_are_parts_and_counted_apart() {
    let upstream = mock().await;
    let mut request = ask("think");
    request["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": true}});
    let body = post(&upstream, GENERATE, GEMINI, &request).await.json();
    let parts = &body["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0], json!({"text": THINKING_TEXT, "thought": true}));
    assert_eq!(parts[1], json!({"text": "Echo: think"}));
    let thoughts = THINKING_TEXT.split_whitespace().count() as u64;
    let usage = &body["usageMetadata"];
    assert_eq!(usage["thoughtsTokenCount"], thoughts);
    assert_eq!(usage["candidatesTokenCount"], 2);
    assert_eq!(usage["totalTokenCount"], 1 + 2 + thoughts);
}

#[tokio::test]
async fn sse_stream_matches_the_vendor() {
    let upstream = mock().await;
    let mut request = ask("a b c d e f g");
    request["tools"] = json!([]);
    let path = format!("{STREAM}?alt=sse");
    let answer = post(&upstream, &path, GEMINI, &request).await;
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(
        answer.text().contains("}\r\n\r\ndata: {"),
        "events end with CRLF CRLF"
    );
    assert!(
        answer.text().starts_with("data: {"),
        "data lines carry a space"
    );
    let events = answer.events();
    assert!(events.iter().all(|e| e.event.is_none()));
    let chunks: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    assert_eq!(chunks.len(), events.len(), "no [DONE]");
    assert!(chunks.len() >= 3, "text arrives in increments");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Echo: a b c d e f g");
    let (last, rest) = chunks.split_last().expect("chunks");
    assert!(rest
        .iter()
        .all(|c| c["candidates"][0].get("finishReason").is_none()));
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 8);
    assert!(chunks
        .iter()
        .all(|c| c["usageMetadata"]["promptTokenCount"] == 7));

    let mut request = ask("go");
    request["tools"] = tools();
    let events = post(&upstream, &path, GEMINI, &request).await.events();
    let chunks: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    let last = &chunks[chunks.len() - 1]["candidates"][0];
    assert_eq!(
        last["content"]["parts"][0]["functionCall"]["args"],
        json!({"city": "Paris", "days": 1})
    );
    assert_eq!(
        last["content"]["parts"][0]["thoughtSignature"],
        THINKING_SIGNATURE
    );
    assert_eq!(last["finishReason"], "STOP");
}

#[tokio::test]
async fn array_stream_is_one_json_array_in_pieces() {
    let upstream = mock().await;
    let answer = post(&upstream, STREAM, GEMINI, &ask("a b c d e f g")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert!(answer.frames > 2, "the array arrives in pieces");
    let chunks = answer.json();
    let chunks = chunks.as_array().expect("a JSON array");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Echo: a b c d e f g");
    assert_eq!(
        chunks[chunks.len() - 1]["candidates"][0]["finishReason"],
        "STOP"
    );
}
