//! The webhook sink: records posted in batches, as a JSON array, from a
//! thread with a runtime of its own.
//!
//! A batch closes when it holds `webhook_batch_records` records or its
//! first record has waited `webhook_batch_ms`. It is posted with
//! `Content-Type: application/json`; a network error, a timeout, a 408, a
//! 429 or a 5xx is retried after 0.5, 1, 2 and 4 s, and a batch that still
//! fails (or meets any other non-2xx status) is dropped and counted. While
//! a batch is being posted or retried, new records wait in the bounded
//! queue, and those that find it full are dropped and counted: a receiver
//! that is down or slow costs records, never a request's time.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{header, Method, Request, Uri};
use http_body_util::Full;
use tokio::sync::mpsc::Receiver;
use tokio::sync::oneshot;

use crate::record::{dropped, Message};
use crate::upstream::{build_client, UpstreamClient};

/// How a batch is closed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    /// The most records in one POST.
    pub(super) records: usize,
    /// How long the first record waits for others.
    pub(super) wait: Duration,
}

/// The waits before each retry of a failed POST.
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// How long one POST may take, connection included.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks `url` and starts the thread that posts `queue` to it.
pub(super) fn start(
    url: &str,
    batching: Batching,
    queue: Receiver<Message>,
) -> std::io::Result<()> {
    let uri: Uri = url
        .parse()
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("busbar-request-log-webhook".into())
        .spawn(move || runtime.block_on(run(uri, batching, queue)))?;
    Ok(())
}

async fn run(uri: Uri, batching: Batching, mut queue: Receiver<Message>) {
    let client = build_client(POST_TIMEOUT);
    let mut batch: Vec<Bytes> = Vec::with_capacity(batching.records);
    loop {
        let mut flushed: Option<oneshot::Sender<()>> = None;
        let mut closed = false;
        match queue.recv().await {
            None => break,
            Some(Message::Flush(done)) => {
                let _ = done.send(());
                continue;
            }
            Some(Message::Record(line)) => batch.push(line),
        }
        let deadline = tokio::time::Instant::now() + batching.wait;
        while batch.len() < batching.records {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Err(_) => break,
                Ok(None) => {
                    closed = true;
                    break;
                }
                Ok(Some(Message::Record(line))) => batch.push(line),
                Ok(Some(Message::Flush(done))) => {
                    flushed = Some(done);
                    break;
                }
            }
        }
        post(&client, &uri, &batch).await;
        batch.clear();
        if let Some(done) = flushed {
            let _ = done.send(());
        }
        if closed {
            break;
        }
    }
}

/// Posts `batch`, retrying what may succeed later; a batch given up is
/// counted as dropped.
async fn post(client: &UpstreamClient, uri: &Uri, batch: &[Bytes]) {
    let body = array(batch);
    let mut waits = BACKOFF.iter();
    loop {
        let failure = match send(client, uri, body.clone()).await {
            Ok(status) if status.is_success() => return,
            Ok(status) => {
                let retry = status.is_server_error()
                    || status == http::StatusCode::REQUEST_TIMEOUT
                    || status == http::StatusCode::TOO_MANY_REQUESTS;
                if !retry {
                    tracing::warn!(%status, records = batch.len(), "the request log webhook refused a batch; it is dropped");
                    dropped("webhook", batch.len() as u64);
                    return;
                }
                format!("status {status}")
            }
            Err(error) => error,
        };
        match waits.next() {
            Some(wait) => tokio::time::sleep(*wait).await,
            None => {
                tracing::warn!(
                    failure,
                    records = batch.len(),
                    "the request log webhook failed every retry; the batch is dropped"
                );
                dropped("webhook", batch.len() as u64);
                return;
            }
        }
    }
}

async fn send(client: &UpstreamClient, uri: &Uri, body: Bytes) -> Result<http::StatusCode, String> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("busbar/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|error| error.to_string())?;
    match tokio::time::timeout(POST_TIMEOUT, client.request(request)).await {
        Err(_) => Err(format!("no answer within {} s", POST_TIMEOUT.as_secs())),
        Ok(Err(error)) => Err(crate::upstream::describe(&error)),
        // The body is not read: the status says it all, and dropping it
        // closes or returns the connection.
        Ok(Ok(response)) => Ok(response.status()),
    }
}

/// `lines` (each a JSON object and a newline) as one JSON array.
fn array(lines: &[Bytes]) -> Bytes {
    let length = lines.iter().map(Bytes::len).sum::<usize>() + 2;
    let mut out = BytesMut::with_capacity(length);
    out.put_u8(b'[');
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.put_u8(b',');
        }
        out.put_slice(line.strip_suffix(b"\n").unwrap_or(line));
    }
    out.put_u8(b']');
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_one_json_array() {
        let lines = [
            Bytes::from("{\"a\":1}\n"),
            Bytes::from("{\"b\":\"x\\ny\"}\n"),
        ];
        let body = array(&lines);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(value, serde_json::json!([{"a": 1}, {"b": "x\ny"}]));
    }
}
