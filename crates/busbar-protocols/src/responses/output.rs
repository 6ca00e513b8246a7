//! The `response` object and its output items as Busbar writes them for a
//! client. The complete reply and the stream (whose `response.created` and
//! `response.completed` events carry the object) share these, so both give
//! the same items the same ids.
//!
//! The object has every field the OpenAPI description marks required. What
//! only the request knew (tools, sampling numbers, instructions) is not in
//! the IR reply, so those fields hold the API's defaults.

use std::borrow::Cow;

use busbar_ir::{ContentBlock, Usage};
use serde::Serialize;

use super::error::ResponseErrorOut;
use super::{
    item_id, parse_signature, split_namespace, UsageOut, INVENTED_REDACTED, INVENTED_THINKING,
};
use crate::names::push_once;

/// A `response` object.
#[derive(Debug, Serialize)]
pub(super) struct ResponseOut<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    error: Option<ResponseErrorOut<'a>>,
    incomplete_details: Option<IncompleteOut>,
    instructions: Option<()>,
    max_output_tokens: Option<()>,
    model: &'a str,
    output: &'a [ItemOut<'a>],
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    temperature: Option<()>,
    tool_choice: &'static str,
    tools: [(); 0],
    top_p: Option<()>,
    metadata: Empty,
    /// Left out until known: the description types it non-nullable, the SDK
    /// lets it be absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

/// The facts every rendering of one response shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header<'a> {
    /// The response id as the client sees it (never empty).
    pub(super) id: &'a str,
    pub(super) model: &'a str,
    pub(super) created_at: u64,
}

impl<'a> ResponseOut<'a> {
    /// The object with `status` (and, when incomplete, the reason), the
    /// items so far and the usage when known.
    pub(super) fn new(
        header: Header<'a>,
        (status, incomplete): (&'static str, Option<&'static str>),
        output: &'a [ItemOut<'a>],
        usage: Option<&Usage>,
    ) -> Self {
        Self {
            id: header.id,
            object: "response",
            created_at: header.created_at,
            status,
            error: None,
            incomplete_details: incomplete.map(|reason| IncompleteOut { reason }),
            instructions: None,
            max_output_tokens: None,
            model: header.model,
            output,
            parallel_tool_calls: true,
            previous_response_id: None,
            temperature: None,
            tool_choice: "auto",
            tools: [],
            top_p: None,
            metadata: Empty {},
            usage: usage.map(UsageOut::from),
        }
    }

    /// The same object reporting that the response failed.
    pub(super) fn with_error(mut self, error: ResponseErrorOut<'a>) -> Self {
        self.error = Some(error);
        self
    }
}

#[derive(Debug, Serialize)]
struct IncompleteOut {
    reason: &'static str,
}

/// `{}`: a response's `metadata` when none was set.
#[derive(Debug, Serialize)]
struct Empty {}

/// An output item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ItemOut<'a> {
    Reasoning {
        id: Cow<'a, str>,
        summary: Vec<SummaryOut<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<Cow<'a, str>>,
    },
    Message {
        id: Cow<'a, str>,
        status: &'static str,
        role: &'static str,
        content: Vec<TextOut<'a>>,
    },
    FunctionCall {
        id: Cow<'a, str>,
        call_id: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<Cow<'a, str>>,
        name: Cow<'a, str>,
        arguments: Cow<'a, str>,
        status: &'static str,
    },
}

impl<'a> ItemOut<'a> {
    /// An assistant message.
    pub(super) fn message(
        id: impl Into<Cow<'a, str>>,
        status: &'static str,
        content: Vec<TextOut<'a>>,
    ) -> Self {
        Self::Message {
            id: id.into(),
            status,
            role: "assistant",
            content,
        }
    }

    /// A function call; `name` names its namespace when it starts with one
    /// of `namespaces` (see the module docs).
    pub(super) fn call(
        id: impl Into<Cow<'a, str>>,
        call_id: &'a str,
        (name, namespaces): (&'a str, &[String]),
        arguments: &'a str,
        status: &'static str,
    ) -> Self {
        let (namespace, name) = split_namespace(namespaces, name);
        Self::FunctionCall {
            id: id.into(),
            call_id: call_id.into(),
            namespace: namespace.map(Cow::Borrowed),
            name: name.into(),
            arguments: arguments.into(),
            status,
        }
    }

    /// A reasoning item with its summary text as one part.
    pub(super) fn reasoning(
        id: impl Into<Cow<'a, str>>,
        text: &'a str,
        encrypted: Option<&'a str>,
    ) -> Self {
        Self::Reasoning {
            id: id.into(),
            summary: summary(text),
            encrypted_content: encrypted.map(Cow::Borrowed),
        }
    }

    /// The same item owning its strings, to outlive the IR it came from.
    pub(super) fn into_owned(self) -> ItemOut<'static> {
        let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        match self {
            Self::Reasoning {
                id,
                summary,
                encrypted_content,
            } => ItemOut::Reasoning {
                id: own(id),
                summary: summary
                    .into_iter()
                    .map(|part| SummaryOut::new(part.text.into_owned()))
                    .collect(),
                encrypted_content: encrypted_content.map(own),
            },
            Self::Message {
                id,
                status,
                role,
                content,
            } => ItemOut::Message {
                id: own(id),
                status,
                role,
                content: content
                    .into_iter()
                    .map(|part| TextOut::new(part.text.into_owned()))
                    .collect(),
            },
            Self::FunctionCall {
                id,
                call_id,
                namespace,
                name,
                arguments,
                status,
            } => ItemOut::FunctionCall {
                id: own(id),
                call_id: own(call_id),
                namespace: namespace.map(own),
                name: own(name),
                arguments: own(arguments),
                status,
            },
        }
    }
}

/// An `output_text` content part.
#[derive(Debug, Clone, Serialize)]
pub(super) struct TextOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: Cow<'a, str>,
    annotations: [(); 0],
    logprobs: [(); 0],
}

impl<'a> TextOut<'a> {
    pub(super) fn new(text: impl Into<Cow<'a, str>>) -> Self {
        Self {
            kind: "output_text",
            text: text.into(),
            annotations: [],
            logprobs: [],
        }
    }
}

/// A `summary_text` part of a reasoning item.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SummaryOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: Cow<'a, str>,
}

impl<'a> SummaryOut<'a> {
    pub(super) fn new(text: impl Into<Cow<'a, str>>) -> Self {
        Self {
            kind: "summary_text",
            text: text.into(),
        }
    }
}

/// A reasoning summary: one part, or none for empty text.
pub(super) fn summary(text: &str) -> Vec<SummaryOut<'_>> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![SummaryOut::new(text)]
    }
}

/// The id and encrypted content of the reasoning item for a thinking block
/// at `index`: those its signature carries when it came from Responses,
/// else an invented id with the signature itself as encrypted content.
pub(super) fn reasoning_parts<'a>(
    signature: Option<&'a str>,
    response_id: &str,
    index: usize,
) -> (Cow<'a, str>, Option<&'a str>) {
    match signature.and_then(parse_signature) {
        Some((id, encrypted)) => (Cow::Borrowed(id), encrypted),
        None => (
            Cow::Owned(item_id(INVENTED_THINKING, response_id, index)),
            signature,
        ),
    }
}

/// The output items of a complete reply. Images and tool results cannot be
/// model output and are named in `dropped`.
pub(super) fn items<'a>(
    content: &'a [ContentBlock],
    response_id: &str,
    namespaces: &[String],
    dropped: &mut Vec<&'static str>,
) -> Vec<ItemOut<'a>> {
    let mut items = Vec::with_capacity(content.len());
    for block in content {
        let index = items.len();
        let item = match block {
            ContentBlock::Text { text } => ItemOut::message(
                item_id("msg_", response_id, index),
                "completed",
                vec![TextOut::new(text.as_str())],
            ),
            ContentBlock::ToolUse {
                id,
                name,
                arguments,
                ..
            } => ItemOut::call(
                item_id("fc_", response_id, index),
                id,
                (name, namespaces),
                arguments,
                "completed",
            ),
            ContentBlock::Thinking { text, signature } => {
                let (id, encrypted) = reasoning_parts(signature.as_deref(), response_id, index);
                ItemOut::reasoning(id, text, encrypted)
            }
            ContentBlock::RedactedThinking { data } => ItemOut::reasoning(
                item_id(INVENTED_REDACTED, response_id, index),
                "",
                Some(data),
            ),
            ContentBlock::Image { .. } => {
                push_once(dropped, "image");
                continue;
            }
            _ => {
                push_once(dropped, "content");
                continue;
            }
        };
        items.push(item);
    }
    items
}
