//! A cancellation signal for long operations: set once by whoever asks (Ctrl-C, the
//! server's cancel of a running run), seen by the operation at its next safe point.
//! A backup checks it before its commit point, so a cancelled backup commits nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Cheap to clone; every clone sees the same signal.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    set: AtomicBool,
    notify: Notify,
}

impl Cancel {
    /// A signal not yet given.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Gives the signal; every waiter wakes.
    pub fn cancel(&self) {
        self.inner.set.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.set.load(Ordering::SeqCst)
    }

    /// Resolves once the signal is given (at once if it was).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}
