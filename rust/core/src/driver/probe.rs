//! Brings traffic back soon after an outage, and a lost tail in about a round trip.
//!
//! The association's retransmission timer doubles on each expiry, up to a second: after an
//! outage the first retransmission that gets through may come a second after the link is back,
//! and a lone lost message waits at least the 200 ms floor. This probe, sans-IO, watches from
//! outside: it keeps the
//! last DTLS application datagrams sent, and when reliable data has stayed unacknowledged for a
//! round trip plus the peer's delayed acknowledgement, it has them sent again. The peer's DTLS
//! drops the copies it already has (replay protection); a lost one arrives, and SCTP's
//! acknowledgement then moves on. While nothing is acknowledged it probes again, at most
//! every `MAX_INTERVAL` (between full probes, with the oldest 2 KiB only), so traffic resumes
//! soon after an outage ends.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most bytes of recent datagrams kept, and sent again per probe: every `FULL_EVERY`th probe
/// of a stall (the first among them) sends up to `PROBE_BYTES`, the ones between only the
/// oldest `PING_BYTES`, enough for the peer to answer as soon as the link is back.
const KEPT_BYTES: usize = 64 * 1024;
const PROBE_BYTES: usize = 16 * 1024;
const PING_BYTES: usize = 2 * 1024;
const FULL_EVERY: u32 = 3;
/// The peer acknowledges a lone message only after its delayed-acknowledgement timer (up to
/// 200 ms: ours is 20 ms, webrtc-rs's 200); a probe before that would resend what is merely
/// unacknowledged yet.
const DELAYED_ACK: Duration = Duration::from_millis(200);
const MARGIN: Duration = Duration::from_millis(20);
/// Probes while nothing is acknowledged come at least this often, so traffic resumes within
/// about this of a link's return.
const MAX_INTERVAL: Duration = Duration::from_millis(100);
/// A round trip assumed until one is measured.
const INITIAL_RTT: Duration = Duration::from_millis(100);

/// A datagram sent: from which local address, to whom, what, when.
pub(crate) type Sent = (SocketAddr, SocketAddr, Vec<u8>, Instant);

pub(crate) struct TailProbe {
    recent: VecDeque<Sent>,
    recent_bytes: usize,
    /// Reliable bytes unacknowledged when the current stall began.
    floor: usize,
    /// Since when nothing was acknowledged (while something is outstanding), and since when
    /// something has been outstanding.
    stalled_since: Option<Instant>,
    busy_since: Option<Instant>,
    probes: u32,
    rtt: Duration,
    /// Whether datagrams are kept: from a reliable send until nothing reliable is outstanding
    /// (other traffic needs no copies).
    recording: bool,
}

impl Default for TailProbe {
    fn default() -> Self {
        TailProbe {
            recent: VecDeque::new(),
            recent_bytes: 0,
            floor: 0,
            stalled_since: None,
            busy_since: None,
            probes: 0,
            rtt: INITIAL_RTT,
            recording: false,
        }
    }
}

impl TailProbe {
    /// A reliable message is being sent: keep the datagrams from now on.
    pub(crate) fn reliable_sent(&mut self) {
        self.recording = true;
    }

    /// Notes an application datagram sent to the peer.
    pub(crate) fn sent(&mut self, from: SocketAddr, to: SocketAddr, datagram: &[u8], now: Instant) {
        if !self.recording {
            return;
        }
        self.recent_bytes += datagram.len();
        self.recent.push_back((from, to, datagram.to_vec(), now));
        while self.recent_bytes > KEPT_BYTES {
            match self.recent.pop_front() {
                Some(old) => self.recent_bytes -= old.2.len(),
                None => break,
            }
        }
    }

    /// The round trip measured on the connection.
    pub(crate) fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// After a pass of the protocol: the reliable bytes still unacknowledged. SCTP also
    /// releases data the peer acknowledged beyond a gap, so a fall in them is no sign the oldest
    /// got through; only a fall below the level the stall began at is.
    pub(crate) fn observe(&mut self, outstanding: usize, now: Instant) {
        if outstanding == 0 {
            self.stalled_since = None;
            self.busy_since = None;
            self.probes = 0;
            self.recording = false;
        } else if self.stalled_since.is_none() || outstanding < self.floor {
            // The first unacknowledged data, or the oldest of it was acknowledged.
            self.stalled_since = Some(now);
            self.busy_since.get_or_insert(now);
            self.floor = outstanding;
            self.probes = 0;
        }
    }

    /// When the next probe is due, if one will be.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let since = self.stalled_since?;
        let first = self.rtt + DELAYED_ACK + MARGIN;
        Some(since + first + first.min(MAX_INTERVAL) * self.probes)
    }

    /// The datagrams to send again now, if a probe is due: those sent since a round trip
    /// before data began to wait (the oldest first: the oldest loss holds everything back).
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        let (Some(deadline), Some(since)) = (self.deadline(), self.busy_since) else {
            return Vec::new();
        };
        if now < deadline {
            return Vec::new();
        }
        let limit = if self.probes.is_multiple_of(FULL_EVERY) {
            PROBE_BYTES
        } else {
            PING_BYTES
        };
        self.probes += 1;
        let from = since.checked_sub(self.rtt).unwrap_or(since);
        let mut bytes = 0;
        self.recent
            .iter()
            .filter(|sent| sent.3 >= from)
            .take_while(|sent| {
                let first = bytes == 0;
                bytes += sent.2.len();
                first || bytes <= limit
            })
            .map(|(from, to, data, _)| (*from, *to, data.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_stall_is_probed_after_a_round_trip_and_the_delayed_acknowledgement() {
        let start = Instant::now();
        let mut probe = TailProbe::default();
        probe.set_rtt(Duration::from_millis(100));
        probe.reliable_sent();
        probe.sent(addr(1), addr(2), b"old", start);
        let t = start + Duration::from_millis(500);
        probe.sent(addr(1), addr(2), b"event", t);
        probe.observe(100, t);
        assert_eq!(probe.deadline(), Some(t + Duration::from_millis(320)));
        assert!(probe.due(t + Duration::from_millis(319)).is_empty());
        let again = probe.due(t + Duration::from_millis(320));
        // What was sent within a round trip before the stall began, not older.
        assert_eq!(again, vec![(addr(1), addr(2), b"event".to_vec())]);
        // Then again at most every MAX_INTERVAL while nothing is acknowledged.
        let next = probe.deadline().unwrap();
        assert!(next <= t + Duration::from_millis(320) + MAX_INTERVAL);
        assert!(next > t + Duration::from_millis(320));
    }

    #[test]
    fn data_acknowledged_beyond_a_gap_does_not_restart_the_wait() {
        let start = Instant::now();
        let mut probe = TailProbe::default();
        probe.observe(100, start);
        let first = probe.deadline();
        // New data, and some acknowledged past the lost oldest: still above where it began.
        probe.observe(300, start + Duration::from_millis(50));
        probe.observe(200, start + Duration::from_millis(100));
        assert_eq!(probe.deadline(), first);
    }

    #[test]
    fn an_acknowledgement_restarts_the_wait_and_nothing_outstanding_ends_it() {
        let start = Instant::now();
        let mut probe = TailProbe::default();
        probe.observe(100, start);
        let later = start + Duration::from_millis(200);
        probe.observe(50, later);
        assert_eq!(
            probe.deadline(),
            Some(later + INITIAL_RTT + DELAYED_ACK + MARGIN)
        );
        probe.observe(0, later);
        assert_eq!(probe.deadline(), None);
        assert!(probe.due(later + Duration::from_secs(10)).is_empty());
    }

    #[test]
    fn between_full_probes_only_the_oldest_datagrams_are_sent() {
        let now = Instant::now();
        let mut probe = TailProbe::default();
        probe.reliable_sent();
        for _ in 0..40 {
            probe.sent(addr(1), addr(2), &[0; 1200], now);
        }
        probe.observe(1, now);
        let sizes: Vec<usize> = (0..FULL_EVERY + 1)
            .map(|_| {
                let at = probe.deadline().unwrap();
                probe.due(at).iter().map(|d| d.2.len()).sum()
            })
            .collect();
        assert!(
            sizes[0] > PING_BYTES && sizes[0] <= PROBE_BYTES,
            "{sizes:?}"
        );
        assert!(
            sizes[1..FULL_EVERY as usize]
                .iter()
                .all(|&b| b > 0 && b <= PING_BYTES)
        );
        assert_eq!(
            sizes[FULL_EVERY as usize], sizes[0],
            "then a full one again"
        );
    }

    #[test]
    fn recent_datagrams_are_bounded_in_bytes() {
        let now = Instant::now();
        let mut probe = TailProbe::default();
        probe.reliable_sent();
        for _ in 0..100 {
            probe.sent(addr(1), addr(2), &[0; 1200], now);
        }
        assert!(probe.recent_bytes <= KEPT_BYTES);
        probe.observe(1, now);
        let again = probe.due(now + Duration::from_secs(1));
        let bytes: usize = again.iter().map(|d| d.2.len()).sum();
        assert!(bytes <= PROBE_BYTES && !again.is_empty());
    }
}
