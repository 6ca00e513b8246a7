//! What a cloud platform changes in a request body the lane's protocol
//! encoded (or a client sent, on a same-protocol hop): Claude on Vertex AI
//! takes its model in the URL and an `anthropic_version` in the body;
//! Gemini's `countTokens` on Vertex takes the request's fields at the top
//! level, not wrapped in `generateContentRequest`.

use serde_json::{Map, Value};

/// The `anthropic_version` Vertex AI's Claude documents.
pub(crate) const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// The fields of Vertex's `CountTokensRequest` that a Gemini request has.
const VERTEX_COUNT_FIELDS: [&str; 4] =
    ["contents", "systemInstruction", "tools", "generationConfig"];

/// How a lane's bodies are rewritten for its platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// Claude on Vertex AI.
    VertexAnthropic,
    /// Gemini on Vertex AI.
    VertexGemini,
}

impl Rewrite {
    /// The body to send; `count` for the token-counting endpoint. A body
    /// that is not a JSON object goes as it is, for the upstream to refuse.
    pub(crate) fn body(self, body: Vec<u8>, count: bool) -> Vec<u8> {
        if self == Rewrite::VertexGemini && !count {
            return body;
        }
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        match self {
            Rewrite::VertexAnthropic => {
                // count-tokens:rawPredict is one endpoint for every model, so
                // there the model stays in the body.
                if !count {
                    object.remove("model");
                }
                object
                    .entry("anthropic_version")
                    .or_insert_with(|| Value::from(VERTEX_ANTHROPIC_VERSION));
            }
            Rewrite::VertexGemini => {
                if let Some(Value::Object(inner)) = object.remove("generateContentRequest") {
                    object = inner;
                }
                object = VERTEX_COUNT_FIELDS
                    .iter()
                    .filter_map(|key| object.remove(*key).map(|value| ((*key).to_owned(), value)))
                    .collect::<Map<_, _>>();
            }
        }
        serde_json::to_vec(&Value::Object(object)).unwrap_or(body)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rewrite(rewrite: Rewrite, body: Value, count: bool) -> Value {
        serde_json::from_slice(&rewrite.body(body.to_string().into_bytes(), count)).unwrap()
    }

    #[test]
    fn claude_on_vertex_moves_the_model_to_the_url_and_names_its_version() {
        let body = json!({"model": "claude-x", "max_tokens": 5, "stream": true, "messages": []});
        assert_eq!(
            rewrite(Rewrite::VertexAnthropic, body.clone(), false),
            json!({"max_tokens": 5, "stream": true, "messages": [], "anthropic_version": "vertex-2023-10-16"})
        );
        assert_eq!(
            rewrite(Rewrite::VertexAnthropic, body, true)["model"],
            "claude-x"
        );
        // A client's own version is kept.
        let versioned = json!({"model": "m", "anthropic_version": "2026-10-21"});
        assert_eq!(
            rewrite(Rewrite::VertexAnthropic, versioned, false),
            json!({"anthropic_version": "2026-10-21"})
        );
    }

    #[test]
    fn gemini_counts_on_vertex_unwrapped() {
        let body = json!({"generateContentRequest": {
            "model": "models/g", "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "safetySettings": []
        }});
        assert_eq!(
            rewrite(Rewrite::VertexGemini, body, true),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        );
        let generation = br#"{"contents":[]}"#.to_vec();
        assert_eq!(
            Rewrite::VertexGemini.body(generation.clone(), false),
            generation
        );
        assert_eq!(
            Rewrite::VertexAnthropic.body(b"[1]".to_vec(), false),
            b"[1]"
        );
    }
}
