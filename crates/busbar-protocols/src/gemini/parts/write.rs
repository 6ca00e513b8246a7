//! IR content blocks → Gemini parts.

use std::borrow::Cow;

use busbar_ir::{ContentBlock, ImageSource};
use serde::Serialize;
use serde_json::Value;

use crate::gemini::{is_base64, is_derived_id};
use crate::signature::{for_gemini_client, for_upstream};
use crate::Protocol;

/// A part as Busbar writes it.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(in crate::gemini) struct OutPart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) inline_data: Option<OutBlob<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) file_data: Option<OutFileData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) function_call: Option<OutFunctionCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) function_response: Option<OutFunctionResponse<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) thought_signature: Option<Cow<'a, str>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(in crate::gemini) struct OutBlob<'a> {
    pub(in crate::gemini) mime_type: &'a str,
    pub(in crate::gemini) data: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(in crate::gemini) struct OutFileData<'a> {
    pub(in crate::gemini) mime_type: &'static str,
    pub(in crate::gemini) file_uri: &'a str,
}

#[derive(Debug, Serialize)]
pub(in crate::gemini) struct OutFunctionCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) id: Option<&'a str>,
    pub(in crate::gemini) name: &'a str,
    pub(in crate::gemini) args: Value,
}

#[derive(Debug, Serialize)]
pub(in crate::gemini) struct OutFunctionResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::gemini) id: Option<&'a str>,
    pub(in crate::gemini) name: &'a str,
    pub(in crate::gemini) response: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(in crate::gemini) parts: Vec<OutResponsePart<'a>>,
}

/// Media beside a function's result (Gemini 3).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(in crate::gemini) struct OutResponsePart<'a> {
    pub(in crate::gemini) inline_data: OutBlob<'a>,
}

/// The part for an image: inline bytes, or a URL as `fileData` with a MIME
/// type guessed from the URL's extension (Gemini requires one).
pub(in crate::gemini) fn image_part(source: &ImageSource) -> Option<OutPart<'_>> {
    match source {
        ImageSource::Base64 { media_type, data } => Some(OutPart {
            inline_data: Some(OutBlob {
                mime_type: media_type,
                data,
            }),
            ..OutPart::default()
        }),
        ImageSource::Url { url } => Some(OutPart {
            file_data: Some(OutFileData {
                mime_type: guess_image_type(url),
                file_uri: url,
            }),
            ..OutPart::default()
        }),
        _ => None,
    }
}

/// The image MIME type a URL's extension names; JPEG when it names none.
fn guess_image_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => "image/jpeg",
    }
}

/// Which way a model turn's parts go, which decides what becomes of a
/// signature (see `crate::signature`).
#[derive(Debug, Clone, Copy)]
pub(in crate::gemini) enum Side {
    /// Upstream, for a client of this protocol (when known): derived call
    /// ids are left out and other vendors' signatures dropped.
    Upstream { ingress: Option<Protocol> },
    /// To a Gemini client: derived call ids kept, other vendors' signatures
    /// (marked with their origin) wrapped in base64.
    Client,
}

/// A signature as it may be written for `side`, or `None` (and `signature`
/// named in `dropped`) when it belongs elsewhere or is not valid base64.
pub(in crate::gemini) fn valid_signature<'a>(
    signature: Option<&'a String>,
    side: Side,
    dropped: &mut Vec<&'static str>,
) -> Option<Cow<'a, str>> {
    let signature = signature.filter(|s| !s.is_empty())?;
    let signature = match side {
        Side::Upstream { ingress } => {
            Cow::Borrowed(for_upstream(signature, Protocol::Gemini, ingress)?)
        }
        Side::Client => for_gemini_client(signature),
    };
    if is_base64(&signature) {
        Some(signature)
    } else {
        dropped.push("signature");
        None
    }
}

/// The `args` object for a call's arguments text: `{}` for empty text, and
/// for invalid or non-object text (then named `tool_use.arguments`).
pub(in crate::gemini) fn args_object(arguments: &str, dropped: &mut Vec<&'static str>) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Default::default());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(args @ Value::Object(_)) => args,
        _ => {
            dropped.push("tool_use.arguments");
            Value::Object(Default::default())
        }
    }
}

/// Writes a `model` turn's blocks as parts: text, thinking, calls and images.
/// Calls carry their ids except derived ones going upstream. Tool results
/// and redacted thinking have no place in a model
/// turn and are named in `dropped`.
pub(in crate::gemini) fn model_parts<'a>(
    blocks: &'a [ContentBlock],
    side: Side,
    dropped: &mut Vec<&'static str>,
) -> Vec<OutPart<'a>> {
    let keep_derived_ids = matches!(side, Side::Client);
    let mut parts: Vec<OutPart<'a>> = Vec::with_capacity(blocks.len());
    let mut after_text = false;
    for block in blocks {
        let was_after_text = std::mem::replace(&mut after_text, false);
        match block {
            ContentBlock::Text { text } if text.is_empty() => {}
            ContentBlock::Text { text } => {
                parts.push(OutPart {
                    text: Some(text),
                    ..OutPart::default()
                });
                after_text = true;
            }
            ContentBlock::Thinking { text, signature } => {
                let signature = valid_signature(signature.as_ref(), side, dropped);
                if text.is_empty() && signature.is_some() && was_after_text {
                    if let Some(last) = parts.last_mut() {
                        last.thought_signature = signature;
                        continue;
                    }
                }
                if text.is_empty() && signature.is_none() {
                    continue;
                }
                parts.push(OutPart {
                    text: Some(text),
                    thought: Some(true),
                    thought_signature: signature,
                    ..OutPart::default()
                });
            }
            ContentBlock::ToolUse {
                id,
                name,
                arguments,
                signature,
            } => parts.push(OutPart {
                function_call: Some(OutFunctionCall {
                    id: Some(id.as_str())
                        .filter(|id| !id.is_empty() && (keep_derived_ids || !is_derived_id(id))),
                    name,
                    args: args_object(arguments, dropped),
                }),
                thought_signature: valid_signature(signature.as_ref(), side, dropped),
                ..OutPart::default()
            }),
            ContentBlock::Image { source, detail } => {
                if detail.as_deref().is_some_and(|d| d != "auto") {
                    dropped.push("detail");
                }
                parts.extend(image_part(source));
            }
            ContentBlock::RedactedThinking { .. } => dropped.push("redacted_thinking"),
            ContentBlock::ToolResult { .. } => dropped.push("tool_result"),
            _ => dropped.push("content_block"),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_puts_a_text_signature_back_on_its_text() {
        let blocks = vec![
            ContentBlock::thinking("hmm", Some("c2ln".into())),
            ContentBlock::text("Hi"),
            ContentBlock::thinking("", Some("dGV4dA==".into())),
            ContentBlock::thinking("", Some("bad!".into())),
            ContentBlock::text(""),
            ContentBlock::tool_use("gcall_0_1", "f", "[1]"),
            ContentBlock::RedactedThinking { data: "x".into() },
        ];
        let mut dropped = Vec::new();
        let parts = model_parts(&blocks, Side::Upstream { ingress: None }, &mut dropped);
        assert_eq!(
            serde_json::to_value(&parts).unwrap(),
            serde_json::json!([
                {"text": "hmm", "thought": true, "thoughtSignature": "c2ln"},
                {"text": "Hi", "thoughtSignature": "dGV4dA=="},
                {"functionCall": {"name": "f", "args": {}}}
            ])
        );
        assert_eq!(
            dropped,
            vec!["signature", "tool_use.arguments", "redacted_thinking"]
        );
    }

    #[test]
    fn image_urls_get_a_mime_type_from_their_extension() {
        assert_eq!(guess_image_type("https://x/a.PNG?v=1"), "image/png");
        assert_eq!(guess_image_type("https://x/a.webp#f"), "image/webp");
        assert_eq!(guess_image_type("gs://bucket/a"), "image/jpeg");
    }
}
