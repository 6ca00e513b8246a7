//! Gemini `generateContent` / `streamGenerateContent`: routes, API-key auth, validation and the
//! Gemini 3 thought-signature rule; replies, streams and error bodies are in `gemini/wire.rs`.
//!
//! Requests are read in camelCase, the API's JSON spelling, with the proto's snake_case accepted
//! too, as the API does.

mod request;
mod wire;

use http::StatusCode;
use serde_json::{json, Value};

use crate::behaviour::{self, Conversation, LastTurn, ToolChoice, ToolDef};
use crate::format::{Outcome, Request};
use crate::server::Shared;

pub(crate) use wire::{error, not_found, stream_error_event};

/// A request the mock accepted.
pub(crate) struct GenerateRequest<'a> {
    pub(crate) model: &'a str,
    pub(crate) stream: bool,
    /// `?alt=sse`: server-sent events rather than one streamed JSON array.
    pub(crate) sse: bool,
    /// Whether the request's function calls carried ids, so the reply's do too.
    pub(crate) call_ids: bool,
    pub(crate) conversation: Conversation<'a>,
}

/// The model and whether it streams, when `path` is `…/models/{model}:generateContent` or
/// `:streamGenerateContent`.
pub(crate) fn route(path: &str) -> Option<(&str, bool)> {
    let at = path.rfind("/models/")?;
    let rest = &path[at + "/models/".len()..];
    let (model, method) = rest.rsplit_once(':')?;
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    (!model.is_empty() && !model.contains('/')).then_some((model, stream))
}

/// The model, when `path` is `…/models/{model}:countTokens`.
pub(crate) fn count_route(path: &str) -> Option<&str> {
    let at = path.rfind("/models/")?;
    let model = path[at + "/models/".len()..].strip_suffix(":countTokens")?;
    (!model.is_empty() && !model.contains('/')).then_some(model)
}

/// Answers `POST …/models/{model}:generateContent`, `:streamGenerateContent` and `:countTokens`.
pub(crate) fn handle(shared: &Shared, request: &Request<'_>) -> Outcome {
    let count = count_route(request.path).is_some();
    let route = route(request.path);
    if route.is_none() && !count {
        return not_found(request.path);
    }
    // On Vertex AI's paths `cloud.rs` checked the access token.
    if crate::cloud::Cloud::of(request.path).is_none() {
        if let Err(refusal) = check_key(shared, request) {
            return refusal;
        }
    }
    let Some(body) = request.json.filter(|v| v.is_object()) else {
        return wire::invalid("Invalid JSON payload received. Unexpected token.");
    };
    if let Err(refusal) = request::check(body, count) {
        return refusal;
    }
    let Some((model, stream)) = route else {
        return count_tokens(body);
    };
    let mut parsed = match parse(body) {
        Ok(parsed) => parsed,
        Err(refusal) => return refusal,
    };
    if shared.require_thought_signatures() {
        if let Err(refusal) = check_thought_signatures(field(body, "contents")) {
            return refusal;
        }
    }
    parsed.model = model;
    parsed.stream = stream;
    parsed.sse = request.query_param("alt") == Some("sse");
    wire::answer(shared, &parsed)
}

/// `countTokens`: the words of `contents` (or of a whole `generateContentRequest`, system
/// instruction included), by the mock's word rule.
fn count_tokens(body: &Value) -> Outcome {
    let source = field(body, "generateContentRequest").unwrap_or(body);
    match parse(source) {
        Ok(parsed) => {
            let total = parsed.conversation.input_tokens;
            let body = json!({"totalTokens": total,
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]});
            Outcome::json(StatusCode::OK, body.to_string())
        }
        Err(refusal) => refusal,
    }
}

fn check_key(shared: &Shared, request: &Request<'_>) -> Result<(), Outcome> {
    let header = request
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok());
    let key = header
        .or_else(|| request.query_param("key"))
        .filter(|k| !k.is_empty());
    match (key, shared.expected_key()) {
        (None, _) => Err(wire::unregistered_caller()),
        (Some(key), Some(expected)) if key != expected => Err(wire::api_key_invalid()),
        _ => Ok(()),
    }
}

/// A field by its camelCase name, or by the proto's snake_case one.
pub(crate) fn field<'a>(value: &'a Value, camel: &str) -> Option<&'a Value> {
    value.get(camel).or_else(|| {
        if !camel.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut snake = String::with_capacity(camel.len() + 4);
        for ch in camel.chars() {
            if ch.is_ascii_uppercase() {
                snake.push('_');
                snake.push(ch.to_ascii_lowercase());
            } else {
                snake.push(ch);
            }
        }
        value.get(snake.as_str())
    })
}

fn parts(content: &Value) -> &[Value] {
    field(content, "parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn parse(body: &Value) -> Result<GenerateRequest<'_>, Outcome> {
    let contents = match field(body, "contents").and_then(Value::as_array) {
        Some(contents) if !contents.is_empty() => contents,
        _ => {
            return Err(wire::invalid(
                "* GenerateContentRequest.contents: contents is not specified\n",
            ))
        }
    };
    let mut input_tokens = field(body, "systemInstruction").map_or(0, |system| {
        parts(system)
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .map(behaviour::count_words)
            .sum()
    });
    let mut call_ids = false;
    for (index, content) in contents.iter().enumerate() {
        if !matches!(
            content.get("role").and_then(Value::as_str),
            None | Some("user" | "model" | "function")
        ) {
            return Err(wire::invalid("Please use a valid role: user, model."));
        }
        if parts(content).is_empty() {
            return Err(wire::invalid(&format!(
                "* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.\n"
            )));
        }
        for part in parts(content) {
            input_tokens += behaviour::count_words(&part_text(part));
            call_ids |= field(part, "functionCall").is_some_and(|call| call.get("id").is_some());
        }
    }
    let (tools, tool_choice) = read_tools(body);
    let generation = field(body, "generationConfig");
    let setting = |name: &str| generation.and_then(|g| field(g, name));
    let stop = setting("stopSequences").and_then(Value::as_array);
    let include_thoughts = setting("thinkingConfig")
        .and_then(|t| field(t, "includeThoughts"))
        .and_then(Value::as_bool);
    let conversation = Conversation {
        last: last_turn(contents),
        tools,
        tool_choice,
        parallel_allowed: true,
        max_tokens: setting("maxOutputTokens").and_then(Value::as_u64),
        stop: stop
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        input_tokens,
        thinking: include_thoughts.unwrap_or(false),
    };
    Ok(GenerateRequest {
        model: "",
        stream: false,
        sse: false,
        call_ids,
        conversation,
    })
}

/// Function declarations, narrowed by `allowedFunctionNames` under mode `ANY`.
fn read_tools(body: &Value) -> (Vec<ToolDef<'_>>, ToolChoice) {
    let mut tools = Vec::new();
    let groups = field(body, "tools").and_then(Value::as_array);
    for group in groups.into_iter().flatten() {
        let declarations = field(group, "functionDeclarations").and_then(Value::as_array);
        for declaration in declarations.into_iter().flatten() {
            if let Some(name) = declaration.get("name").and_then(Value::as_str) {
                let schema = field(declaration, "parameters")
                    .or_else(|| field(declaration, "parametersJsonSchema"));
                tools.push(ToolDef { name, schema });
            }
        }
    }
    let config = field(body, "toolConfig").and_then(|c| field(c, "functionCallingConfig"));
    let mode = config.and_then(|c| c.get("mode")).and_then(Value::as_str);
    let allowed: Vec<&str> = config
        .and_then(|c| field(c, "allowedFunctionNames"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let choice = match mode {
        Some("NONE") => ToolChoice::None,
        Some("ANY") => {
            if !allowed.is_empty() {
                tools.retain(|tool| allowed.contains(&tool.name));
            }
            match allowed.as_slice() {
                [only] => ToolChoice::Named((*only).to_owned()),
                _ => ToolChoice::Required,
            }
        }
        _ => ToolChoice::Auto,
    };
    (tools, choice)
}

/// The text a part carries: its text, or a function response's result.
fn part_text(part: &Value) -> String {
    if let Some(text) = part.get("text").and_then(Value::as_str) {
        return text.to_owned();
    }
    field(part, "functionResponse")
        .and_then(|response| response.get("response"))
        .map(behaviour::value_text)
        .unwrap_or_default()
}

/// The last user-side content: its function responses when it has any, else its text.
fn last_turn(contents: &[Value]) -> LastTurn {
    let user = contents
        .iter()
        .rev()
        .find(|c| c.get("role").and_then(Value::as_str) != Some("model"));
    let Some(user) = user else {
        return LastTurn::Text(String::new());
    };
    let parts = parts(user);
    let responses: Vec<String> = parts
        .iter()
        .filter(|part| field(part, "functionResponse").is_some())
        .map(part_text)
        .collect();
    if !responses.is_empty() {
        return LastTurn::ToolResult(responses.join(" "));
    }
    let texts: Vec<&str> = parts
        .iter()
        .filter(|part| part.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    LastTurn::Text(texts.join(" "))
}

/// Gemini 3's rule: in the current turn (everything after the last user text), the first
/// `functionCall` part of each model step must carry its `thoughtSignature`.
fn check_thought_signatures(contents: Option<&Value>) -> Result<(), Outcome> {
    let contents = contents
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let is_user_text = |content: &Value| {
        content.get("role").and_then(Value::as_str) != Some("model")
            && parts(content).iter().any(|part| part.get("text").is_some())
    };
    let start = contents
        .iter()
        .rposition(is_user_text)
        .map_or(0, |at| at + 1);
    for (index, content) in contents.iter().enumerate().skip(start) {
        if content.get("role").and_then(Value::as_str) != Some("model") {
            continue;
        }
        let Some(first_call) = parts(content)
            .iter()
            .find(|part| field(part, "functionCall").is_some())
        else {
            continue;
        };
        let signature = field(first_call, "thoughtSignature").and_then(Value::as_str);
        // Any non-empty value passes, translators' `skip_thought_signature_validator` included.
        if signature.is_some_and(|s| !s.is_empty()) {
            continue;
        }
        let name = field(first_call, "functionCall")
            .and_then(|call| call.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(wire::invalid(&format!(
            "Function call is missing a thought_signature in functionCall parts. This is required \
             for tools to work correctly, and missing thought_signature may lead to degraded \
             model performance. Additional data, function call `default_api:{name}` , position \
             {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for \
             more details.",
            index + 1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The sentinel that tells Gemini to skip thought-signature validation.
    const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

    #[test]
    fn routes_name_the_model_and_the_stream() {
        assert_eq!(
            route("/v1beta/models/g-1:generateContent"),
            Some(("g-1", false))
        );
        assert_eq!(
            route("/x/v1/models/g:streamGenerateContent"),
            Some(("g", true))
        );
        assert_eq!(route("/v1beta/models/g:embedContent"), None);
        assert_eq!(route("/v1beta/models/a/b:generateContent"), None);
    }

    #[test]
    fn fields_accept_both_spellings() {
        let body = json!({"system_instruction": 1, "generationConfig": 2});
        assert_eq!(field(&body, "systemInstruction"), Some(&json!(1)));
        assert_eq!(field(&body, "generationConfig"), Some(&json!(2)));
        assert_eq!(field(&body, "contents"), None);
    }

    #[test]
    fn only_the_current_turn_needs_signatures() {
        let call = |signature: Option<&str>| {
            let mut part = json!({"functionCall": {"name": "f", "args": {}}});
            if let Some(signature) = signature {
                part["thoughtSignature"] = json!(signature);
            }
            json!({"role": "model", "parts": [part]})
        };
        let user = json!({"role": "user", "parts": [{"text": "hi"}]});
        let result =
            json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]});
        let ok = json!([user, call(None), user, call(Some("c2ln")), result]);
        assert!(check_thought_signatures(Some(&ok)).is_ok());
        let sentinel = json!([user, call(Some(SKIP_SIGNATURE)), result]);
        assert!(check_thought_signatures(Some(&sentinel)).is_ok());
        let missing = json!([user, call(Some("c2ln")), result, call(None), result]);
        assert!(check_thought_signatures(Some(&missing)).is_err());
    }

    #[test]
    fn function_responses_make_a_tool_result_turn() {
        let contents = [
            json!({"role": "user", "parts": [{"text": "weather?"}]}),
            json!({"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]}),
            json!({"role": "user", "parts": [{"function_response": {"name": "w", "response": {"result": "18C"}}}]}),
        ];
        assert_eq!(last_turn(&contents), LastTurn::ToolResult("18C".into()));
        assert_eq!(last_turn(&contents[..1]), LastTurn::Text("weather?".into()));
    }
}
