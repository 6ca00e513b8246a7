//! Bedrock errors: an exception name plus `{"message": …}`.
//!
//! Over HTTP the name is in the `x-amzn-errortype` header
//! (`ValidationException:http://internal.amazon.com/coral/…`; botocore takes
//! the part before `:` and after any `#`), or failing that in the body's
//! `__type` or `code`. Inside a stream an exception is a frame with
//! `:message-type: exception` and the name, in lower camel case, in
//! `:exception-type`.
//!
//! Each exception has one status in the service model; Busbar sends that
//! status, as AWS does, with three exceptions to keep what the IR knows:
//! `InternalServerException` keeps a 5xx status (a 502 stays a 502), and a
//! too-large body is a `ValidationException` with 413.
//!
//! Choices where Bedrock has no exact counterpart of an [`ErrorKind`]:
//! [`ErrorKind::Authentication`] is `UnrecognizedClientException` (403), what
//! AWS answers a bad access key with and what boto3 users catch;
//! [`ErrorKind::InsufficientQuota`] is `ServiceQuotaExceededException`
//! (400); [`ErrorKind::Overloaded`] and [`ErrorKind::Unavailable`] are
//! `ServiceUnavailableException` (503); [`ErrorKind::Timeout`] is
//! `ModelTimeoutException` (408); [`ErrorKind::BadGateway`] and
//! [`ErrorKind::Server`] are `InternalServerException`. An error decoded from
//! Bedrock keeps its exception name as [`ApiError::code`], and encoding uses
//! that name again when it names the same kind, so a Bedrock-to-Bedrock hop
//! keeps `ModelNotReadyException` or `ModelErrorException`.

use busbar_ir::{ApiError, ErrorKind};
use serde::{Deserialize, Serialize};

use super::eventstream::write_frame;

/// The longest message taken from a body that is not a Bedrock error
/// object (an HTML page from a proxy, say), in bytes.
const MAX_RAW_MESSAGE: usize = 512;

/// The exceptions Busbar knows: name, status, kind.
const EXCEPTIONS: [(&str, u16, ErrorKind); 18] = [
    ("ValidationException", 400, ErrorKind::InvalidRequest),
    ("ConflictException", 400, ErrorKind::InvalidRequest),
    (
        "ServiceQuotaExceededException",
        400,
        ErrorKind::InsufficientQuota,
    ),
    ("AccessDeniedException", 403, ErrorKind::PermissionDenied),
    (
        "UnrecognizedClientException",
        403,
        ErrorKind::Authentication,
    ),
    ("InvalidSignatureException", 403, ErrorKind::Authentication),
    (
        "IncompleteSignatureException",
        400,
        ErrorKind::Authentication,
    ),
    (
        "MissingAuthenticationTokenException",
        403,
        ErrorKind::Authentication,
    ),
    ("ExpiredTokenException", 403, ErrorKind::Authentication),
    ("ResourceNotFoundException", 404, ErrorKind::NotFound),
    ("ModelTimeoutException", 408, ErrorKind::Timeout),
    ("ModelErrorException", 424, ErrorKind::Server),
    ("ModelStreamErrorException", 424, ErrorKind::Server),
    ("ThrottlingException", 429, ErrorKind::RateLimit),
    // "The model is not ready to serve inference requests": temporarily
    // unavailable, so another lane is worth trying.
    ("ModelNotReadyException", 429, ErrorKind::Unavailable),
    ("InternalServerException", 500, ErrorKind::Server),
    ("ServiceUnavailableException", 503, ErrorKind::Unavailable),
    ("UnknownOperationException", 404, ErrorKind::NotFound),
];

/// Reads an error reply. `error_type` is the `x-amzn-errortype` header.
/// Never fails: a body that is not JSON gives a kind from the name or the
/// status, and the body's text as message.
pub fn decode(status: u16, body: &[u8], error_type: Option<&str>) -> ApiError {
    let wire = serde_json::from_slice::<Body>(body).ok();
    let name = error_type
        .filter(|name| !name.trim().is_empty())
        .or(wire
            .as_ref()
            .and_then(|w| w.kind.as_deref().or(w.code.as_deref())))
        .map(exception_name);
    let message = match wire
        .as_ref()
        .and_then(|w| w.message.as_ref().or(w.upper_message.as_ref()))
    {
        Some(message) => message.clone(),
        None => raw_message(status, body),
    };
    from_parts(name, message, status)
}

/// Renders `error` for a Bedrock client: the status, the body, and the
/// exception name for the `x-amzn-errortype` header.
pub fn encode(error: &ApiError) -> (u16, Vec<u8>, &'static str) {
    let (name, modeled) = exception_for(error);
    let status = match (name, error.kind) {
        ("InternalServerException", _) if (500..=599).contains(&error.status) => error.status,
        ("ValidationException", ErrorKind::RequestTooLarge) => 413,
        _ => modeled,
    };
    let body = serde_json::to_vec(&OutBody {
        message: &error.message,
    })
    .unwrap_or_default();
    (status, body, name)
}

/// The IR error for a stream exception frame: its `:exception-type` and
/// payload. The status is the one the service model gives the exception.
pub(crate) fn from_stream_exception(exception_type: &str, payload: &[u8]) -> ApiError {
    let name = upper_first(exception_type);
    let status = EXCEPTIONS
        .iter()
        .find(|(known, _, _)| *known == name)
        .map_or(500, |(_, status, _)| *status);
    let message = match serde_json::from_slice::<Body>(payload) {
        Ok(body) => body
            .message
            .or(body.upper_message)
            .or(body.original_message)
            .unwrap_or_else(|| format!("upstream stream failed with {exception_type}")),
        Err(_) => raw_message(status, payload),
    };
    from_parts(Some(&name), message, status)
}

/// Appends `error` as an event-stream exception frame to `out`, its JSON
/// written into `payload` (a buffer the caller keeps). A message too long
/// for a frame is said briefly rather than ending the stream without a
/// word. Used by every stream Busbar writes in AWS's framing.
pub(crate) fn write_exception_frame(error: &ApiError, payload: &mut Vec<u8>, out: &mut Vec<u8>) {
    payload.clear();
    let body = OutBody {
        message: &error.message,
    };
    if serde_json::to_writer(&mut *payload, &body).is_err() {
        return;
    }
    let headers = [
        (":exception-type", stream_exception_type(error)),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ];
    if write_frame(&headers, payload, out).is_err() {
        let fallback = br#"{"message":"upstream error (message too long)"}"#;
        let _ = write_frame(&headers, fallback, out);
    }
}

/// The `:exception-type` of a stream exception frame for `error`: one of
/// the five ConverseStream declares, since botocore reads no other.
pub(crate) fn stream_exception_type(error: &ApiError) -> &'static str {
    const DECLARED: [&str; 5] = [
        "validationException",
        "throttlingException",
        "internalServerException",
        "serviceUnavailableException",
        "modelStreamErrorException",
    ];
    if let Some(code) = error.code.as_deref() {
        let code = code.strip_suffix("Exception").unwrap_or(code);
        if let Some(name) = DECLARED.iter().find(|name| {
            name.strip_suffix("Exception")
                .is_some_and(|stem| stem.eq_ignore_ascii_case(code))
        }) {
            // Only when the code says what the kind says.
            if kind_of(&upper_first(name), error.status, &error.message) == error.kind {
                return name;
            }
        }
    }
    match error.kind {
        ErrorKind::RateLimit => "throttlingException",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "serviceUnavailableException",
        ErrorKind::Timeout | ErrorKind::BadGateway => "modelStreamErrorException",
        ErrorKind::Server => "internalServerException",
        _ => "validationException",
    }
}

fn from_parts(name: Option<&str>, message: String, status: u16) -> ApiError {
    let kind = match name {
        Some(name) => kind_of(name, status, &message),
        None if status == 400 && is_context_length(&message) => ErrorKind::ContextLength,
        None => ErrorKind::from_status(status),
    };
    let mut error = ApiError::new(kind, message).with_status(status);
    if let Some(name) = name {
        error = error.with_code(name);
    }
    error
}

/// The kind an exception name (in upper camel case) stands for.
fn kind_of(name: &str, status: u16, message: &str) -> ErrorKind {
    match name {
        "ValidationException" if is_context_length(message) => ErrorKind::ContextLength,
        "ValidationException" if status == 413 => ErrorKind::RequestTooLarge,
        // The generic failure: the status tells a gateway error (502) or a
        // timeout (504) from a bug.
        "InternalServerException" if status > 500 && status != 503 => {
            ErrorKind::from_status(status)
        }
        _ => EXCEPTIONS
            .iter()
            .find(|(known, _, _)| *known == name)
            .map_or_else(|| ErrorKind::from_status(status), |(_, _, kind)| *kind),
    }
}

/// The exception for `error`, and its status in the service model.
fn exception_for(error: &ApiError) -> (&'static str, u16) {
    if let Some(code) = error.code.as_deref() {
        let code = exception_name(code);
        if let Some((name, status, _)) = EXCEPTIONS.iter().find(|(known, _, _)| *known == code) {
            if kind_of(name, error.status, &error.message) == error.kind {
                return (name, *status);
            }
        }
    }
    match error.kind {
        ErrorKind::InvalidRequest | ErrorKind::ContextLength | ErrorKind::RequestTooLarge => {
            ("ValidationException", 400)
        }
        ErrorKind::Authentication => ("UnrecognizedClientException", 403),
        ErrorKind::PermissionDenied => ("AccessDeniedException", 403),
        ErrorKind::NotFound => ("ResourceNotFoundException", 404),
        ErrorKind::RateLimit => ("ThrottlingException", 429),
        ErrorKind::InsufficientQuota => ("ServiceQuotaExceededException", 400),
        ErrorKind::Overloaded | ErrorKind::Unavailable => ("ServiceUnavailableException", 503),
        ErrorKind::Timeout => ("ModelTimeoutException", 408),
        _ => ("InternalServerException", 500),
    }
}

/// The bare exception name in a header or `__type` value, as botocore reads
/// it: before any `:`, after any `#`.
fn exception_name(raw: &str) -> &str {
    let name = raw.split(':').next().unwrap_or(raw);
    name.rsplit('#').next().unwrap_or(name).trim()
}

fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Bedrock's overlong-prompt messages, its own and those of the models it
/// relays ("Input is too long for requested model.", Claude's "prompt is
/// too long: …", Mistral's and Llama's "maximum context length …").
fn is_context_length(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "input is too long",
        "prompt is too long",
        "maximum context length",
        "context window",
        "too many input tokens",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

fn raw_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("upstream returned HTTP {status}");
    }
    let mut end = text.len().min(MAX_RAW_MESSAGE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    message: Option<String>,
    /// Some AWS front ends spell it with a capital.
    #[serde(default, rename = "Message")]
    upper_message: Option<String>,
    #[serde(default, rename = "__type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    /// `ModelStreamErrorException` relays the model's own message here.
    #[serde(default, rename = "originalMessage")]
    original_message: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct OutBody<'a> {
    pub(crate) message: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORAL: &str = ":http://internal.amazon.com/coral/com.amazon.bedrock/";

    #[test]
    fn every_exception_decodes_to_its_kind() {
        for (name, status, kind) in EXCEPTIONS {
            let header = format!("{name}{CORAL}");
            let error = decode(status, br#"{"message":"boom"}"#, Some(&header));
            assert_eq!(error.kind, kind, "{name}");
            assert_eq!(error.status, status);
            assert_eq!(error.code.as_deref(), Some(name));
            assert_eq!(error.message, "boom");
        }
    }

    #[test]
    fn the_name_may_come_from_the_body() {
        let error = decode(
            429,
            br#"{"__type":"com.amazon.coral.availability#ThrottlingException","Message":"Rate exceeded"}"#,
            None,
        );
        assert_eq!(
            (error.kind, error.message.as_str()),
            (ErrorKind::RateLimit, "Rate exceeded")
        );
        assert_eq!(error.code.as_deref(), Some("ThrottlingException"));
        let coded = decode(
            403,
            br#"{"code":"AccessDeniedException","message":"no"}"#,
            Some(""),
        );
        assert_eq!(coded.kind, ErrorKind::PermissionDenied);
        // The header wins over the body.
        let both = decode(
            400,
            br#"{"__type":"ThrottlingException","message":"m"}"#,
            Some("ValidationException"),
        );
        assert_eq!(both.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn an_overlong_prompt_is_a_context_length_error() {
        for message in [
            "Input is too long for requested model.",
            "The model returned the following errors: prompt is too long: 208310 tokens > 200000 maximum",
            "This model's maximum context length is 32768 tokens.",
        ] {
            let body = serde_json::to_vec(&OutBody { message }).unwrap();
            let error = decode(400, &body, Some("ValidationException"));
            assert_eq!(error.kind, ErrorKind::ContextLength, "{message}");
            assert_eq!(encode(&error).2, "ValidationException");
        }
        let bare = decode(
            400,
            br#"{"message":"Input is too long for requested model."}"#,
            None,
        );
        assert_eq!(bare.kind, ErrorKind::ContextLength);
    }

    #[test]
    fn a_body_that_is_not_an_error_object_keeps_its_text() {
        let html = format!("<html>{}</html>", "x".repeat(2000));
        let error = decode(502, html.as_bytes(), None);
        assert_eq!((error.kind, error.status), (ErrorKind::BadGateway, 502));
        assert_eq!(error.message.len(), MAX_RAW_MESSAGE);
        let empty = decode(503, b"", Some("ServiceUnavailableException"));
        assert_eq!(empty.kind, ErrorKind::Unavailable);
        assert_eq!(empty.message, "upstream returned HTTP 503");
        let multibyte = "é".repeat(600);
        assert!(decode(500, multibyte.as_bytes(), None).message.len() <= MAX_RAW_MESSAGE);
        let unknown = decode(418, br#"{"message":"teapot"}"#, Some("TeapotException"));
        assert_eq!(unknown.kind, ErrorKind::InvalidRequest);
        assert_eq!(unknown.code.as_deref(), Some("TeapotException"));
    }

    #[test]
    fn encoding_uses_bedrock_names_and_statuses() {
        for (kind, status, name) in [
            (ErrorKind::InvalidRequest, 400, "ValidationException"),
            (ErrorKind::ContextLength, 400, "ValidationException"),
            (ErrorKind::RequestTooLarge, 413, "ValidationException"),
            (
                ErrorKind::Authentication,
                403,
                "UnrecognizedClientException",
            ),
            (ErrorKind::PermissionDenied, 403, "AccessDeniedException"),
            (ErrorKind::NotFound, 404, "ResourceNotFoundException"),
            (ErrorKind::RateLimit, 429, "ThrottlingException"),
            (
                ErrorKind::InsufficientQuota,
                400,
                "ServiceQuotaExceededException",
            ),
            (ErrorKind::Overloaded, 503, "ServiceUnavailableException"),
            (ErrorKind::Unavailable, 503, "ServiceUnavailableException"),
            (ErrorKind::Timeout, 408, "ModelTimeoutException"),
            (ErrorKind::BadGateway, 502, "InternalServerException"),
            (ErrorKind::Server, 500, "InternalServerException"),
        ] {
            let (got_status, body, got_name) = encode(&ApiError::new(kind, "m"));
            assert_eq!((got_status, got_name), (status, name), "{kind:?}");
            assert_eq!(body, br#"{"message":"m"}"#);
        }
        // The budget check's 429 goes out as Bedrock's 400.
        let quota = ApiError::new(ErrorKind::InsufficientQuota, "m").with_status(429);
        assert_eq!(encode(&quota).0, 400);
        // A status that is no error status gives the modeled one.
        let odd = ApiError::new(ErrorKind::Server, "m").with_status(200);
        assert_eq!(encode(&odd).0, 500);
    }

    #[test]
    fn a_bedrock_exception_name_survives_a_bedrock_hop() {
        for name in [
            "ModelNotReadyException",
            "ModelErrorException",
            "ConflictException",
        ] {
            let error = decode(0, br#"{"message":"m"}"#, Some(name));
            let (status, _, again) = encode(&error);
            assert_eq!(again, name);
            let modeled = EXCEPTIONS.iter().find(|e| e.0 == name).unwrap().1;
            assert_eq!(status, modeled);
        }
        // A code from another vendor, or one that disagrees with the kind,
        // is not reused.
        let foreign = ApiError::new(ErrorKind::RateLimit, "m").with_code("rate_limit_exceeded");
        assert_eq!(encode(&foreign).2, "ThrottlingException");
        let stale = ApiError::new(ErrorKind::Server, "m").with_code("ThrottlingException");
        assert_eq!(encode(&stale).2, "InternalServerException");
    }

    #[test]
    fn stream_exceptions_decode_with_their_modeled_status() {
        let error = from_stream_exception("throttlingException", br#"{"message":"slow down"}"#);
        assert_eq!(
            (error.kind, error.status, error.message.as_str()),
            (ErrorKind::RateLimit, 429, "slow down")
        );
        let model = from_stream_exception(
            "modelStreamErrorException",
            br#"{"originalStatusCode":500,"originalMessage":"model crashed"}"#,
        );
        assert_eq!(
            (model.kind, model.status, model.message.as_str()),
            (ErrorKind::Server, 424, "model crashed")
        );
        let garbage = from_stream_exception("weirdException", b"not json");
        assert_eq!((garbage.kind, garbage.status), (ErrorKind::Server, 500));
        assert_eq!(garbage.message, "not json");
    }

    #[test]
    fn stream_exception_types_are_the_five_converse_stream_declares() {
        for (kind, expected) in [
            (ErrorKind::RateLimit, "throttlingException"),
            (ErrorKind::Overloaded, "serviceUnavailableException"),
            (ErrorKind::Unavailable, "serviceUnavailableException"),
            (ErrorKind::Timeout, "modelStreamErrorException"),
            (ErrorKind::BadGateway, "modelStreamErrorException"),
            (ErrorKind::Server, "internalServerException"),
            (ErrorKind::InvalidRequest, "validationException"),
            (ErrorKind::Authentication, "validationException"),
        ] {
            assert_eq!(stream_exception_type(&ApiError::new(kind, "m")), expected);
        }
        let relayed = from_stream_exception("modelStreamErrorException", br#"{"message":"m"}"#);
        assert_eq!(stream_exception_type(&relayed), "modelStreamErrorException");
    }
}
