//! Response bodies: complete bytes, or events fed through a channel so each one leaves as its own
//! frame, with the stream faults (delays, stalls, cuts, in-stream errors) applied on the way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// Frames buffered between the producer task and the connection.
const CHANNEL_CAPACITY: usize = 8;

/// A response body.
#[derive(Debug)]
pub(crate) enum MockBody {
    /// One frame, known length.
    Full(Option<Bytes>),
    /// Frames as a producer task sends them; an `Err` aborts the connection mid-body.
    Channel(mpsc::Receiver<Result<Bytes, io::Error>>),
}

impl MockBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self::Full(Some(bytes))
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Channel(frames) => frames.poll_recv(cx).map(|f| f.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Channel(_) => SizeHint::default(),
        }
    }
}

/// Where and how a stream goes wrong.
#[derive(Debug, Clone, Default)]
pub(crate) enum Cut {
    /// The stream runs to its end.
    #[default]
    None,
    /// End the body cleanly after this many events.
    Truncate(usize),
    /// Fail the body (the connection drops) after this many events.
    Abort(usize),
    /// After this many events send this one, then end.
    Error(usize, Bytes),
    /// After this many events go quiet this long, then carry on.
    Stall(usize, Duration),
    /// A complete reply: send this many bytes of it, then drop the connection.
    AbortReply(usize),
}

impl Cut {
    fn at(&self) -> Option<usize> {
        match self {
            Self::None | Self::AbortReply(_) => None,
            Self::Truncate(at) | Self::Abort(at) | Self::Error(at, _) | Self::Stall(at, _) => {
                Some(*at)
            }
        }
    }
}

/// A body that sends `events` one frame at a time from a task of its own.
///
/// Must be called inside a Tokio runtime.
pub(crate) fn streamed(
    events: Vec<Bytes>,
    first_byte_delay: Option<Duration>,
    interval: Duration,
    cut: Cut,
) -> MockBody {
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::spawn(produce(sender, events, first_byte_delay, interval, cut));
    MockBody::Channel(receiver)
}

async fn produce(
    sender: mpsc::Sender<Result<Bytes, io::Error>>,
    events: Vec<Bytes>,
    first_byte_delay: Option<Duration>,
    interval: Duration,
    cut: Cut,
) {
    if let Some(delay) = first_byte_delay {
        tokio::time::sleep(delay).await;
    }
    let cut_at = cut.at();
    for (index, event) in events.into_iter().enumerate() {
        if cut_at == Some(index) {
            match &cut {
                Cut::None | Cut::AbortReply(_) => {}
                Cut::Truncate(_) => return,
                Cut::Abort(_) => {
                    let error = io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "mock upstream aborted the stream",
                    );
                    let _ = sender.send(Err(error)).await;
                    return;
                }
                Cut::Error(_, error_event) => {
                    let _ = sender.send(Ok(error_event.clone())).await;
                    return;
                }
                Cut::Stall(_, pause) => tokio::time::sleep(*pause).await,
            }
        }
        if index > 0 && !interval.is_zero() {
            tokio::time::sleep(interval).await;
        }
        if sender.send(Ok(event)).await.is_err() {
            return; // the client went away
        }
        // Let the connection write this event before the next one is queued, so events leave in
        // separate writes as a real upstream's do, instead of one coalesced buffer.
        tokio::task::yield_now().await;
    }
    // Only a cut past the last event gets here: the in-stream error follows the whole stream.
    if let Cut::Error(_, error_event) = cut {
        let _ = sender.send(Ok(error_event)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn events(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(format!("e{i};"))).collect()
    }

    async fn drain(mut body: MockBody) -> (String, bool) {
        let mut out = String::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => out.push_str(&String::from_utf8_lossy(
                    &frame.into_data().unwrap_or_default(),
                )),
                Err(_) => return (out, true),
            }
        }
        (out, false)
    }

    #[tokio::test]
    async fn cuts_apply_at_the_right_event() {
        let run = |cut| drain(streamed(events(4), None, Duration::ZERO, cut));
        assert_eq!(run(Cut::None).await, ("e0;e1;e2;e3;".into(), false));
        assert_eq!(run(Cut::Truncate(2)).await, ("e0;e1;".into(), false));
        assert_eq!(run(Cut::Abort(1)).await, ("e0;".into(), true));
        assert_eq!(
            run(Cut::Error(3, Bytes::from_static(b"X"))).await,
            ("e0;e1;e2;X".into(), false)
        );
        assert_eq!(
            run(Cut::Error(9, Bytes::from_static(b"X"))).await,
            ("e0;e1;e2;e3;X".into(), false)
        );
        let stall = Cut::Stall(1, Duration::from_millis(1));
        assert_eq!(run(stall).await, ("e0;e1;e2;e3;".into(), false));
        assert_eq!(run(Cut::Truncate(9)).await, ("e0;e1;e2;e3;".into(), false));
    }

    #[tokio::test]
    async fn full_body_reports_its_length() {
        let body = MockBody::full(Bytes::from_static(b"abc"));
        assert_eq!(body.size_hint().exact(), Some(3));
        assert_eq!(drain(body).await, ("abc".into(), false));
    }
}
