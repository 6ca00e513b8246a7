//! The end of the shutdown grace, as open streams see it.
//!
//! When the grace runs out, each stream still open ends with its format's
//! in-stream error and a clean end of body, rather than a connection cut
//! with no word of why.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Context;

use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;

/// Fired once, at the end of the shutdown grace; clones share it.
#[derive(Clone, Default)]
pub(crate) struct Cutoff {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cut: AtomicBool,
    notify: Arc<Notify>,
}

impl Cutoff {
    /// Ends every open stream that watches this cutoff.
    pub(crate) fn cut(&self) {
        self.inner.cut.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// A watch for one stream.
    pub(crate) fn watch(&self) -> CutoffWatch {
        CutoffWatch {
            cutoff: self.clone(),
            notified: None,
        }
    }
}

/// One stream's view of a [`Cutoff`].
pub(crate) struct CutoffWatch {
    cutoff: Cutoff,
    /// Registered at the first poll, so a stream costs nothing until it
    /// waits.
    notified: Option<Pin<Box<OwnedNotified>>>,
}

impl CutoffWatch {
    /// Whether the cutoff has fired; otherwise `cx` is woken when it does.
    pub(crate) fn poll_cut(&mut self, cx: &mut Context<'_>) -> bool {
        let inner = &self.cutoff.inner;
        if self.notified.is_none() {
            let mut notified = Box::pin(inner.notify.clone().notified_owned());
            notified.as_mut().enable();
            self.notified = Some(notified);
        }
        if inner.cut.load(Ordering::SeqCst) {
            return true;
        }
        let notified = self.notified.as_mut().expect("registered above");
        notified.as_mut().poll(cx).is_ready() || inner.cut.load(Ordering::SeqCst)
    }
}
