//! Receive budgets: how many bytes of received messages may wait for the application.
//!
//! Every channel's inbox charges its messages to its connection's budget, and every
//! connection's budget to its runtime's. A message that does not fit is refused: a reliable
//! channel then stops reading (SCTP's window closes and the sender waits, nothing is lost), a
//! partially reliable one drops its oldest messages instead (see `channel.rs`). A remote peer
//! therefore cannot grow our memory past the budget, whatever it sends on however many channels.
//!
//! ```text
//!   runtime budget (every connection)   64 MiB
//!     └ connection budget (every channel, in-band ones too)   4 MiB
//!         └ channel inbox: charged per message: payload capacity + MESSAGE_OVERHEAD
//! ```
//!
//! Underneath the budget, while a channel holds back, the SCTP association keeps what arrives
//! within its receive window (`ConnectionConfig::receive_window`, 2 MiB here), in bytes: the
//! window it advertises shrinks by what waits, so the sender stops rather than memory growing.
//!
//! A reader that refused a message registers a waker; the bytes given back by any reader of
//! the same budget wake it, so no thread polls for room.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Bytes charged per queued message besides its payload: the queue slot and the buffer's
/// header. Without it a flood of empty messages would cost memory and count nothing.
pub(crate) const MESSAGE_OVERHEAD: usize = 64;

/// A byte budget, optionally drawn from a parent budget as well.
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    parent: Option<Arc<Budget>>,
    // Readers waiting for room: woken (`notify_one`, which keeps a permit for a reader not yet
    // waiting) when bytes come back. Weak, so a closed connection leaves nothing behind.
    waiters: Mutex<Vec<Weak<Notify>>>,
    has_waiters: AtomicBool,
}

impl Budget {
    /// A budget of `limit` bytes, also charged to `parent` when given.
    pub(crate) fn new(limit: usize, parent: Option<Arc<Budget>>) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: AtomicUsize::new(0),
            parent,
            waiters: Mutex::new(Vec::new()),
            has_waiters: AtomicBool::new(false),
        })
    }

    /// Bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Charges `bytes` here and to every parent, or nothing if any of them is full. An empty
    /// budget always takes one message, so a message larger than the whole budget still
    /// passes (alone) instead of blocking its channel for good.
    pub(crate) fn try_take(&self, bytes: usize) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used == 0 || used.saturating_add(bytes) <= self.limit)
                    .then(|| used.saturating_add(bytes))
            })
            .is_ok();
        if !taken {
            return false;
        }
        if let Some(parent) = &self.parent
            && !parent.try_take(bytes)
        {
            self.release(bytes);
            return false;
        }
        true
    }

    /// Like [`try_take`](Self::try_take), and on refusal registers `waker` to be woken when
    /// room is made. Tries once more after registering, so room made in between is not missed.
    pub(crate) fn take_or_wait(&self, bytes: usize, waker: &Arc<Notify>) -> bool {
        if self.try_take(bytes) {
            return true;
        }
        self.register(waker);
        self.try_take(bytes)
    }

    /// Gives back bytes charged with [`try_take`](Self::try_take).
    pub(crate) fn give(&self, bytes: usize) {
        if let Some(parent) = &self.parent {
            parent.give(bytes);
        }
        self.release(bytes);
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        if self.has_waiters.load(Ordering::Acquire) {
            let waiters = {
                let mut waiters = self.waiters.lock();
                self.has_waiters.store(false, Ordering::Release);
                std::mem::take(&mut *waiters)
            };
            for waiter in waiters.iter().filter_map(Weak::upgrade) {
                waiter.notify_one();
            }
        }
    }

    fn register(&self, waker: &Arc<Notify>) {
        let mut waiters = self.waiters.lock();
        if !waiters
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(waker)))
        {
            waiters.retain(|w| w.strong_count() > 0);
            waiters.push(Arc::downgrade(waker));
        }
        self.has_waiters.store(true, Ordering::Release);
        // A parent that refused needs to know too: its room may come from another connection.
        if let Some(parent) = &self.parent {
            parent.register(waker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_parent_and_refuses_past_either_limit() {
        let runtime = Budget::new(1000, None);
        let a = Budget::new(600, Some(runtime.clone()));
        let b = Budget::new(600, Some(runtime.clone()));
        assert!(a.try_take(500));
        assert!(!a.try_take(200), "connection budget full");
        assert!(b.try_take(500));
        assert!(!b.try_take(1), "runtime budget full");
        assert_eq!(b.used(), 500, "a refusal by the parent charges nothing");
        assert_eq!(runtime.used(), 1000);
        a.give(500);
        assert_eq!(runtime.used(), 500);
        assert!(b.try_take(100));
    }

    #[test]
    fn an_empty_budget_takes_one_oversized_message() {
        let budget = Budget::new(100, None);
        assert!(budget.try_take(1000));
        assert!(!budget.try_take(1));
        budget.give(1000);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn room_made_wakes_a_refused_reader_even_if_it_is_not_waiting_yet() {
        let runtime = Budget::new(100, None);
        let a = Budget::new(100, Some(runtime.clone()));
        let b = Budget::new(100, Some(runtime.clone()));
        assert!(a.try_take(100));
        let waker = Arc::new(Notify::new());
        assert!(!b.take_or_wait(10, &waker));
        // Room comes from another connection's reader.
        a.give(100);
        let woken = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(1), waker.notified())
                    .await
                    .is_ok()
            });
        assert!(woken, "the permit left by give() wakes the later wait");
        assert!(b.try_take(10));
    }
}
