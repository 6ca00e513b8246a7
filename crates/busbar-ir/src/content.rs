//! Messages and the content blocks they are made of.

use serde::{Deserialize, Serialize};

/// Who said a message. Tool results are user content, as in Anthropic's and
/// Bedrock's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// The application's instructions. A leading run of system messages is
    /// the system prompt ([`crate::Request::system_prompt`]); a system message
    /// after the first user or assistant turn is a mid-conversation
    /// instruction, kept at its position. Content: text and cache points.
    System,
    /// The caller: prompts and tool results.
    User,
    /// The model: text, thinking and tool calls.
    Assistant,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// Who produced the turn.
    pub role: Role,
    /// The turn's content, in order.
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A message with the given role and blocks.
    pub fn new(role: Role, content: Vec<ContentBlock>) -> Self {
        Self { role, content }
    }

    /// A message holding a single text block.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self::new(role, vec![ContentBlock::text(text)])
    }

    /// The message's text blocks joined with blank lines (empty ones left
    /// out), or `None` when it holds no text.
    pub fn joined_text(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(ContentBlock::as_text)
            .filter(|text| !text.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }
}

/// A piece of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image given inline or by URL.
    Image {
        /// Where the image's bytes are.
        source: ImageSource,
        /// OpenAI's `detail` hint (`low`, `high`, `auto`), when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A call the model makes to a tool.
    ToolUse {
        /// The call's id, unique within the conversation.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments as JSON text, exactly as produced (usually an object).
        arguments: String,
        /// An opaque signature some vendors attach to a call and require back
        /// unchanged (Gemini's `thoughtSignature`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// The result of a tool call, sent back by the caller.
    ToolResult {
        /// The id of the [`ContentBlock::ToolUse`] this answers.
        tool_use_id: String,
        /// The tool's name, when the format carries it (Gemini needs it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// What the tool returned.
        content: Vec<ToolResultContent>,
        /// Whether the tool reported a failure.
        #[serde(default)]
        is_error: bool,
    },
    /// The model's visible reasoning.
    Thinking {
        /// The reasoning text (may be empty when only a signature is carried).
        text: String,
        /// The vendor's signature or encrypted content that must be sent back
        /// unchanged on the next turn.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// Reasoning the vendor returned only in encrypted form.
    RedactedThinking {
        /// The opaque payload.
        data: String,
    },
    /// A prompt-cache breakpoint: the vendor may cache the prompt up to and
    /// including the block before it (Anthropic's `cache_control` on that
    /// block, Bedrock's `cachePoint` block after it).
    CachePoint(CachePoint),
}

/// A prompt-cache breakpoint's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CachePoint {
    /// How long the cached prefix lives (`5m`, `1h`), when the caller said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

impl CachePoint {
    /// A breakpoint with the given time to live (`None`: the vendor's default).
    pub fn new(ttl: Option<String>) -> Self {
        Self { ttl }
    }
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// A tool call with its arguments as JSON text.
    pub fn tool_use(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self::ToolUse {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: None,
        }
    }

    /// A successful tool result holding text.
    pub fn tool_result(tool_use_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self::ToolResult {
            tool_use_id: tool_use_id.into(),
            name: None,
            content: vec![ToolResultContent::Text { text: text.into() }],
            is_error: false,
        }
    }

    /// A thinking block.
    pub fn thinking(text: impl Into<String>, signature: Option<String>) -> Self {
        Self::Thinking {
            text: text.into(),
            signature,
        }
    }

    /// An image block.
    pub fn image(source: ImageSource) -> Self {
        Self::Image {
            source,
            detail: None,
        }
    }

    /// A prompt-cache breakpoint with the vendor's default lifetime.
    pub fn cache_point() -> Self {
        Self::CachePoint(CachePoint::default())
    }

    /// The text of a [`ContentBlock::Text`], if that is what this is.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text { text } => Some(text),
            _ => None,
        }
    }
}

/// Where an image's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ImageSource {
    /// Inline, base64-encoded bytes.
    Base64 {
        /// The MIME type, e.g. `image/png`.
        media_type: String,
        /// The bytes, base64-encoded (standard alphabet, padded).
        data: String,
    },
    /// A URL the vendor fetches itself.
    Url {
        /// The URL.
        url: String,
    },
}

impl ImageSource {
    /// Parses a `data:MEDIA;base64,DATA` URL into inline bytes; any other URL
    /// stays a URL.
    pub fn from_url(url: &str) -> Self {
        if let Some(rest) = url.strip_prefix("data:") {
            if let Some((meta, data)) = rest.split_once(',') {
                if let Some(media_type) = meta.strip_suffix(";base64") {
                    return Self::Base64 {
                        media_type: media_type.to_owned(),
                        data: data.to_owned(),
                    };
                }
            }
        }
        Self::Url {
            url: url.to_owned(),
        }
    }

    /// The source as a URL: a `data:` URL for inline bytes.
    pub fn to_url(&self) -> String {
        match self {
            Self::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
            Self::Url { url } => url.clone(),
        }
    }
}

/// A piece of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolResultContent {
    /// Text (JSON results are carried as their text).
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// Where the image's bytes are.
        source: ImageSource,
    },
}

impl ToolResultContent {
    /// A text piece.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_become_inline_bytes_and_back() {
        let source = ImageSource::from_url("data:image/png;base64,iVBORw0KGgo=");
        assert_eq!(
            source,
            ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            }
        );
        assert_eq!(source.to_url(), "data:image/png;base64,iVBORw0KGgo=");
    }

    #[test]
    fn other_urls_stay_urls() {
        let source = ImageSource::from_url("https://example.com/cat.png");
        assert_eq!(source.to_url(), "https://example.com/cat.png");
        assert!(matches!(source, ImageSource::Url { .. }));
        // A data URL that is not base64 is passed on as a URL, untouched.
        let plain = ImageSource::from_url("data:text/plain,hello");
        assert!(matches!(plain, ImageSource::Url { .. }));
    }
}
