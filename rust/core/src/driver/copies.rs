//! Sends the datagrams of a sparse reliable message twice.
//!
//! A game's reliable messages are mostly sparse events: an RPC, a chat line, a pickup. When one
//! is lost, SCTP learns of it only from the acknowledgement that never comes: the tail probe
//! (see `probe`) sends it again after a round trip plus the peer's 200 ms delayed
//! acknowledgement, so at 5% loss one event in twenty arrived 300 ms late. Sending each such
//! datagram a second time, a few milliseconds later, makes a late event need both lost (0.25%
//! at 5% loss). The peer's DTLS drops the copy it does not need (replay protection), as it
//! does the probe's.
//!
//! The copies are budgeted, not tied to loss: at most `RATE` bytes a second per connection
//! (with a burst of `BURST`), so sparse events are covered and a bulk transfer or a flood of
//! reliable messages adds next to nothing to a congested link.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Bytes of copies allowed per second, and at once.
const RATE: f64 = 4.0 * 1024.0;
const BURST: f64 = 4.0 * 1024.0;
/// A copy leaves this long after its original: a loss that takes a short burst of datagrams
/// does not take both.
const DELAY: Duration = Duration::from_millis(10);

/// A copy to send: from which local address, to whom, what, and when.
type Pending = (SocketAddr, SocketAddr, Vec<u8>, Instant);

pub(crate) struct ReliableCopies {
    /// Whether a reliable message was sent since the last flush: the datagrams of the next
    /// flush carry it.
    armed: bool,
    budget: f64,
    refilled: Instant,
    pending: VecDeque<Pending>,
}

impl ReliableCopies {
    pub(crate) fn new(now: Instant) -> Self {
        ReliableCopies {
            armed: false,
            budget: BURST,
            refilled: now,
            pending: VecDeque::new(),
        }
    }

    /// A reliable message is being sent: the application datagrams of the next flush get
    /// copies, as the budget allows.
    pub(crate) fn reliable_sent(&mut self) {
        self.armed = true;
    }

    /// Notes an application datagram sent to the peer; copies it if a reliable message is in
    /// this flush and the budget allows.
    pub(crate) fn sent(&mut self, from: SocketAddr, to: SocketAddr, datagram: &[u8], now: Instant) {
        if !self.armed {
            return;
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.budget = (self.budget + elapsed * RATE).min(BURST);
        self.refilled = now;
        let len = datagram.len() as f64;
        if self.budget < len {
            return;
        }
        self.budget -= len;
        self.pending
            .push_back((from, to, datagram.to_vec(), now + DELAY));
    }

    /// The flush is over: later datagrams are not the reliable message's.
    pub(crate) fn flushed(&mut self) {
        self.armed = false;
    }

    /// When the next copy is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.pending.front().map(|copy| copy.3)
    }

    /// The copies due by `now`.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        let mut due = Vec::new();
        while self.pending.front().is_some_and(|copy| copy.3 <= now) {
            if let Some((from, to, data, _)) = self.pending.pop_front() {
                due.push((from, to, data));
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_reliable_flush_is_copied_after_the_delay() {
        let now = Instant::now();
        let mut copies = ReliableCopies::new(now);
        copies.sent(addr(1), addr(2), b"state", now);
        assert_eq!(copies.deadline(), None, "nothing reliable: no copy");
        copies.reliable_sent();
        copies.sent(addr(1), addr(2), b"event", now);
        copies.flushed();
        copies.sent(addr(1), addr(2), b"later", now);
        assert_eq!(copies.deadline(), Some(now + DELAY));
        assert!(copies.due(now).is_empty());
        assert_eq!(
            copies.due(now + DELAY),
            vec![(addr(1), addr(2), b"event".to_vec())]
        );
        assert_eq!(copies.deadline(), None);
    }

    #[test]
    fn copies_are_bounded_by_the_budget() {
        let now = Instant::now();
        let mut copies = ReliableCopies::new(now);
        copies.reliable_sent();
        for _ in 0..100 {
            copies.sent(addr(1), addr(2), &[0; 1200], now);
        }
        let bytes: usize = copies.due(now + DELAY).iter().map(|c| c.2.len()).sum();
        assert!(bytes as f64 <= BURST, "{bytes} bytes of copies at once");
        // A second later the budget allows about RATE bytes more, not the whole flood.
        let later = now + Duration::from_secs(1);
        for _ in 0..100 {
            copies.sent(addr(1), addr(2), &[0; 1200], later);
        }
        let bytes: usize = copies.due(later + DELAY).iter().map(|c| c.2.len()).sum();
        assert!(
            bytes as f64 <= RATE,
            "{bytes} bytes of copies a second later"
        );
        assert!(bytes > 0);
    }
}
