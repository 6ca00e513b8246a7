//! Logged bodies with their credentials taken out.
//!
//! Three nets, because a body may carry a credential anywhere: every
//! secret the configuration holds (provider keys, AWS secrets, client and
//! admin tokens) wherever it appears; the value of any JSON field whose
//! name says it is a credential (`api_key`, `authorization`, …); and the
//! shapes credentials take in free text — `Bearer …`, `sk-…` keys, AWS
//! access key ids, Google `AIza…` keys, and the values of query and header
//! parameters such as `key=`, `X-Amz-Signature=` or `Signature=`.

use serde_json::Value;

/// What replaces a credential.
const REDACTED: &str = "[redacted]";

/// JSON field names (lower case, without `-` and `_`) whose values are
/// credentials.
const CREDENTIAL_FIELDS: &[&str] = &[
    "authorization",
    "proxyauthorization",
    "apikey",
    "xapikey",
    "xgoogapikey",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "token",
    "bearer",
    "secret",
    "clientsecret",
    "password",
    "awssecretaccesskey",
    "secretaccesskey",
    "sessiontoken",
    "xamzsecuritytoken",
    "xamzsignature",
    "xamzcredential",
];

/// Parameter names (as in `name=value`, case-insensitive) whose values are
/// credentials: query strings and AWS `Authorization` headers.
const CREDENTIAL_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "access_token",
    "token",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "credential",
];

/// Takes credentials out of logged bodies.
pub(crate) struct Redactor {
    /// Secrets from the configuration, longest first so a key that
    /// contains another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that also removes each of `secrets` (values shorter than
    /// 8 bytes are ignored: too likely to be ordinary text).
    pub(crate) fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|secret| secret.len() >= 8)
            .collect();
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// A logged body: the JSON document itself when `bytes` is the whole
    /// body and parses, else its text (cut at the cap, lossy UTF-8), each
    /// with credentials redacted.
    pub(crate) fn body(&self, bytes: &[u8], whole: bool) -> Value {
        if whole {
            if let Ok(mut value) = serde_json::from_slice::<Value>(bytes) {
                self.value(&mut value);
                return value;
            }
        }
        Value::String(self.text(&String::from_utf8_lossy(bytes)))
    }

    fn value(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                let clean = self.text(text);
                if clean != *text {
                    *text = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.value(item)),
            Value::Object(fields) => {
                for (name, field) in fields.iter_mut() {
                    if is_credential_field(name) && !field.is_null() {
                        *field = Value::String(REDACTED.to_owned());
                    } else {
                        self.value(field);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// `text` with known secrets and credential shapes replaced.
    pub(crate) fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        shapes(&out)
    }
}

fn is_credential_field(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    CREDENTIAL_FIELDS.contains(&folded.as_str())
}

/// Characters a token is made of.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Replaces credential-shaped tokens in free text.
fn shapes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        match credential_at(bytes, at) {
            Some((value_start, value_end)) => {
                out.push_str(&text[copied..value_start]);
                out.push_str(REDACTED);
                copied = value_end;
                at = value_end;
            }
            None => at += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The span of a credential's value starting at `at`, if one does.
fn credential_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = &bytes[at..];
    let boundary = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
    if !boundary {
        return None;
    }
    let run = |from: usize| {
        from + bytes[from..]
            .iter()
            .take_while(|b| is_token_char(**b))
            .count()
    };
    // `Bearer TOKEN`, `Basic TOKEN`: the token after the scheme.
    for scheme in ["bearer ", "basic "] {
        if starts_with_ignore_case(rest, scheme) {
            let start = at + scheme.len();
            let end = run(start);
            return (end > start).then_some((start, end));
        }
    }
    // Keys by their shape: OpenAI-style `sk-…` (Anthropic's `sk-ant-…`,
    // Busbar's `sk-bb-…`), AWS access key ids, Google API keys.
    let shaped = |prefix: &str, min: usize| {
        rest.starts_with(prefix.as_bytes())
            .then(|| run(at))
            .filter(|end| end - at >= prefix.len() + min)
            .map(|end| (at, end))
    };
    if let Some(span) = shaped("sk-", 16)
        .or_else(|| shaped("AKIA", 16))
        .or_else(|| shaped("ASIA", 16))
        .or_else(|| shaped("AIza", 30))
    {
        return Some(span);
    }
    // `name=value` parameters that carry credentials.
    for name in CREDENTIAL_PARAMS {
        if starts_with_ignore_case(rest, name) && rest.get(name.len()) == Some(&b'=') {
            let start = at + name.len() + 1;
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| {
                        !matches!(b, b'&' | b',' | b'"' | b'\'' | b' ' | b'\n' | b'\r' | b'\t')
                    })
                    .count();
            return (end > start).then_some((start, end));
        }
    }
    None
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &str) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(["provider-key-0123456789".to_owned(), "short".to_owned()])
    }

    #[test]
    fn credential_fields_and_known_secrets_are_redacted_in_json() {
        let body = json!({
            "model": "gpt",
            "api_key": "anything",
            "headers": {"Authorization": "Bearer abc", "X-Goog-Api-Key": "g", "accept": "*/*"},
            "messages": [{"role": "user", "content": "my key is provider-key-0123456789, short"}],
            "max_tokens": 5,
            "token": null
        });
        let logged = redactor().body(body.to_string().as_bytes(), true);
        assert_eq!(
            logged,
            json!({
                "model": "gpt",
                "api_key": "[redacted]",
                "headers": {"Authorization": "[redacted]", "X-Goog-Api-Key": "[redacted]", "accept": "*/*"},
                "messages": [{"role": "user", "content": "my key is [redacted], short"}],
                "max_tokens": 5,
                "token": null
            })
        );
    }

    #[test]
    fn credential_shapes_are_redacted_in_text() {
        let r = redactor();
        assert_eq!(
            r.text("Authorization: Bearer sk-abc.def and bearer xyz"),
            "Authorization: Bearer [redacted] and bearer [redacted]"
        );
        assert_eq!(
            r.text("use sk-ant-api03-ABCDEFGHIJKLMNOP or sk-bb-0123456789abcdef0123 now"),
            "use [redacted] or [redacted] now"
        );
        assert_eq!(r.text("task-list sk-short"), "task-list sk-short");
        assert_eq!(
            r.text("id AKIAIOSFODNN7EXAMPLE key AIzaSyA-0123456789abcdefghijklmnopqrst"),
            "id [redacted] key [redacted]"
        );
        assert_eq!(
            r.text("GET /v1beta/models/g:generateContent?alt=sse&key=AIzaXYZ&x=1"),
            "GET /v1beta/models/g:generateContent?alt=sse&key=[redacted]&x=1"
        );
        assert_eq!(
            r.text("AWS4-HMAC-SHA256 Credential=AKID/2024/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=0a1b2c"),
            "AWS4-HMAC-SHA256 Credential=[redacted], SignedHeaders=host, Signature=[redacted]"
        );
        assert_eq!(r.text("monkey=banana"), "monkey=banana");
    }

    #[test]
    fn a_cut_body_is_text_redacted_as_text() {
        let logged = redactor().body(br#"{"api_key": "provider-key-0123456789", "mess"#, false);
        assert_eq!(logged, json!(r#"{"api_key": "[redacted]", "mess"#));
    }
}
