//! Classification tables: every status rule, the decoder's context-length verdict, error_map precedence, errors inside streams.

use busbar_ir::{ApiError, ErrorKind};

use super::*;

fn no_map(_: &str) -> Option<FailureClass> {
    None
}

fn reply(status: u16, kind: ErrorKind, code: Option<&str>) -> ApiError {
    let error = ApiError::new(kind, "m").with_status(status);
    match code {
        Some(code) => error.with_code(code),
        None => error,
    }
}

fn plain(status: u16) -> FailureClass {
    classify(
        &reply(status, ErrorKind::from_status(status), None),
        ErrorSource::Reply,
        no_map,
    )
}

use FailureClass::*;

#[test]
fn statuses_map_to_their_classes() {
    let table: &[(u16, FailureClass)] = &[
        (400, ClientError),
        (401, Auth),
        (402, Billing),
        (403, Auth),
        (404, ClientError),
        (408, Timeout),
        (409, ClientError),
        (413, ClientError),
        (422, ClientError),
        (429, RateLimit),
        (499, ClientError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (529, Overloaded),
        (599, ServerError),
        // Not an error status at all: the upstream misbehaved.
        (200, ServerError),
        (302, ServerError),
        (600, ServerError),
        (0, ServerError),
    ];
    for &(status, class) in table {
        assert_eq!(plain(status), class, "status {status}");
    }
}

#[test]
fn a_context_length_verdict_counts_on_400_and_413_only() {
    for status in [400, 413] {
        let error = reply(status, ErrorKind::ContextLength, None);
        assert_eq!(classify(&error, ErrorSource::Reply, no_map), ContextLength);
    }
    for (status, class) in [
        (500, ServerError),
        (503, ServerError),
        (529, Overloaded),
        (422, ClientError),
        (429, RateLimit),
    ] {
        let error = reply(status, ErrorKind::ContextLength, None);
        assert_eq!(
            classify(&error, ErrorSource::Reply, no_map),
            class,
            "{status}"
        );
    }
    let error = reply(400, ErrorKind::InvalidRequest, None);
    assert_eq!(classify(&error, ErrorSource::Reply, no_map), ClientError);
}

#[test]
fn error_map_wins_over_the_decoder_and_the_status() {
    let map = |code: &str| match code {
        "insufficient_quota" => Some(Billing),
        "overloaded_error" => Some(Overloaded),
        "context_length_exceeded" => Some(ClientError),
        "418" => Some(RateLimit),
        _ => None,
    };
    let classify_reply = |error: ApiError| classify(&error, ErrorSource::Reply, map);
    assert_eq!(
        classify_reply(reply(429, ErrorKind::RateLimit, Some("insufficient_quota"))),
        Billing
    );
    assert_eq!(
        classify_reply(reply(500, ErrorKind::Server, Some("overloaded_error"))),
        Overloaded
    );
    assert_eq!(
        classify_reply(reply(
            400,
            ErrorKind::ContextLength,
            Some("context_length_exceeded")
        )),
        ClientError,
        "the operator's map beats the built-in detection"
    );
    assert_eq!(
        classify_reply(reply(418, ErrorKind::InvalidRequest, None)),
        RateLimit,
        "a status key is looked up when the code is not"
    );
    assert_eq!(
        classify_reply(reply(401, ErrorKind::Authentication, Some("unmapped"))),
        Auth,
        "an unknown code falls through to the status"
    );
    assert_eq!(
        classify_reply(reply(400, ErrorKind::ContextLength, Some("unmapped"))),
        ContextLength
    );
}

#[test]
fn errors_inside_a_stream_are_classified_by_kind() {
    let table = [
        (ErrorKind::RateLimit, RateLimit),
        (ErrorKind::Overloaded, Overloaded),
        (ErrorKind::Unavailable, Overloaded),
        (ErrorKind::Timeout, Timeout),
        (ErrorKind::BadGateway, Network),
        (ErrorKind::Authentication, Auth),
        (ErrorKind::PermissionDenied, Auth),
        (ErrorKind::InsufficientQuota, Billing),
        (ErrorKind::ContextLength, ContextLength),
        (ErrorKind::Server, ServerError),
        (ErrorKind::InvalidRequest, ClientError),
        (ErrorKind::NotFound, ClientError),
        (ErrorKind::RequestTooLarge, ClientError),
    ];
    for (kind, class) in table {
        let error = ApiError::new(kind, "mid-stream");
        assert_eq!(
            classify(&error, ErrorSource::Stream, no_map),
            class,
            "{kind:?}"
        );
    }
    let map = |code: &str| (code == "busy").then_some(RateLimit);
    let error = ApiError::new(ErrorKind::Server, "m").with_code("busy");
    assert_eq!(classify(&error, ErrorSource::Stream, map), RateLimit);
}

#[test]
fn status_keys_are_written_in_decimal() {
    let mut buffer = [0u8; 5];
    assert_eq!(status_key(0, &mut buffer), "0");
    assert_eq!(status_key(402, &mut buffer), "402");
    assert_eq!(status_key(u16::MAX, &mut buffer), "65535");
}

#[test]
fn classes_know_their_consequences() {
    let transient = [RateLimit, Overloaded, ServerError, Timeout, Network];
    for class in FailureClass::ALL {
        assert_eq!(class.is_transient(), transient.contains(&class), "{class}");
        assert_eq!(
            class.penalizes(),
            !matches!(class, ClientError | ContextLength),
            "{class}"
        );
        assert_eq!(
            class.fails_over(),
            !matches!(class, Auth | ClientError),
            "{class}"
        );
        assert_eq!(FailureClass::from_name(class.as_str()), Some(class));
        assert_eq!(class.to_string(), class.as_str());
    }
    assert_eq!(Auth.hard_down_reason(), Some(HardDownReason::Auth));
    assert_eq!(Billing.hard_down_reason(), Some(HardDownReason::Billing));
    assert_eq!(RateLimit.hard_down_reason(), None);
    assert_eq!(FailureClass::from_name("teapot"), None);
    assert_eq!(
        serde_json::to_value(ContextLength).expect("serializable"),
        serde_json::json!("context_length")
    );
}
