//! A request for a model's reply.

use serde::{Deserialize, Serialize};

use crate::content::{CachePoint, ContentBlock, Message, Role};

/// A request for one model reply, in no vendor's words.
///
/// Optional numbers are `None` when the caller did not set them, so an encoder
/// sends only what was asked for and the vendor's own defaults apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Request {
    /// The model name as the caller gave it (routing may replace it).
    pub model: String,
    /// The conversation so far. It opens with the system prompt, a run of
    /// [`Role::System`] messages (see [`Request::system_prompt`]); a system
    /// message further on is an instruction given at that point.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// How the model must use the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may make several tool calls in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The most tokens the reply may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Penalty on tokens by how often they appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Penalty on tokens that appeared at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Seed for reproducible sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Sequences that end generation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// The shape the reply's text must take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Extended thinking / reasoning settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    /// A key the vendor groups prompt-cache lookups by (OpenAI's
    /// `prompt_cache_key`); formats without one cache by prefix alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// An opaque id of the end user, for the vendor's abuse monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Whether the reply is streamed.
    #[serde(default)]
    pub stream: bool,
    /// Whether a streamed reply must report usage (OpenAI's
    /// `stream_options.include_usage`).
    #[serde(default)]
    pub stream_usage: bool,
}

impl Request {
    /// A request for `model` with the given conversation and nothing else set.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        Self {
            model: model.into(),
            messages,
            ..Self::default()
        }
    }

    /// The system prompt: the leading run of system messages.
    pub fn system_prompt(&self) -> &[Message] {
        &self.messages[..self.system_prompt_len()]
    }

    /// The conversation after the system prompt. It may still hold system
    /// messages: instructions given mid-conversation.
    pub fn conversation(&self) -> &[Message] {
        &self.messages[self.system_prompt_len()..]
    }

    /// The system prompt's text blocks, in order (empty ones left out).
    pub fn system_parts(&self) -> impl Iterator<Item = &str> {
        self.system_prompt()
            .iter()
            .flat_map(|message| &message.content)
            .filter_map(ContentBlock::as_text)
            .filter(|text| !text.is_empty())
    }

    /// The system prompt's text blocks joined with blank lines, or `None`
    /// when there are none.
    pub fn system_text(&self) -> Option<String> {
        let parts: Vec<&str> = self.system_parts().collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    /// Adds a system prompt message holding `text`, after any already there
    /// and before the first user or assistant turn.
    pub fn push_system(&mut self, text: impl Into<String>) {
        let at = self.system_prompt_len();
        self.messages
            .insert(at, Message::text(Role::System, text.into()));
    }

    /// Whether the conversation holds a system message after its first user
    /// or assistant turn.
    pub fn has_mid_conversation_system(&self) -> bool {
        self.conversation()
            .iter()
            .any(|message| message.role == Role::System)
    }

    fn system_prompt_len(&self) -> usize {
        self.messages
            .iter()
            .take_while(|message| message.role == Role::System)
            .count()
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    /// The tool's name.
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the tool's arguments (an object schema).
    pub parameters: serde_json::Value,
    /// OpenAI's strict schema adherence flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// A prompt-cache breakpoint after this tool's definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_point: Option<CachePoint>,
}

impl Tool {
    /// A tool with a name, description and argument schema.
    pub fn new(
        name: impl Into<String>,
        description: Option<String>,
        parameters: serde_json::Value,
    ) -> Self {
        Self {
            name: name.into(),
            description,
            parameters,
            strict: None,
            cache_point: None,
        }
    }
}

/// How the model must use the tools it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must call some tool.
    Required,
    /// The model must not call a tool.
    None,
    /// The model must call this tool.
    Tool(String),
}

/// The shape the reply's text must take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema's name (OpenAI requires one).
        name: String,
        /// The JSON Schema.
        schema: serde_json::Value,
        /// Strict adherence, where the vendor supports it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
        /// A description of the format.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

/// Extended thinking / reasoning settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Reasoning {
    /// Whether thinking is on, off or adaptive.
    pub mode: ThinkingMode,
    /// A token budget for thinking (Anthropic `budget_tokens`, Gemini
    /// `thinkingBudget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u64>,
    /// An effort level (`minimal`, `low`, `medium`, `high`), OpenAI style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

/// Whether the model thinks before answering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ThinkingMode {
    /// Thinking on.
    #[default]
    Enabled,
    /// Thinking off.
    Disabled,
    /// The model decides.
    Adaptive,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Message, Role};

    #[test]
    fn system_parts_join_with_blank_lines() {
        let mut request = Request::new("m", vec![Message::text(Role::User, "hi")]);
        assert_eq!(request.system_text(), None);
        request.push_system("one");
        request.push_system("two");
        assert_eq!(request.system_text().as_deref(), Some("one\n\ntwo"));
        assert_eq!(request.system_prompt().len(), 2);
        assert_eq!(request.conversation().len(), 1);
        assert!(!request.has_mid_conversation_system());
    }

    #[test]
    fn a_system_message_after_a_turn_is_not_the_system_prompt() {
        let mut request = Request::new(
            "m",
            vec![
                Message::text(Role::User, "hi"),
                Message::text(Role::System, "now be terse"),
                Message::text(Role::User, "again"),
            ],
        );
        request.push_system("lead");
        assert_eq!(request.system_text().as_deref(), Some("lead"));
        assert_eq!(request.conversation().len(), 3);
        assert!(request.has_mid_conversation_system());
        assert_eq!(request.messages[0].role, Role::System);
    }

    #[test]
    fn sampling_numbers_survive_serde_exactly() {
        let mut request = Request::new("m", vec![]);
        request.temperature = Some(0.7);
        request.top_p = Some(0.123456789012345);
        let json = serde_json::to_string(&request).unwrap();
        assert!(json.contains("\"temperature\":0.7"), "{json}");
        let back: Request = serde_json::from_str(&json).unwrap();
        assert_eq!(back, request);
    }
}
