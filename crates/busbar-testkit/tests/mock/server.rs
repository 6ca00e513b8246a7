//! Lifecycle, recording and options: the thread-hosted variant, recording off, pacing, shutdown.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;

use busbar_testkit::{sse, MockOptions, MockUpstream};

use crate::support::{mock, post, OPENAI};

const PATH: &str = "/v1/chat/completions";

fn request(stream: bool) -> serde_json::Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "a b c d e f g h"}]})
}

#[test]
fn thread_hosted_mock_serves_sync_callers_and_stops_on_drop() {
    let upstream = MockUpstream::start_in_thread(MockOptions::default()).expect("start");
    assert_eq!(
        upstream.base_url(),
        format!("http://127.0.0.1:{}", upstream.addr().port())
    );
    let body = request(false).to_string();
    let mut stream = std::net::TcpStream::connect(upstream.addr()).expect("connect");
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Echo: a b c d e f g h"));
    assert_eq!(upstream.received().len(), 1);

    let addr = upstream.addr();
    drop(upstream);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener closes with the handle"
    );
}

#[tokio::test]
async fn recording_can_be_turned_off_but_requests_are_counted() {
    let upstream = MockUpstream::start_with(MockOptions::default().record(false))
        .await
        .expect("start");
    for _ in 0..3 {
        assert_eq!(
            post(&upstream, PATH, OPENAI, &request(false)).await.status,
            200
        );
    }
    assert!(upstream.received().is_empty());
    assert_eq!(upstream.request_count(), 3);
    upstream.clear();
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn paced_streams_arrive_event_by_event() {
    let options = MockOptions::default()
        .event_interval(Duration::from_millis(15))
        .words_per_delta(1);
    let upstream = MockUpstream::start_with(options).await.expect("start");
    let answer = post(&upstream, PATH, OPENAI, &request(true)).await;
    let events = answer.events();
    // role chunk, nine one-word deltas, the finish chunk and [DONE]
    assert_eq!(events.len(), 12);
    assert_eq!(answer.frames, events.len(), "each event is its own frame");
    let text: String = events
        .iter()
        .filter_map(|e| e.json())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Echo: a b c d e f g h");
    assert_eq!(sse::event_names(&events).len(), 12);
}

#[tokio::test]
async fn ids_are_distinct_and_the_mock_stops_when_dropped() {
    let upstream = mock().await;
    let first = post(&upstream, PATH, OPENAI, &request(false)).await.json();
    let second = post(&upstream, PATH, OPENAI, &request(false)).await.json();
    assert_ne!(first["id"], second["id"]);
    let addr = upstream.addr();
    drop(upstream);
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        closed,
        "the listener closes soon after the handle is dropped"
    );
}
