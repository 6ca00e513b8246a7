//! Reading only what routing needs from a request body, and rewriting the
//! model name of a body relayed to an upstream of the same protocol.
//!
//! The fast path never builds a JSON tree: the top-level object is read as
//! a list of `(key, raw value)` pairs borrowed from the body, so the values
//! Busbar does not touch are copied out byte for byte.

use std::borrow::Cow;
use std::fmt;

use busbar_protocols::{DecodeError, Protocol};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The top-level fields of a JSON object body, borrowed.
pub(crate) struct Peeked<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Peeked<'a> {
    /// Splits `body` into its top-level fields; fails unless it is a JSON
    /// object.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let fields = deserializer.deserialize_map(FieldsVisitor)?;
        deserializer.end()?;
        Ok(Self { fields })
    }

    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    }

    /// The `model` field, when it is a string.
    pub(crate) fn model(&self) -> Result<Option<String>, DecodeError> {
        match self.get("model") {
            None => Ok(None),
            Some(raw) if raw.get() == "null" => Ok(None),
            Some(raw) => serde_json::from_str::<String>(raw.get())
                .map(Some)
                .map_err(|_| DecodeError::invalid("model", "must be a string")),
        }
    }

    /// Whether `stream` is `true`.
    pub(crate) fn stream(&self) -> bool {
        self.get("stream").is_some_and(|raw| raw.get() == "true")
    }

    /// The reply's token cap as the request states it, for governance's
    /// worst-case estimate: the first of the fields the protocol names it
    /// with that holds a whole number.
    pub(crate) fn max_tokens(&self, protocol: Protocol) -> Option<u64> {
        protocol
            .wire()
            .max_tokens_fields()
            .iter()
            .find_map(|path| self.lookup(path)?.as_u64())
    }

    /// How many alternative replies the request asks for (OpenAI Chat's
    /// `n`, Gemini's `candidateCount`), for governance's worst case: the
    /// first of the fields the protocol names it with that holds a whole
    /// number, else 1. A count of 0 is read as 1: the vendor refuses it,
    /// and a reservation of nothing would not hold the request.
    pub(crate) fn choice_count(&self, protocol: Protocol) -> u64 {
        protocol
            .wire()
            .choice_count_fields()
            .iter()
            .find_map(|path| self.lookup(path)?.as_u64())
            .unwrap_or(1)
            .max(1)
    }

    /// Whether the client opted in to usage in its stream, for a protocol
    /// whose streams carry usage only when asked (OpenAI Chat's
    /// `stream_options.include_usage: true`).
    pub(crate) fn stream_usage(&self, protocol: Protocol) -> bool {
        protocol
            .wire()
            .stream_usage_flag()
            .and_then(|path| self.lookup(path))
            .is_some_and(|value| value.as_bool() == Some(true))
    }

    /// The value at a path of object keys, parsing only the top-level field
    /// it starts in.
    fn lookup(&self, path: &[&str]) -> Option<serde_json::Value> {
        let (first, rest) = path.split_first()?;
        let mut value: serde_json::Value = serde_json::from_str(self.get(first)?.get()).ok()?;
        for key in rest {
            value = value.as_object_mut()?.remove(*key)?;
        }
        Some(value)
    }

    /// The body again with `model` set to `model` (added first when absent),
    /// the fields named in `leave_out` left out, every other field copied
    /// verbatim.
    pub(crate) fn with_model(&self, model: &str, leave_out: &[&str]) -> Vec<u8> {
        let size: usize = self
            .fields
            .iter()
            .map(|(key, value)| key.len() + value.get().len() + 4)
            .sum();
        let mut out = Vec::with_capacity(size + model.len() + 16);
        out.push(b'{');
        let model_json = serde_json::to_string(model).expect("a string serializes");
        let mut wrote_model = false;
        let mut first = true;
        let mut field = |out: &mut Vec<u8>, key: &str, value: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(
                serde_json::to_string(key)
                    .expect("a string serializes")
                    .as_bytes(),
            );
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        };
        if self.get("model").is_none() {
            field(&mut out, "model", &model_json);
            wrote_model = true;
        }
        for (key, value) in &self.fields {
            if leave_out.contains(&key.as_ref()) {
                continue;
            }
            if key == "model" {
                if !wrote_model {
                    field(&mut out, "model", &model_json);
                    wrote_model = true;
                }
            } else {
                field(&mut out, key, value.get());
            }
        }
        out.push(b'}');
        out
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            fields.push((key.0, map.next_value()?));
        }
        Ok(fields)
    }
}

/// A key borrowed from the body unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_and_stream() {
        let peeked = Peeked::parse(br#"{"model":"smart","stream":true,"messages":[]}"#).unwrap();
        assert_eq!(peeked.model().unwrap().as_deref(), Some("smart"));
        assert!(peeked.stream());
        let peeked = Peeked::parse(br#"{"stream":false}"#).unwrap();
        assert_eq!(peeked.model().unwrap(), None);
        assert!(!peeked.stream());
    }

    #[test]
    fn reads_each_protocols_token_cap() {
        let cap = |body: &[u8], protocol| Peeked::parse(body).unwrap().max_tokens(protocol);
        assert_eq!(cap(br#"{"max_tokens":5}"#, Protocol::OpenAi), Some(5));
        assert_eq!(
            cap(
                br#"{"max_tokens":5,"max_completion_tokens":7}"#,
                Protocol::OpenAi
            ),
            Some(7)
        );
        assert_eq!(
            cap(br#"{"max_output_tokens":9}"#, Protocol::Responses),
            Some(9)
        );
        assert_eq!(cap(br#"{"max_tokens":11}"#, Protocol::Anthropic), Some(11));
        assert_eq!(cap(br#"{"max_tokens":12}"#, Protocol::Cohere), Some(12));
        assert_eq!(
            cap(
                br#"{"generationConfig":{"maxOutputTokens":13}}"#,
                Protocol::Gemini
            ),
            Some(13)
        );
        assert_eq!(
            cap(
                br#"{"inferenceConfig":{"maxTokens":14}}"#,
                Protocol::Bedrock
            ),
            Some(14)
        );
        assert_eq!(cap(br#"{"max_tokens":"lots"}"#, Protocol::OpenAi), None);
        assert_eq!(cap(br#"{"max_tokens":-1}"#, Protocol::Anthropic), None);
        assert_eq!(cap(br#"{}"#, Protocol::Bedrock), None);
    }

    #[test]
    fn reads_each_protocols_choice_count() {
        let count = |body: &[u8], protocol| Peeked::parse(body).unwrap().choice_count(protocol);
        assert_eq!(count(br#"{"n":128}"#, Protocol::OpenAi), 128);
        assert_eq!(count(br#"{}"#, Protocol::OpenAi), 1);
        assert_eq!(count(br#"{"n":0}"#, Protocol::OpenAi), 1);
        assert_eq!(count(br#"{"n":"lots"}"#, Protocol::OpenAi), 1);
        assert_eq!(
            count(
                br#"{"generationConfig":{"candidateCount":8}}"#,
                Protocol::Gemini
            ),
            8
        );
        assert_eq!(
            count(
                br#"{"generation_config":{"candidate_count":3}}"#,
                Protocol::Gemini
            ),
            3
        );
        // Formats that answer once read no count, whatever the body holds.
        for protocol in [
            Protocol::Anthropic,
            Protocol::Responses,
            Protocol::Cohere,
            Protocol::Bedrock,
        ] {
            assert_eq!(count(br#"{"n":5}"#, protocol), 1, "{protocol}");
        }
    }

    #[test]
    fn reads_whether_a_stream_wants_usage() {
        let wants = |body: &[u8]| Peeked::parse(body).unwrap().stream_usage(Protocol::OpenAi);
        assert!(wants(br#"{"stream_options":{"include_usage":true}}"#));
        assert!(!wants(br#"{"stream_options":{"include_usage":false}}"#));
        assert!(!wants(br#"{"stream_options":null}"#));
        assert!(!wants(br#"{}"#));
        let anthropic = Peeked::parse(br#"{"stream_options":{"include_usage":true}}"#).unwrap();
        assert!(!anthropic.stream_usage(Protocol::Anthropic));
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        assert!(Peeked::parse(b"[1,2]").is_err());
        assert!(Peeked::parse(b"{\"model\":").is_err());
        assert!(Peeked::parse(b"{} trailing").is_err());
        assert!(Peeked::parse(br#"{"model":5}"#).unwrap().model().is_err());
    }

    #[test]
    fn rewrites_only_the_model() {
        let body = br#"{ "model" : "smart", "temperature": 0.70, "messages":[{"role":"user","content":"h\u00e9"}]}"#;
        let out = Peeked::parse(body).unwrap().with_model("gpt-4o", &[]);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"model":"gpt-4o","temperature":0.70,"messages":[{"role":"user","content":"h\u00e9"}]}"#
        );
    }

    #[test]
    fn adds_a_missing_model_first() {
        let out = Peeked::parse(br#"{"max_tokens":5}"#)
            .unwrap()
            .with_model("claude", &[]);
        assert_eq!(out, br#"{"model":"claude","max_tokens":5}"#);
    }

    #[test]
    fn leaves_out_a_platform_field() {
        let body = br#"{"anthropic_version":"2026-10-21","max_tokens":5,"stream":true}"#;
        let out = Peeked::parse(body)
            .unwrap()
            .with_model("claude", &["anthropic_version"]);
        assert_eq!(out, br#"{"model":"claude","max_tokens":5,"stream":true}"#);
    }

    #[test]
    fn escaped_keys_survive() {
        let out = Peeked::parse(br#"{"a\"b":1,"model":"x"}"#)
            .unwrap()
            .with_model("y", &[]);
        assert_eq!(out, br#"{"a\"b":1,"model":"y"}"#);
    }
}
