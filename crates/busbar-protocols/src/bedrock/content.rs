//! Converse content blocks ⇄ IR content, shared by requests and replies, and
//! the JSON field readers the decoders use.
//!
//! A Converse content block is a union: an object with one member whose name
//! is the block's kind. Kinds the IR has no room for (documents, video,
//! audio, cache points, guard content, search results) decode as nothing;
//! `request::unsupported_fields` names them.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use busbar_ir::{CachePoint, ContentBlock, ImageSource, ToolResultContent};
use serde::Serialize;
use serde_json::{Map, Value};

use super::fields::as_str;
use crate::json::{non_null, object, opt_str, req_str};
use crate::DecodeError;

/// Decodes the content blocks at `path`, skipping kinds the IR does not hold.
pub(super) fn decode_blocks(value: &Value, path: &str) -> Result<Vec<ContentBlock>, DecodeError> {
    let blocks = value
        .as_array()
        .ok_or_else(|| DecodeError::invalid(path, "must be an array of content blocks"))?;
    let mut out = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let block = object(block, &path)?;
        for (kind, value) in block.iter().filter(|(_, value)| !value.is_null()) {
            let path = format!("{path}.{kind}");
            if let Some(decoded) = decode_block(kind, value, &path)? {
                out.extend(decoded);
                break;
            }
        }
    }
    Ok(out)
}

/// One union member as IR blocks, or `None` for a kind the IR lacks.
fn decode_block(
    kind: &str,
    value: &Value,
    path: &str,
) -> Result<Option<Vec<ContentBlock>>, DecodeError> {
    Ok(Some(match kind {
        "text" => vec![ContentBlock::text(as_str(value, path)?)],
        "image" => match decode_image(value, path)? {
            Some(source) => vec![ContentBlock::image(source)],
            None => vec![],
        },
        "toolUse" => {
            let tool_use = object(value, path)?;
            vec![ContentBlock::tool_use(
                req_str(tool_use, path, "toolUseId")?,
                req_str(tool_use, path, "name")?,
                input_text(tool_use.get("input"))?,
            )]
        }
        "toolResult" => vec![decode_tool_result(value, path)?],
        "reasoningContent" => decode_reasoning(value, path)?.into_iter().collect(),
        "cachePoint" => vec![ContentBlock::CachePoint(decode_cache_point(value, path)?)],
        // Text the model wrote with citations: the text is kept, the
        // citations are not (unsupported_fields names them).
        "citationsContent" => {
            let citations = object(value, path)?;
            let mut text = String::new();
            if let Some(Value::Array(pieces)) = non_null(citations.get("content")) {
                for piece in pieces {
                    if let Some(piece) = piece.get("text").and_then(Value::as_str) {
                        text.push_str(piece);
                    }
                }
            }
            vec![ContentBlock::text(text)]
        }
        _ => return Ok(None),
    }))
}

/// A `cachePoint` member (`{"type": "default", "ttl"?}`).
pub(super) fn decode_cache_point(value: &Value, path: &str) -> Result<CachePoint, DecodeError> {
    let point = object(value, path)?;
    Ok(CachePoint::new(
        opt_str(point, path, "ttl")?.map(str::to_owned),
    ))
}

fn decode_tool_result(value: &Value, path: &str) -> Result<ContentBlock, DecodeError> {
    let result = object(value, path)?;
    let mut content = Vec::new();
    if let Some(parts) = non_null(result.get("content")) {
        let parts = parts
            .as_array()
            .ok_or_else(|| DecodeError::invalid(format!("{path}.content"), "must be an array"))?;
        for (k, part) in parts.iter().enumerate() {
            let path = format!("{path}.content[{k}]");
            let part = object(part, &path)?;
            if let Some(text) = non_null(part.get("text")) {
                content.push(ToolResultContent::text(as_str(text, &path)?));
            } else if let Some(json) = non_null(part.get("json")) {
                content.push(ToolResultContent::text(serde_json::to_string(json)?));
            } else if let Some(image) = non_null(part.get("image")) {
                if let Some(source) = decode_image(image, &format!("{path}.image"))? {
                    content.push(ToolResultContent::Image { source });
                }
            }
        }
    }
    Ok(ContentBlock::ToolResult {
        tool_use_id: req_str(result, path, "toolUseId")?.to_owned(),
        name: None,
        content,
        is_error: opt_str(result, path, "status")? == Some("error"),
    })
}

fn decode_reasoning(value: &Value, path: &str) -> Result<Option<ContentBlock>, DecodeError> {
    let reasoning = object(value, path)?;
    if let Some(text) = non_null(reasoning.get("reasoningText")) {
        let path = format!("{path}.reasoningText");
        let text = object(text, &path)?;
        return Ok(Some(ContentBlock::thinking(
            opt_str(text, &path, "text")?.unwrap_or_default(),
            opt_str(text, &path, "signature")?
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        )));
    }
    Ok(
        opt_str(reasoning, path, "redactedContent")?.map(|data| ContentBlock::RedactedThinking {
            data: data.to_owned(),
        }),
    )
}

/// An image's inline bytes, or `None` for an S3 location.
fn decode_image(value: &Value, path: &str) -> Result<Option<ImageSource>, DecodeError> {
    let image = object(value, path)?;
    let format = req_str(image, path, "format")?;
    let source_path = format!("{path}.source");
    let source = object(image.get("source").unwrap_or(&Value::Null), &source_path)?;
    Ok(
        opt_str(source, &source_path, "bytes")?.map(|data| ImageSource::Base64 {
            media_type: format!("image/{format}"),
            data: data.to_owned(),
        }),
    )
}

/// Tool `input` as the IR's arguments text: compact JSON, `{}` when absent.
pub(super) fn input_text(input: Option<&Value>) -> Result<String, DecodeError> {
    match non_null(input) {
        Some(input) => Ok(serde_json::to_string(input)?),
        None => Ok("{}".to_owned()),
    }
}

/// The `input` object for a tool call's arguments text: `{}` for empty
/// text, and for text that is not a JSON object (then named
/// `tool_use.arguments`).
pub(super) fn tool_input(arguments: &str, dropped: &mut Vec<&'static str>) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(input @ Value::Object(_)) => input,
        _ => {
            dropped.push("tool_use.arguments");
            Value::Object(Map::new())
        }
    }
}

/// `data` as a Bedrock blob (base64 in JSON). Bedrock's own opaque data
/// (redacted reasoning) is standard padded base64 and is sent as is; data
/// from another vendor that is not (an OpenAI `encrypted_content`, say)
/// would make botocore and Bedrock fail to decode the blob, so its bytes are
/// base64-encoded instead.
pub(super) fn blob(data: &str) -> Cow<'_, str> {
    if is_base64(data) {
        Cow::Borrowed(data)
    } else {
        Cow::Owned(STANDARD.encode(data))
    }
}

/// Whether `text` is standard base64 with padding, as botocore decodes it.
fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let body = text.trim_end_matches('=');
    bytes.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Bedrock's image `format` for a MIME type, if it takes that type.
pub(super) fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type.to_ascii_lowercase().as_str() {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// A content block as Converse writes it, in requests and replies.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum OutBlock<'a> {
    Text(&'a str),
    Image(OutImage<'a>),
    ToolUse(OutToolUse<'a>),
    ToolResult(OutToolResult<'a>),
    ReasoningContent(OutReasoning<'a>),
    CachePoint(OutCachePoint<'a>),
}

/// `{"type": "default", "ttl"?}`: Bedrock's one cache point kind.
#[derive(Debug, Serialize)]
pub(super) struct OutCachePoint<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ttl: Option<&'a str>,
}

impl<'a> OutCachePoint<'a> {
    pub(super) fn new(point: &'a CachePoint) -> Self {
        Self {
            kind: "default",
            ttl: point.ttl.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct OutImage<'a> {
    pub(super) format: &'static str,
    pub(super) source: OutImageSource<'a>,
}

#[derive(Debug, Serialize)]
pub(super) struct OutImageSource<'a> {
    pub(super) bytes: &'a str,
}

impl<'a> OutImage<'a> {
    /// The image block for inline bytes of a type Bedrock takes.
    pub(super) fn new(source: &'a ImageSource) -> Option<Self> {
        match source {
            ImageSource::Base64 { media_type, data } => Some(Self {
                format: image_format(media_type)?,
                source: OutImageSource { bytes: data },
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutToolUse<'a> {
    pub(super) tool_use_id: Cow<'a, str>,
    pub(super) name: Cow<'a, str>,
    pub(super) input: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutToolResult<'a> {
    pub(super) tool_use_id: Cow<'a, str>,
    pub(super) content: Vec<OutResultPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum OutResultPart<'a> {
    Text(&'a str),
    Image(OutImage<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum OutReasoning<'a> {
    ReasoningText {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<&'a str>,
    },
    RedactedContent(Cow<'a, str>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(blocks: Value) -> Vec<ContentBlock> {
        decode_blocks(&blocks, "content").unwrap()
    }

    #[test]
    fn every_block_kind_the_ir_holds_decodes() {
        let blocks = decode(json!([
            {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "sig"}}},
            {"reasoningContent": {"redactedContent": "ZW5jcnlwdGVk"}},
            {"text": "Look:"},
            {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"b": 1, "a": [true]}}},
            {"toolResult": {"toolUseId": "tooluse_1", "status": "error", "content": [
                {"text": "bad"}, {"json": {"code": 7}},
                {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}},
                {"document": {"name": "d", "format": "txt", "source": {"bytes": "eA=="}}}
            ]}},
            {"citationsContent": {"content": [{"text": "Cited "}, {"text": "text."}], "citations": []}}
        ]));
        assert_eq!(
            blocks,
            vec![
                ContentBlock::thinking("Hmm.", Some("sig".into())),
                ContentBlock::RedactedThinking {
                    data: "ZW5jcnlwdGVk".into()
                },
                ContentBlock::text("Look:"),
                ContentBlock::image(ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into()
                }),
                ContentBlock::tool_use("tooluse_1", "f", r#"{"b":1,"a":[true]}"#),
                ContentBlock::ToolResult {
                    tool_use_id: "tooluse_1".into(),
                    name: None,
                    content: vec![
                        ToolResultContent::text("bad"),
                        ToolResultContent::text(r#"{"code":7}"#),
                        ToolResultContent::Image {
                            source: ImageSource::Base64 {
                                media_type: "image/jpeg".into(),
                                data: "/9j/".into()
                            }
                        },
                    ],
                    is_error: true,
                },
                ContentBlock::text("Cited text."),
            ]
        );
    }

    #[test]
    fn kinds_the_ir_lacks_are_skipped() {
        let blocks = decode(json!([
            {"document": {"name": "d", "format": "pdf", "source": {"bytes": "JVBERi0="}}},
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k.png"}}}},
            {"video": {"format": "mp4", "source": {"bytes": "AAAA"}}},
            {"guardContent": {"text": {"text": "x"}}},
            {"toolUse": {"toolUseId": "t", "name": "f"}}
        ]));
        assert_eq!(blocks, vec![ContentBlock::tool_use("t", "f", "{}")]);
    }

    #[test]
    fn cache_points_are_carried_with_their_ttl() {
        let blocks = decode(json!([
            {"text": "x"},
            {"cachePoint": {"type": "default", "ttl": "1h"}}
        ]));
        assert_eq!(
            blocks,
            vec![
                ContentBlock::text("x"),
                ContentBlock::CachePoint(CachePoint::new(Some("1h".into())))
            ]
        );
    }

    #[test]
    fn malformed_blocks_name_their_path() {
        for (blocks, field) in [
            (json!({"text": "x"}), "content"),
            (json!(["x"]), "content[0]"),
            (json!([{"text": 1}]), "content[0].text"),
            (
                json!([{"toolUse": {"name": "f"}}]),
                "content[0].toolUse.toolUseId",
            ),
            (
                json!([{"image": {"source": {}}}]),
                "content[0].image.format",
            ),
            (
                json!([{"toolResult": {"toolUseId": "t", "content": "no"}}]),
                "content[0].toolResult.content",
            ),
        ] {
            let error = decode_blocks(&blocks, "content").unwrap_err();
            assert_eq!(error.param(), Some(field), "{blocks}");
        }
    }

    #[test]
    fn blocks_encode_as_single_member_unions() {
        let source = ImageSource::Base64 {
            media_type: "image/jpeg".into(),
            data: "/9j/".into(),
        };
        let blocks = vec![
            OutBlock::Text("hi"),
            OutBlock::Image(OutImage::new(&source).unwrap()),
            OutBlock::ReasoningContent(OutReasoning::ReasoningText {
                text: "t",
                signature: None,
            }),
            OutBlock::ReasoningContent(OutReasoning::RedactedContent(blob("cg=="))),
        ];
        assert_eq!(
            serde_json::to_value(&blocks).unwrap(),
            json!([
                {"text": "hi"},
                {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}},
                {"reasoningContent": {"reasoningText": {"text": "t"}}},
                {"reasoningContent": {"redactedContent": "cg=="}}
            ])
        );
    }

    #[test]
    fn blobs_are_valid_base64() {
        for valid in ["", "cg==", "cmVk", "YWI=", "EmwKAhgB+/9z"] {
            assert!(matches!(blob(valid), Cow::Borrowed(_)), "{valid}");
        }
        for (invalid, encoded) in [
            ("abc", "YWJj"),
            ("ab", "YWI="),
            ("a", "YQ=="),
            ("gAAAAABn-_x", "Z0FBQUFBQm4tX3g="),
            ("cg===", "Y2c9PT0="),
            ("c=g=", "Yz1nPQ=="),
            ("ünï", "w7xuw68="),
        ] {
            assert_eq!(blob(invalid), encoded, "{invalid}");
        }
    }

    #[test]
    fn image_formats_are_bedrocks_four() {
        assert_eq!(image_format("image/PNG"), Some("png"));
        assert_eq!(image_format("image/jpg"), Some("jpeg"));
        assert_eq!(image_format("image/gif"), Some("gif"));
        assert_eq!(image_format("image/webp"), Some("webp"));
        assert_eq!(image_format("image/heic"), None);
        let url = ImageSource::Url {
            url: "https://x/y.png".into(),
        };
        assert!(OutImage::new(&url).is_none());
    }

    #[test]
    fn tool_input_is_an_object_or_empty() {
        let mut dropped = Vec::new();
        assert_eq!(tool_input(" ", &mut dropped), json!({}));
        assert_eq!(tool_input(r#"{"a":1}"#, &mut dropped), json!({"a": 1}));
        assert!(dropped.is_empty());
        assert_eq!(tool_input("[1]", &mut dropped), json!({}));
        assert_eq!(tool_input("{oops", &mut dropped), json!({}));
        assert_eq!(dropped, vec!["tool_use.arguments", "tool_use.arguments"]);
        assert_eq!(input_text(None).unwrap(), "{}");
        assert_eq!(input_text(Some(&json!(null))).unwrap(), "{}");
    }
}
