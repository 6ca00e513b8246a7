//! Reading on, in the background, a metered stream whose client went away,
//! so the key pays the usage the upstream reports at the end.
//!
//! Usage often comes last: OpenAI Chat's usage chunk follows the finish
//! chunk, Bedrock's `metadata` event follows `messageStop`. A client that
//! hangs up between the two would otherwise be charged for no tokens. So a
//! dropped body hands its upstream, its decoder and its guard to a task that
//! reads the rest (discarding the bytes) and settles from what it finds. The
//! task is bounded: it gives up when the upstream is silent for the idle
//! timeout or sends more than `limits.max_body_bytes`, and then the key pays
//! the worst case reserved, since the real usage is unknown. The lane's
//! permit stays held while the upstream connection is still in use.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use busbar_routing::FailureClass;
use bytes::Bytes;
use http_body::Body as _;
use hyper::body::Incoming;

/// How long and how far a stream is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    /// The longest silence between two upstream frames.
    pub(crate) idle: Duration,
    /// The most bytes read after the client left.
    pub(crate) drain_bytes: u64,
}

/// How reading the rest of a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rest {
    /// The upstream body ended: whether the stream was whole is for the
    /// caller, which knows the format, to judge.
    Ended,
    /// The upstream failed (`Some`: what it means for the lane) or Busbar
    /// stopped reading (`None`: the byte cap, or bytes that do not decode).
    Unread(Option<FailureClass>),
}

/// Reads `upstream` to its end, passing each data frame to `feed`, which
/// may stop the reading with a verdict.
pub(super) async fn read_rest(
    mut upstream: Incoming,
    limits: StreamLimits,
    mut feed: impl FnMut(&Bytes) -> Option<Rest>,
) -> Rest {
    let mut read: u64 = 0;
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut upstream).poll_frame(cx));
        match tokio::time::timeout(limits.idle, next).await {
            Err(_) => return Rest::Unread(Some(FailureClass::Timeout)),
            Ok(None) => return Rest::Ended,
            Ok(Some(Err(_))) => return Rest::Unread(Some(FailureClass::Network)),
            Ok(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                read = read.saturating_add(data.len() as u64);
                if read > limits.drain_bytes {
                    return Rest::Unread(None);
                }
                if let Some(verdict) = feed(&data) {
                    return verdict;
                }
            }
        }
    }
}

/// Runs `task` on the current runtime; `false` when there is none (the
/// body was dropped at shutdown), and `task` is dropped unrun.
pub(super) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> bool {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task);
            true
        }
        Err(_) => false,
    }
}
