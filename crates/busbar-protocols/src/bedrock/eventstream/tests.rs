//! Event-stream framing: AWS's published test vectors, every header type,
//! every way a frame can be wrong, and round trips in any split.

use proptest::prelude::*;

use super::*;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, EventStreamError> {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    decoder.feed(bytes, &mut frames)?;
    assert_eq!(decoder.buffered(), 0, "a partial frame was left over");
    Ok(frames)
}

fn decode_one(bytes: &[u8]) -> Result<Frame, EventStreamError> {
    let mut frames = decode_all(bytes)?;
    assert_eq!(frames.len(), 1);
    Ok(frames.remove(0))
}

/// A frame around raw header bytes, with correct checksums, so a test can
/// exercise header parsing past the checksum checks.
fn seal(headers: &[u8], payload: &[u8]) -> Vec<u8> {
    let total = (MIN_FRAME_LEN + headers.len() + payload.len()) as u32;
    let mut out = total.to_be_bytes().to_vec();
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32(&out.clone()).to_be_bytes());
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32(&out.clone()).to_be_bytes());
    out
}

/// A prelude with a correct checksum for any lengths, valid or not.
fn prelude(total: u32, headers: u32) -> Vec<u8> {
    let mut out = total.to_be_bytes().to_vec();
    out.extend_from_slice(&headers.to_be_bytes());
    out.extend_from_slice(&crc32(&out.clone()).to_be_bytes());
    out
}

// AWS's event-stream test vectors, as published with its SDKs
// (aws-c-event-stream, botocore, the Go SDK).
const EMPTY_MESSAGE: &str = "000000100000000005c248eb7d98c8ff";
const PAYLOAD_NO_HEADERS: &str = "0000001d00000000fd528c5a7b27666f6f273a27626172277dc3653936";
const PAYLOAD_ONE_STR_HEADER: &str = "0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1";
const INT32_HEADER: &str =
    "0000002d0000001041c424b80a6576656e742d74797065040000a00c7b27666f6f273a27626172277d36f480a0";
const ALL_HEADER_TYPES: &str = "000000620000005203b5cb9c0130000131010132020201330300030134040000000401350500000000000000050136060005627974657301370700047574663801380800000000000000080139093031323334353637383961626364656663353671";
const ERROR_MESSAGE: &str = "0000005200000042bf23637e0d3a6d6573736167652d747970650700056572726f720b3a6572726f722d636f6465070004636f64650e3a6572726f722d6d6573736167650700076d6573736167656b6cea3d";
const TIMESTAMP_HEADER: &str =
    "000000230000001367fdcb630974696d657374616d700800000172eebc27a6d4445e11";

#[test]
fn aws_vectors_decode_and_reencode_byte_for_byte() {
    let cases: [(&str, Vec<Header>, &[u8]); 7] = [
        (EMPTY_MESSAGE, vec![], b""),
        (PAYLOAD_NO_HEADERS, vec![], b"{'foo':'bar'}"),
        (
            PAYLOAD_ONE_STR_HEADER,
            vec![Header::string("content-type", "application/json")],
            b"{'foo':'bar'}",
        ),
        (
            INT32_HEADER,
            vec![Header::new("event-type", HeaderValue::Int32(0xa00c))],
            b"{'foo':'bar'}",
        ),
        (
            ALL_HEADER_TYPES,
            vec![
                Header::new("0", HeaderValue::Bool(true)),
                Header::new("1", HeaderValue::Bool(false)),
                Header::new("2", HeaderValue::Byte(2)),
                Header::new("3", HeaderValue::Int16(3)),
                Header::new("4", HeaderValue::Int32(4)),
                Header::new("5", HeaderValue::Int64(5)),
                Header::new("6", HeaderValue::Bytes(b"bytes".to_vec())),
                Header::string("7", "utf8"),
                Header::new("8", HeaderValue::Timestamp(8)),
                Header::new("9", HeaderValue::Uuid(*b"0123456789abcdef")),
            ],
            b"",
        ),
        (
            ERROR_MESSAGE,
            vec![
                Header::string(":message-type", "error"),
                Header::string(":error-code", "code"),
                Header::string(":error-message", "message"),
            ],
            b"",
        ),
        (
            TIMESTAMP_HEADER,
            // 2020-06-26T03:46:47.846Z
            vec![Header::new(
                "timestamp",
                HeaderValue::Timestamp(1_593_143_207_846),
            )],
            b"",
        ),
    ];
    for (vector, headers, payload) in cases {
        let bytes = hex(vector);
        let frame = decode_one(&bytes).unwrap();
        assert_eq!(frame, Frame::new(headers, payload.to_vec()), "{vector}");
        let mut again = Vec::new();
        frame.encode(&mut again).unwrap();
        assert_eq!(again, bytes, "{vector}");
    }
}

#[test]
fn negative_header_values_keep_their_sign() {
    // botocore's vectors for -1 in each integer width.
    for (vector, value) in [
        (
            "000000170000000729860158046279746502ffc2f869dc",
            HeaderValue::Byte(-1),
        ),
        (
            "0000001900000009710e923e0573686f727403ffffb27cb6cc",
            HeaderValue::Int16(-1),
        ),
        (
            "0000001d0000000d83e3f0e707696e746567657204ffffffff8b8e12eb",
            HeaderValue::Int32(-1),
        ),
        (
            "0000001e0000000e5d4adb8d046c6f6e6705ffffffffffffffff4bc232da",
            HeaderValue::Int64(-1),
        ),
    ] {
        let frame = decode_one(&hex(vector)).unwrap();
        assert_eq!(frame.headers[0].value, value);
    }
}

#[test]
fn write_frame_matches_the_general_encoder() {
    let mut fast = Vec::new();
    write_frame(
        &[(":event-type", "messageStart"), (":message-type", "event")],
        br#"{"role":"assistant"}"#,
        &mut fast,
    )
    .unwrap();
    let frame = Frame::new(
        vec![
            Header::string(":event-type", "messageStart"),
            Header::string(":message-type", "event"),
        ],
        br#"{"role":"assistant"}"#.to_vec(),
    );
    let mut general = Vec::new();
    frame.encode(&mut general).unwrap();
    assert_eq!(fast, general);
    assert_eq!(decode_one(&fast).unwrap(), frame);
    assert_eq!(frame.header_str(":event-type"), Some("messageStart"));
    assert_eq!(frame.header_str(":content-type"), None);
}

#[test]
fn a_repeated_header_name_reads_as_its_last_value() {
    let frame = Frame::new(
        vec![Header::string("a", "first"), Header::string("a", "second")],
        vec![],
    );
    assert_eq!(frame.header_str("a"), Some("second"));
}

#[test]
fn frames_split_byte_by_byte_decode_the_same() {
    let mut bytes = hex(PAYLOAD_ONE_STR_HEADER);
    bytes.extend(hex(ALL_HEADER_TYPES));
    bytes.extend(hex(EMPTY_MESSAGE));
    let whole = decode_all(&bytes).unwrap();
    assert_eq!(whole.len(), 3);
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    for byte in &bytes {
        decoder
            .feed(std::slice::from_ref(byte), &mut frames)
            .unwrap();
    }
    assert_eq!(frames, whole);
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn a_truncated_frame_waits_and_is_reported_as_buffered() {
    let bytes = hex(PAYLOAD_ONE_STR_HEADER);
    for cut in [1, 11, 12, 20, bytes.len() - 1] {
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        decoder.feed(&bytes[..cut], &mut frames).unwrap();
        assert!(frames.is_empty());
        assert_eq!(decoder.buffered(), cut);
        decoder.feed(&bytes[cut..], &mut frames).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(decoder.buffered(), 0);
    }
}

#[test]
fn checksum_mismatches_are_refused() {
    // AWS's negative vectors: a corrupted length fails the prelude checksum;
    // corrupted headers or payload fail the message checksum.
    let good = hex(PAYLOAD_NO_HEADERS);
    let mut length = good.clone();
    length[0] = 0x01;
    assert!(matches!(
        decode_all(&length),
        Err(EventStreamError::PreludeChecksum { .. })
    ));
    let mut header_len = hex(PAYLOAD_ONE_STR_HEADER);
    header_len[4] = 0xff;
    assert!(matches!(
        decode_all(&header_len),
        Err(EventStreamError::PreludeChecksum { .. })
    ));
    let mut headers = hex(PAYLOAD_ONE_STR_HEADER);
    headers[20] = b'+';
    assert!(matches!(
        decode_all(&headers),
        Err(EventStreamError::MessageChecksum { .. })
    ));
    let mut payload = good.clone();
    let last_payload_byte = payload.len() - 5;
    payload[last_payload_byte] = 0x8d;
    let error = decode_all(&payload).unwrap_err();
    assert!(matches!(error, EventStreamError::MessageChecksum { .. }));
    assert!(error.to_string().contains("message checksum mismatch"));
    let mut crc = good;
    let end = crc.len() - 1;
    crc[end] ^= 1;
    assert!(matches!(
        decode_all(&crc),
        Err(EventStreamError::MessageChecksum { .. })
    ));
}

#[test]
fn impossible_lengths_are_refused_before_the_body_arrives() {
    let mut frames = Vec::new();
    for (bytes, expected) in [
        (prelude(15, 0), EventStreamError::FrameTooShort(15)),
        (prelude(0, 0), EventStreamError::FrameTooShort(0)),
        (prelude(20, 5), EventStreamError::HeadersTooLong(5)),
        (
            prelude(u32::MAX, 200 * 1024),
            EventStreamError::HeadersTooLong(200 * 1024),
        ),
        (
            prelude((MAX_FRAME_LEN + 1) as u32, MAX_HEADERS_LEN as u32),
            EventStreamError::PayloadTooLong(MAX_PAYLOAD_LEN + 1),
        ),
    ] {
        // Only the 12-byte prelude is fed: the decoder must not wait for
        // the rest of a frame it will refuse.
        let mut decoder = FrameDecoder::new();
        assert_eq!(decoder.feed(&bytes, &mut frames), Err(expected));
    }
    assert!(frames.is_empty());
    // The largest allowed sizes pass the prelude check and wait for more.
    let mut decoder = FrameDecoder::new();
    let biggest = prelude(MAX_FRAME_LEN as u32, MAX_HEADERS_LEN as u32);
    decoder.feed(&biggest, &mut frames).unwrap();
    assert_eq!(decoder.buffered(), PRELUDE_LEN);
}

#[test]
fn malformed_headers_are_refused() {
    for (headers, reason) in [
        (&b"\x05ab"[..], "name runs past the headers"),
        (b"\x02ab", "type runs past the headers"),
        (b"\x01a\x0a", "unknown value type"),
        (b"\x01a\x04\x00\x00", "value runs past the headers"),
        (b"\x01a\x07\x00\x05abc", "value runs past the headers"),
        (b"\x01a\x07\x00\x02\xff\xfe", "string is not UTF-8"),
        (b"\x01\xff\x00", "name is not UTF-8"),
        (b"\x01a\x09\x00\x01", "value runs past the headers"),
    ] {
        assert_eq!(
            decode_all(&seal(headers, b"")),
            Err(EventStreamError::MalformedHeader(reason)),
            "{headers:?}"
        );
    }
}

#[test]
fn a_failed_decoder_stays_failed() {
    let mut bad = hex(EMPTY_MESSAGE);
    bad[15] ^= 1;
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let first = decoder.feed(&bad, &mut frames).unwrap_err();
    let again = decoder.feed(&hex(EMPTY_MESSAGE), &mut frames).unwrap_err();
    assert_eq!(first, again);
    assert!(frames.is_empty());
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn frames_beyond_the_limits_are_not_written() {
    let mut out = b"kept".to_vec();
    let long_name = "n".repeat(256);
    assert_eq!(
        write_frame(&[(&long_name, "v")], b"", &mut out),
        Err(EventStreamError::HeaderNameTooLong(256))
    );
    let long_value = "v".repeat(65_536);
    assert_eq!(
        write_frame(&[("n", &long_value)], b"", &mut out),
        Err(EventStreamError::HeaderValueTooLong(65_536))
    );
    let bytes = Frame::new(
        vec![Header::new("b", HeaderValue::Bytes(vec![0; 65_536]))],
        vec![],
    );
    assert_eq!(
        bytes.encode(&mut out),
        Err(EventStreamError::HeaderValueTooLong(65_536))
    );
    let many: Vec<Header> = (0..3)
        .map(|i| Header::string(format!("h{i}"), "x".repeat(60_000)))
        .collect();
    assert!(matches!(
        Frame::new(many, vec![]).encode(&mut out),
        Err(EventStreamError::HeadersTooLong(_))
    ));
    let payload = vec![0; MAX_PAYLOAD_LEN + 1];
    assert_eq!(
        write_frame(&[], &payload, &mut out),
        Err(EventStreamError::PayloadTooLong(MAX_PAYLOAD_LEN + 1))
    );
    assert_eq!(out, b"kept");
    // The limits themselves are allowed.
    let max_name = "n".repeat(255);
    let max_value = "v".repeat(65_535);
    write_frame(&[(&max_name, &max_value)], b"", &mut out).unwrap();
    let frame = decode_one(&out[4..]).unwrap();
    assert_eq!(frame.header_str(&max_name), Some(max_value.as_str()));
}

#[test]
fn crc32_matches_the_ieee_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        any::<bool>().prop_map(HeaderValue::Bool),
        any::<i8>().prop_map(HeaderValue::Byte),
        any::<i16>().prop_map(HeaderValue::Int16),
        any::<i32>().prop_map(HeaderValue::Int32),
        any::<i64>().prop_map(HeaderValue::Int64),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(HeaderValue::Bytes),
        "\\PC{0,20}".prop_map(HeaderValue::String),
        any::<i64>().prop_map(HeaderValue::Timestamp),
        any::<[u8; 16]>().prop_map(HeaderValue::Uuid),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        proptest::collection::vec(("[:a-z-]{0,16}", header_value()), 0..6),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(headers, payload)| {
            Frame::new(
                headers
                    .into_iter()
                    .map(|(name, value)| Header::new(name, value))
                    .collect(),
                payload,
            )
        })
}

proptest! {
    #[test]
    fn encoding_then_decoding_is_the_identity_in_any_split(
        frames in proptest::collection::vec(frame(), 1..5),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let mut bytes = Vec::new();
        for frame in &frames {
            frame.encode(&mut bytes).unwrap();
        }
        prop_assert_eq!(&decode_all(&bytes).unwrap(), &frames);
        let mut decoder = FrameDecoder::new();
        let mut decoded = Vec::new();
        for piece in crate::testing::split(&bytes, &cuts) {
            decoder.feed(piece, &mut decoded).unwrap();
        }
        prop_assert_eq!(decoded, frames);
        prop_assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        let _ = decoder.feed(&bytes, &mut frames);
        // A valid prelude followed by garbage exercises the body checks.
        let mut sealed = seal(&bytes, b"");
        let _ = decode_all(&sealed);
        let len = sealed.len();
        sealed[len - 1] ^= 0x55;
        prop_assert!(decode_all(&sealed).is_err());
    }
}
