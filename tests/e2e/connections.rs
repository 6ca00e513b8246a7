//! Client connection bounds (`limits`): a client that stalls or idles is
//! closed, a stalled body is answered 408, the caps on open connections
//! refuse the connection over them and no other, HTTP/2 connections carry
//! the configured stream limit, and running out of file descriptors makes
//! the accept loop back off instead of spinning (that test lowers busbar's
//! limit with util-linux's `prlimit`).
//!
//! Everything here talks raw TCP, so what the server writes and when it
//! closes is seen exactly. Timeouts are configured at 1 s; each wait allows
//! a few seconds more, far below the 30 s defaults a missing bound would
//! fall back to.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Gateway, Metrics, Setup};

/// Longest a test waits for the server to close a connection it should close.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

async fn gateway(limits: &str) -> Gateway {
    Setup::new()
        .extra(&format!("limits: {{{limits}}}"))
        .start()
        .await
}

async fn connect(gateway: &Gateway) -> TcpStream {
    TcpStream::connect(gateway.busbar.addr())
        .await
        .expect("connect")
}

/// Reads until the server closes the connection (a reset counts as a close)
/// and returns what it sent and how long that took; fails when it stays open
/// for [`CLOSE_WITHIN`].
async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read =
            tokio::time::timeout_at((started + CLOSE_WITHIN).into(), stream.read(&mut chunk))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "still open after {CLOSE_WITHIN:?}; got {:?}",
                        String::from_utf8_lossy(&answer)
                    )
                });
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

/// Sends a keep-alive `GET /healthz` and reads its whole answer, leaving
/// the connection open.
async fn healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: busbar\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + CLOSE_WITHIN;
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a content-length");
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk))
            .await
            .expect("answered in time")
            .expect("read");
        assert!(n > 0, "closed before answering: {text:?}");
        answer.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let gateway = gateway("header_read_timeout_secs: 1").await;
    let mut silent = connect(&gateway).await;
    let (answer, took) = read_until_closed(&mut silent).await;
    assert_eq!(answer, "", "nothing is said to a silent client");
    assert!(took >= Duration::from_millis(900), "closed early: {took:?}");
}

#[tokio::test]
async fn a_request_head_sent_slowly_is_closed_after_the_header_read_timeout() {
    let gateway = gateway("header_read_timeout_secs: 1").await;
    let mut slow = connect(&gateway).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    // One header line every 200 ms: the client is busy, but never done.
    let trickle = async {
        for n in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow
                .write_all(format!("x-slow-{n}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            let mut byte = [0u8; 1];
            if let Ok(read) =
                tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await
            {
                assert!(!matches!(read, Ok(n) if n > 0), "the server answered");
                break;
            }
        }
    };
    tokio::time::timeout(CLOSE_WITHIN, trickle)
        .await
        .expect("the slow head is cut off");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_request_body_that_stalls_is_answered_408_and_the_connection_closed() {
    let gateway = gateway("body_read_timeout_secs: 1").await;
    let body =
        json!({"model": "gpt", "messages": [{"role": "user", "content": "hello"}]}).to_string();
    // Each in its protocol's shape: OpenAI's `timeout` code, Anthropic's
    // `timeout_error` type.
    for (path, pointer, expected) in [
        ("/v1/chat/completions", "/error/code", "timeout"),
        ("/v1/messages", "/error/type", "timeout_error"),
    ] {
        let mut stalled = connect(&gateway).await;
        // The head promises the whole body; only half of it comes.
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: busbar\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stalled.write_all(head.as_bytes()).await.expect("write");
        stalled
            .write_all(&body.as_bytes()[..body.len() / 2])
            .await
            .expect("write");
        let (answer, took) = read_until_closed(&mut stalled).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        let (head, error) = answer.split_once("\r\n\r\n").expect("a head");
        assert!(head.contains("connection: close"), "{path}: {head}");
        let error: serde_json::Value = serde_json::from_str(error).expect("a JSON error");
        assert_eq!(error.pointer(pointer), Some(&json!(expected)), "{error}");
        assert!(
            error
                .to_string()
                .contains("no request body bytes arrived for 1 s"),
            "{error}"
        );
        assert!(took >= Duration::from_millis(900), "{path}: answered early");
    }
    assert!(gateway.received().is_empty(), "nothing went upstream");
}

#[tokio::test]
async fn an_idle_keepalive_connection_is_closed_after_keepalive_idle() {
    // The head timeout is long, so only the idle bound can close it.
    let gateway = gateway("keepalive_idle_secs: 1, header_read_timeout_secs: 20").await;
    let mut idle = connect(&gateway).await;
    let answer = healthz(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (more, took) = read_until_closed(&mut idle).await;
    assert_eq!(more, "");
    assert!(took >= Duration::from_millis(900), "closed early: {took:?}");
}

#[tokio::test]
async fn an_idle_http1_connection_is_also_bound_by_the_header_read_timeout() {
    // hyper counts the head timeout from the end of each response.
    let gateway = gateway("keepalive_idle_secs: 20, header_read_timeout_secs: 1").await;
    let mut idle = connect(&gateway).await;
    assert!(healthz(&mut idle).await.starts_with("HTTP/1.1 200"));
    let (more, took) = read_until_closed(&mut idle).await;
    assert_eq!(more, "");
    assert!(took >= Duration::from_millis(900), "closed early: {took:?}");
}

#[tokio::test]
async fn a_connection_over_the_per_ip_cap_is_refused_and_the_others_stay_served() {
    let gateway = gateway("max_connections_per_ip: 2").await;
    Metrics::ready(&gateway).await;
    // The harness's client has just closed its connections, which busbar
    // may not have noticed yet: retry until both of these are admitted.
    let (mut first, mut second) = {
        let deadline = Instant::now() + CLOSE_WITHIN;
        loop {
            let mut first = connect(&gateway).await;
            let mut second = connect(&gateway).await;
            let a = healthz_or_refused(&mut first).await;
            let b = healthz_or_refused(&mut second).await;
            if a && b {
                break (first, second);
            }
            assert!(Instant::now() < deadline, "never got two connections");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut third = connect(&gateway).await;
    let (refusal, _) = read_until_closed(&mut third).await;
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    assert!(refusal.contains("connection: close"), "{refusal}");
    // The two admitted connections are served as before.
    assert!(healthz(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(healthz(&mut second).await.starts_with("HTTP/1.1 200"));
    // Once one closes, a new connection is admitted.
    drop(first);
    let deadline = Instant::now() + CLOSE_WITHIN;
    loop {
        let mut next = connect(&gateway).await;
        if healthz_or_refused(&mut next).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection admitted after one closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
    let refused = wait_for_counter(
        &gateway,
        "busbar_client_connections_refused_total",
        &[("reason", "max_connections_per_ip")],
    )
    .await;
    assert!(refused >= 1);
}

#[tokio::test]
async fn a_connection_over_the_total_cap_is_refused() {
    let gateway = gateway("max_connections: 1").await;
    let deadline = Instant::now() + CLOSE_WITHIN;
    let mut only = loop {
        let mut only = connect(&gateway).await;
        if healthz_or_refused(&mut only).await {
            break only;
        }
        assert!(Instant::now() < deadline, "never got a connection");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut over = connect(&gateway).await;
    let (refusal, _) = read_until_closed(&mut over).await;
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    assert!(healthz(&mut only).await.starts_with("HTTP/1.1 200"));
}

/// `true` when `GET /healthz` is answered 200 on `stream`, `false` when the
/// connection was refused with 503.
async fn healthz_or_refused(stream: &mut TcpStream) -> bool {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: busbar\r\n\r\n")
        .await
        .expect("write");
    let mut head = [0u8; 12];
    match tokio::time::timeout(CLOSE_WITHIN, stream.read_exact(&mut head)).await {
        Ok(Ok(_)) if head.starts_with(b"HTTP/1.1 200") => {
            // Read the rest of this answer so the connection is idle again.
            let mut rest = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut rest)).await;
            true
        }
        Ok(Ok(_)) if head.starts_with(b"HTTP/1.1 503") => false,
        Ok(Err(_)) => false,
        other => panic!(
            "unexpected answer: {other:?} {:?}",
            String::from_utf8_lossy(&head)
        ),
    }
}

/// Waits until counter `name` with `labels` is positive on `/metrics`.
async fn wait_for_counter(gateway: &Gateway, name: &str, labels: &[(&str, &str)]) -> u64 {
    let deadline = Instant::now() + CLOSE_WITHIN;
    loop {
        // Under a connection cap this read may itself be refused until
        // busbar has noticed the test's connections close.
        let reply = gateway.get("/metrics", &[]).await;
        let value = if reply.status == 200 {
            Metrics::from_text(reply.text()).sum(name, labels)
        } else {
            0
        };
        if value > 0 || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The client connection preface of HTTP/2 with prior knowledge, followed by
/// an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Reads HTTP/2 frames (type and payload) until the connection closes or
/// `stop` says so, given each frame's type, stream id and payload.
async fn h2_frames(
    stream: &mut TcpStream,
    mut stop: impl FnMut(u8, u32, &[u8]) -> bool,
) -> Vec<(u8, Vec<u8>)> {
    let deadline = Instant::now() + CLOSE_WITHIN;
    let mut frames = Vec::new();
    loop {
        let mut header = [0u8; 9];
        match tokio::time::timeout_at(deadline.into(), stream.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return frames,
            Err(_) => panic!("the connection stayed open; frames so far: {frames:?}"),
        }
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; length];
        stream
            .read_exact(&mut payload)
            .await
            .expect("a whole frame");
        let id = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        let done = stop(header[3], id, &payload);
        frames.push((header[3], payload));
        if done {
            return frames;
        }
    }
}

/// The value of setting `id` in a SETTINGS payload.
fn setting(payload: &[u8], id: u16) -> Option<u32> {
    payload.chunks_exact(6).find_map(|entry| {
        (u16::from_be_bytes([entry[0], entry[1]]) == id)
            .then(|| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]))
    })
}

const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const REFUSED_STREAM: u32 = 0x7;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

#[tokio::test]
async fn an_http2_connection_carries_the_configured_stream_limit() {
    let gateway = gateway("http2_max_streams: 7").await;
    let mut h2 = connect(&gateway).await;
    h2.write_all(H2_PREFACE).await.expect("write");
    let frames = h2_frames(&mut h2, |kind, _, _| kind == SETTINGS).await;
    let (_, settings) = frames.last().expect("the server's SETTINGS");
    assert_eq!(setting(settings, SETTINGS_MAX_CONCURRENT_STREAMS), Some(7));
}

/// A HEADERS frame opening stream `id`: `POST /v1/chat/completions` with
/// its body still to come, so the stream stays open. HPACK literals without
/// indexing, so each block stands alone.
fn open_stream(id: u32) -> Vec<u8> {
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    block.extend_from_slice(b"\x04\x14/v1/chat/completions"); // :path
    block.extend_from_slice(b"\x01\x06busbar"); // :authority
    let mut frame = (block.len() as u32).to_be_bytes()[1..].to_vec();
    frame.extend_from_slice(&[HEADERS, 0x4]); // END_HEADERS, not END_STREAM
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(&block);
    frame
}

#[tokio::test]
async fn a_stream_over_the_http2_limit_is_refused_while_the_others_stay_open() {
    let gateway = gateway("http2_max_streams: 2").await;
    let mut h2 = connect(&gateway).await;
    h2.write_all(H2_PREFACE).await.expect("write");
    for id in [1, 3, 5] {
        h2.write_all(&open_stream(id)).await.expect("write");
    }
    let mut resets = Vec::new();
    h2_frames(&mut h2, |kind, id, payload| {
        if kind == RST_STREAM {
            resets.push((
                id,
                u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]),
            ));
        }
        kind == RST_STREAM
    })
    .await;
    assert_eq!(
        resets,
        [(5, REFUSED_STREAM)],
        "only the third stream is refused"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_sent_goaway_and_closed() {
    let gateway = gateway("keepalive_idle_secs: 1, header_read_timeout_secs: 1").await;
    let mut h2 = connect(&gateway).await;
    let started = Instant::now();
    h2.write_all(H2_PREFACE).await.expect("write");
    // Acknowledge the server's settings, then say nothing more.
    h2.write_all(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
        .await
        .expect("write");
    let frames = h2_frames(&mut h2, |_, _, _| false).await;
    assert!(
        frames.iter().any(|(kind, _)| *kind == GOAWAY),
        "no GOAWAY: {frames:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_silent_http2_prior_knowledge_connection_is_closed_after_the_header_read_timeout() {
    // The preface alone, then nothing: the version is known, no request comes.
    let gateway = gateway("header_read_timeout_secs: 1").await;
    let mut h2 = connect(&gateway).await;
    h2.write_all(&H2_PREFACE[..24]).await.expect("write");
    let frames = h2_frames(&mut h2, |_, _, _| false).await;
    assert!(
        frames.iter().any(|(kind, _)| *kind == SETTINGS),
        "the server spoke HTTP/2: {frames:?}"
    );
}

#[tokio::test]
async fn out_of_file_descriptors_accept_backs_off_and_warns_at_most_once_a_second() {
    let gateway = gateway("max_connections: 1000").await;
    let pid = gateway.busbar.pid();
    // Leave busbar a handful of descriptors more than it holds now.
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("busbar's descriptors")
        .count();
    let limit = format!("--nofile={}:", open + 4);
    let lowered = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &limit])
        .status()
        .expect("run prlimit");
    assert!(lowered.success(), "prlimit {limit} failed");
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect(&gateway).await);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let log = gateway.busbar.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("accept failed"))
        .collect();
    assert!(
        (1..=4).contains(&warnings.len()),
        "one warning a second, not one per failure: {warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|line| line.contains("Too many open files")),
        "{warnings:#?}"
    );
    // Descriptors come back as connections close, and busbar serves again.
    drop(held);
    let deadline = Instant::now() + CLOSE_WITHIN;
    loop {
        let mut next = connect(&gateway).await;
        if healthz_or_refused(&mut next).await {
            break;
        }
        assert!(Instant::now() < deadline, "busbar did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
