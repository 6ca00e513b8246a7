//! The content blocks of a Messages request as `anthropic` 2.17's `ContentBlockParam` union
//! types them — text, image, document, search result, thinking, tool use and result, the
//! server-tool blocks by type — with `cache_control` (`ephemeral`, `ttl` `5m` or `1h`) wherever a
//! block may carry one.

use serde_json::Value;

use super::request::optional;
use crate::check::{self, each, one_of, opt, req, tag, Fault, Kind, Problem, Table};

const CACHE_CONTROL: Table = &[
    ("type", tag(&["ephemeral"])),
    ("ttl", one_of(&["5m", "1h"])),
];

/// Block types of a user or assistant message (`ContentBlockParam` and the beta additions).
const BLOCK_TYPES: &[&str] = &[
    "text",
    "image",
    "document",
    "search_result",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "tool_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "container_upload",
    "mcp_tool_use",
    "mcp_tool_result",
    "compaction",
];

/// Block types a `tool_result` may hold.
const RESULT_BLOCK_TYPES: &[&str] = &[
    "text",
    "image",
    "search_result",
    "document",
    "tool_reference",
    "browser_state",
];

const TEXT: Table = &[
    ("type", tag(&["text"])),
    ("text", req(Kind::Str)),
    ("cache_control", opt(Kind::Obj)),
    ("citations", opt(Kind::Arr)),
];
const IMAGE: Table = &[
    ("type", tag(&["image"])),
    ("source", req(Kind::Obj)),
    ("cache_control", opt(Kind::Obj)),
    ("transformations", opt(Kind::Obj)),
];
const DOCUMENT: Table = &[
    ("type", tag(&["document"])),
    ("source", req(Kind::Obj)),
    ("cache_control", opt(Kind::Obj)),
    ("citations", opt(Kind::Obj)),
    ("context", opt(Kind::Str)),
    ("title", opt(Kind::Str)),
];
const SEARCH_RESULT: Table = &[
    ("type", tag(&["search_result"])),
    ("content", req(Kind::Arr)),
    ("source", req(Kind::Str)),
    ("title", req(Kind::Str)),
    ("cache_control", opt(Kind::Obj)),
    ("citations", opt(Kind::Obj)),
];
const THINKING: Table = &[
    ("type", tag(&["thinking"])),
    ("thinking", req(Kind::Str)),
    ("signature", req(Kind::Str)),
];
const REDACTED_THINKING: Table = &[
    ("type", tag(&["redacted_thinking"])),
    ("data", req(Kind::Str)),
];
const TOOL_USE: Table = &[
    ("type", tag(&["tool_use"])),
    ("id", req(Kind::Str)),
    ("name", req(Kind::Str)),
    ("input", req(Kind::Obj)),
    ("cache_control", opt(Kind::Obj)),
    ("caller", opt(Kind::Obj)),
    ("toolset_name", opt(Kind::Str)),
];
const TOOL_RESULT: Table = &[
    ("type", tag(&["tool_result"])),
    ("tool_use_id", req(Kind::Str)),
    ("content", opt(Kind::StrOrArr)),
    ("is_error", opt(Kind::Bool)),
    ("cache_control", opt(Kind::Obj)),
    ("toolset_name", opt(Kind::Str)),
];
const TOOL_REFERENCE: Table = &[
    ("type", tag(&["tool_reference"])),
    ("tool_name", req(Kind::Str)),
    ("cache_control", opt(Kind::Obj)),
];
/// Blocks whose inner shape the mock leaves to the API (server-tool results and the like).
const TYPE_ONLY: Table = &[("type", req(Kind::Str))];

const IMAGE_SOURCE_TYPES: &[&str] = &["base64", "url", "file"];
const DOCUMENT_SOURCE_TYPES: &[&str] = &["base64", "text", "content", "url", "file"];
const IMAGE_MEDIA_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

pub(super) fn cache_control(value: &Value) -> Result<(), Problem> {
    check::object(value, CACHE_CONTROL, true)
}

pub(super) fn system(value: Option<&Value>) -> Result<(), Problem> {
    each(value, |b| {
        check::tagged(b, "type", &["text"], |_| Some((TEXT, true)))?;
        optional(b, "cache_control", cache_control)
    })
}

pub(super) fn block(value: &Value) -> Result<(), Problem> {
    check::tagged(value, "type", BLOCK_TYPES, |kind| {
        let table = match kind {
            "text" => TEXT,
            "image" => IMAGE,
            "document" => DOCUMENT,
            "search_result" => SEARCH_RESULT,
            "thinking" => THINKING,
            "redacted_thinking" => REDACTED_THINKING,
            "tool_use" => TOOL_USE,
            "tool_result" => TOOL_RESULT,
            other if BLOCK_TYPES.contains(&other) => return Some((TYPE_ONLY, false)),
            _ => return None,
        };
        Some((table, true))
    })?;
    optional(value, "cache_control", cache_control)?;
    match value["type"].as_str() {
        Some("image") => optional(value, "source", image_source),
        Some("document") => optional(value, "source", document_source),
        Some("search_result") => each(value.get("content"), |b| {
            check::tagged(b, "type", &["text"], |_| Some((TEXT, true)))
        })
        .map_err(|p| p.under("content")),
        Some("tool_result") => {
            each(value.get("content"), result_block).map_err(|p| p.under("content"))
        }
        _ => Ok(()),
    }
}

fn result_block(value: &Value) -> Result<(), Problem> {
    match value.get("type").and_then(Value::as_str) {
        Some("tool_reference") => {
            check::object(value, TOOL_REFERENCE, true)?;
            optional(value, "cache_control", cache_control)
        }
        Some("browser_state") => Ok(()),
        Some(kind) if !RESULT_BLOCK_TYPES.contains(&kind) => {
            let problem = Problem::new(Fault::Enum(RESULT_BLOCK_TYPES, kind.to_owned()));
            Err(problem.under("type"))
        }
        _ => block(value),
    }
}

fn image_source(value: &Value) -> Result<(), Problem> {
    check::tagged(value, "type", IMAGE_SOURCE_TYPES, |kind| match kind {
        "base64" => Some((
            const {
                &[
                    ("type", tag(&["base64"])),
                    ("media_type", tag(IMAGE_MEDIA_TYPES)),
                    ("data", req(Kind::Str)),
                ]
            },
            true,
        )),
        "url" => Some((
            const { &[("type", tag(&["url"])), ("url", req(Kind::Str))] },
            true,
        )),
        "file" => Some((
            const { &[("type", tag(&["file"])), ("file_id", req(Kind::Str))] },
            true,
        )),
        _ => None,
    })
}

fn document_source(value: &Value) -> Result<(), Problem> {
    check::tagged(value, "type", DOCUMENT_SOURCE_TYPES, |kind| match kind {
        "base64" => Some((
            const {
                &[
                    ("type", tag(&["base64"])),
                    ("media_type", tag(&["application/pdf"])),
                    ("data", req(Kind::Str)),
                ]
            },
            true,
        )),
        "text" => Some((
            const {
                &[
                    ("type", tag(&["text"])),
                    ("media_type", tag(&["text/plain"])),
                    ("data", req(Kind::Str)),
                ]
            },
            true,
        )),
        "content" => Some((
            const {
                &[
                    ("type", tag(&["content"])),
                    ("content", req(Kind::StrOrArr)),
                ]
            },
            true,
        )),
        "url" => Some((
            const { &[("type", tag(&["url"])), ("url", req(Kind::Str))] },
            true,
        )),
        "file" => Some((
            const { &[("type", tag(&["file"])), ("file_id", req(Kind::Str))] },
            true,
        )),
        _ => None,
    })
}
