//! [`Request`] → Gemini request body.

use std::borrow::Cow;
use std::collections::HashMap;

use busbar_ir::{
    ContentBlock, ImageSource, Message, Reasoning, Request, ResponseFormat, Role, ThinkingMode,
    Tool, ToolChoice, ToolResultContent,
};
use serde::Serialize;
use serde_json::Value;

use crate::fold::fold_instructions;
use crate::gemini::parts::{
    image_part, model_parts, OutBlob, OutFunctionResponse, OutPart, OutResponsePart, Side,
};
use crate::gemini::{is_derived_id, SKIP_SIGNATURE};
use crate::names::dedup;
use crate::{Encoded, Protocol, RequestOptions};

/// Encodes `request` as a Gemini `generateContent` body. The model and
/// whether to stream go in the URL, which is the server's business, so
/// `options.model` only picks the thinking setting's form (below).
///
/// * Consecutive messages of the same role are merged (parallel calls and
///   their results must each share one turn); tool results go in `user`
///   turns; turns left without parts are skipped, as are empty text blocks.
/// * A call keeps its id unless the id was derived by the decoder, and its
///   thought signature. The first call of each `model` turn without a
///   signature gets [`SKIP_SIGNATURE`], which Google documents for calls it
///   did not sign. Arguments are parsed into `args`; invalid text is `{}`
///   (named `tool_use.arguments`).
/// * A tool result becomes a `functionResponse` named after the result's
///   name, else after the call with its id in the conversation (else
///   `unknown`, named `tool_result.name`). Its texts, joined by newlines,
///   make the `response` object: a JSON object is sent as it is (wrapped as
///   `{"result": …}` when its only key is `result`, `output` or `error`, so
///   it reads back unchanged), a JSON array as `{"result": [...]}`, other
///   text as `{"result": text}`; a failure's content goes under `error`
///   instead. Inline images ride in the response's
///   `parts`; images by URL cannot (named `tool_result.image`).
/// * Tools are sent with `parametersJsonSchema`, which takes JSON Schema as
///   other formats write it (`parameters` takes only Gemini's subset).
/// * `response_format`: JSON object mode and JSON schemas set
///   `responseMimeType: application/json` (with `responseJsonSchema`), text
///   `text/plain`.
/// * Reasoning: off is `thinkingBudget: 0`, adaptive `-1`, a budget is sent
///   as it is; an effort becomes `thinkingLevel`, or, for a `gemini-1`/
///   `gemini-2` model (which lack levels), a budget (`minimal` 512, `low`
///   1024, `medium` 8192, `high`/`xhigh`/`max` 24576). Thinking on asks for
///   the thoughts (`includeThoughts`). An effort of `none` turns thinking
///   off.
/// * Dropped and named: `user`, `parallel_tool_calls: false`, tool `strict`,
///   a `seed` outside 32 bits, image `detail`, redacted thinking, and
///   signatures that are not base64.
pub fn encode(request: &Request, options: &RequestOptions) -> Encoded {
    let mut dropped = Vec::new();
    // No mid-conversation system role: an instruction is folded into the
    // user turn at its position (see `crate::fold`).
    let conversation = fold_instructions(request.conversation(), &mut dropped);
    let body = WireRequest {
        contents: encode_contents(&conversation, options.ingress, &mut dropped),
        system_instruction: encode_system(request.system_prompt(), &mut dropped),
        tools: encode_tools(&request.tools, &mut dropped),
        tool_config: encode_tool_config(request),
        generation_config: encode_generation_config(request, &options.model, &mut dropped),
    };
    if request.user.is_some() {
        dropped.push("user");
    }
    if request.parallel_tool_calls == Some(false) {
        dropped.push("parallel_tool_calls");
    }
    dedup(&mut dropped);
    Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        dropped,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    contents: Vec<OutContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<OutSystem<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<OutToolConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<OutGenerationConfig<'a>>,
}

#[derive(Debug, Serialize)]
struct OutContent<'a> {
    role: &'static str,
    parts: Vec<OutPart<'a>>,
}

#[derive(Debug, Serialize)]
struct OutSystem<'a> {
    parts: Vec<OutPart<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutTool<'a> {
    function_declarations: Vec<OutDeclaration<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutDeclaration<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<&'a Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutToolConfig<'a> {
    function_calling_config: OutCallingConfig<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutCallingConfig<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'a str; 1]>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutGenerationConfig<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<OutThinkingConfig>,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    include_thoughts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_level: Option<&'static str>,
}

fn encode_contents<'a>(
    messages: &'a [Message],
    ingress: Option<Protocol>,
    dropped: &mut Vec<&'static str>,
) -> Vec<OutContent<'a>> {
    let names: HashMap<&str, &str> = messages
        .iter()
        .flat_map(|message| &message.content)
        .filter_map(|block| match block {
            ContentBlock::ToolUse { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    let mut out: Vec<OutContent<'a>> = Vec::with_capacity(messages.len());
    for message in messages {
        let (role, parts) = match message.role {
            Role::Assistant => (
                "model",
                model_parts(&message.content, Side::Upstream { ingress }, dropped),
            ),
            _ => ("user", user_parts(&message.content, &names, dropped)),
        };
        match out.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => out.push(OutContent { role, parts }),
        }
    }
    out.retain(|content| !content.parts.is_empty());
    for content in out.iter_mut().filter(|content| content.role == "model") {
        if let Some(first_call) = content
            .parts
            .iter_mut()
            .find(|part| part.function_call.is_some())
        {
            first_call
                .thought_signature
                .get_or_insert(Cow::Borrowed(SKIP_SIGNATURE));
        }
    }
    out
}

fn user_parts<'a>(
    blocks: &'a [ContentBlock],
    names: &HashMap<&str, &'a str>,
    dropped: &mut Vec<&'static str>,
) -> Vec<OutPart<'a>> {
    let mut parts = Vec::with_capacity(blocks.len());
    for block in blocks {
        match block {
            ContentBlock::Text { text } if text.is_empty() => {}
            ContentBlock::Text { text } => parts.push(OutPart {
                text: Some(text),
                ..OutPart::default()
            }),
            ContentBlock::Image { source, detail } => {
                if detail.as_deref().is_some_and(|d| d != "auto") {
                    dropped.push("detail");
                }
                parts.extend(image_part(source));
            }
            ContentBlock::ToolResult {
                tool_use_id,
                name,
                content,
                is_error,
            } => {
                let name = match name
                    .as_deref()
                    .or_else(|| names.get(tool_use_id.as_str()).copied())
                {
                    Some(name) => name,
                    None => {
                        dropped.push("tool_result.name");
                        "unknown"
                    }
                };
                parts.push(OutPart {
                    function_response: Some(OutFunctionResponse {
                        id: Some(tool_use_id.as_str())
                            .filter(|id| !id.is_empty() && !is_derived_id(id)),
                        name,
                        response: response_object(content, *is_error),
                        parts: response_media(content, dropped),
                    }),
                    ..OutPart::default()
                });
            }
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {
                dropped.push("thinking")
            }
            _ => dropped.push("content_block"),
        }
    }
    parts
}

/// The `response` object for a tool result (see [`encode`]).
pub(in crate::gemini) fn response_object(content: &[ToolResultContent], is_error: bool) -> Value {
    let texts: Vec<&str> = content
        .iter()
        .filter_map(|piece| match piece {
            ToolResultContent::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let text = texts.join("\n");
    let parsed = match serde_json::from_str::<Value>(&text) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => Some(value),
        _ => None,
    };
    let key = if is_error { "error" } else { "result" };
    // A lone `result`, `output` or `error` key would read back as a wrapper.
    let wrapper_like = |object: &serde_json::Map<String, Value>| {
        object.len() == 1
            && object
                .keys()
                .all(|key| matches!(key.as_str(), "result" | "output" | "error"))
    };
    let inner = match parsed {
        Some(Value::Object(object)) if !is_error && !wrapper_like(&object) => {
            return Value::Object(object)
        }
        Some(value) => value,
        None => Value::String(text),
    };
    let mut wrapper = serde_json::Map::with_capacity(1);
    wrapper.insert(key.to_owned(), inner);
    Value::Object(wrapper)
}

fn response_media<'a>(
    content: &'a [ToolResultContent],
    dropped: &mut Vec<&'static str>,
) -> Vec<OutResponsePart<'a>> {
    content
        .iter()
        .filter_map(|piece| match piece {
            ToolResultContent::Image {
                source: ImageSource::Base64 { media_type, data },
            } => Some(OutResponsePart {
                inline_data: OutBlob {
                    mime_type: media_type,
                    data,
                },
            }),
            ToolResultContent::Image { .. } => {
                dropped.push("tool_result.image");
                None
            }
            _ => None,
        })
        .collect()
}

fn encode_system<'a>(
    prompt: &'a [Message],
    dropped: &mut Vec<&'static str>,
) -> Option<OutSystem<'a>> {
    let mut parts = Vec::new();
    for block in prompt.iter().flat_map(|m| &m.content) {
        match block {
            ContentBlock::Text { text } if text.is_empty() => {}
            ContentBlock::Text { text } => parts.push(OutPart {
                text: Some(text),
                ..OutPart::default()
            }),
            ContentBlock::CachePoint(_) => dropped.push("cache_control"),
            _ => dropped.push("content_block"),
        }
    }
    (!parts.is_empty()).then_some(OutSystem { parts })
}

fn encode_tools<'a>(tools: &'a [Tool], dropped: &mut Vec<&'static str>) -> Vec<OutTool<'a>> {
    if tools.is_empty() {
        return Vec::new();
    }
    if tools.iter().any(|tool| tool.strict.is_some()) {
        dropped.push("strict");
    }
    vec![OutTool {
        function_declarations: tools
            .iter()
            .map(|tool| OutDeclaration {
                name: &tool.name,
                description: tool.description.as_deref(),
                parameters_json_schema: Some(&tool.parameters).filter(|p| !p.is_null()),
            })
            .collect(),
    }]
}

/// Gemini refuses a calling mode without declarations.
fn encode_tool_config(request: &Request) -> Option<OutToolConfig<'_>> {
    if request.tools.is_empty() {
        return None;
    }
    let (mode, allowed) = match request.tool_choice.as_ref()? {
        ToolChoice::Required => ("ANY", None),
        ToolChoice::None => ("NONE", None),
        ToolChoice::Tool(name) => ("ANY", Some([name.as_str()])),
        _ => ("AUTO", None),
    };
    Some(OutToolConfig {
        function_calling_config: OutCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    })
}

fn encode_generation_config<'a>(
    request: &'a Request,
    model: &str,
    dropped: &mut Vec<&'static str>,
) -> Option<OutGenerationConfig<'a>> {
    let (response_mime_type, response_json_schema) = match &request.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => (Some("application/json"), Some(schema)),
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::Text) => (Some("text/plain"), None),
        _ => (None, None),
    };
    let seed = request.seed.filter(|seed| {
        let fits = i32::try_from(*seed).is_ok();
        if !fits {
            dropped.push("seed");
        }
        fits
    });
    let config = OutGenerationConfig {
        stop_sequences: &request.stop_sequences,
        response_mime_type,
        response_json_schema,
        max_output_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        top_k: request.top_k,
        seed,
        presence_penalty: request.presence_penalty,
        frequency_penalty: request.frequency_penalty,
        thinking_config: request
            .reasoning
            .as_ref()
            .and_then(|reasoning| encode_thinking(reasoning, model, dropped)),
    };
    let empty = config.stop_sequences.is_empty()
        && config.response_mime_type.is_none()
        && config.max_output_tokens.is_none()
        && config.temperature.is_none()
        && config.top_p.is_none()
        && config.top_k.is_none()
        && config.seed.is_none()
        && config.presence_penalty.is_none()
        && config.frequency_penalty.is_none()
        && config.thinking_config.is_none();
    (!empty).then_some(config)
}

/// `thinkingConfig` for IR reasoning (see [`encode`]).
fn encode_thinking(
    reasoning: &Reasoning,
    model: &str,
    dropped: &mut Vec<&'static str>,
) -> Option<OutThinkingConfig> {
    let on = |budget: Option<i64>, level: Option<&'static str>| OutThinkingConfig {
        include_thoughts: Some(true),
        thinking_budget: budget,
        thinking_level: level,
    };
    let off = OutThinkingConfig {
        thinking_budget: Some(0),
        ..OutThinkingConfig::default()
    };
    Some(match reasoning.mode {
        ThinkingMode::Disabled => off,
        ThinkingMode::Adaptive => on(Some(-1), None),
        _ => match (reasoning.budget_tokens, reasoning.effort.as_deref()) {
            (Some(budget), effort) => {
                if effort.is_some() {
                    dropped.push("reasoning.effort");
                }
                on(Some(i64::try_from(budget).unwrap_or(i64::MAX)), None)
            }
            (None, Some("none")) => off,
            (None, Some(effort)) => {
                let Some((level, budget)) = effort_level(effort) else {
                    dropped.push("reasoning.effort");
                    return Some(on(None, None));
                };
                if has_no_levels(model) {
                    on(Some(budget), None)
                } else {
                    on(None, Some(level))
                }
            }
            (None, None) => on(None, None),
        },
    })
}

/// The `thinkingLevel` for an effort, and the budget standing for it on
/// models without levels.
fn effort_level(effort: &str) -> Option<(&'static str, i64)> {
    Some(match effort.to_ascii_lowercase().as_str() {
        "minimal" => ("MINIMAL", 512),
        "low" => ("LOW", 1024),
        "medium" => ("MEDIUM", 8192),
        "high" | "xhigh" | "max" => ("HIGH", 24576),
        _ => return None,
    })
}

/// Gemini 1.x and 2.x take a thinking budget but reject `thinkingLevel`.
fn has_no_levels(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    name.starts_with("gemini-1") || name.starts_with("gemini-2")
}
