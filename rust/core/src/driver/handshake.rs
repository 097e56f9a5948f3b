//! Keeps a DTLS handshake from hanging when one of our flights is lost.
//!
//! RFC 6347 (4.2.4): a peer that receives a retransmission of the other side's previous flight
//! retransmits its own last flight, since that flight evidently did not arrive. `rtc-dtls`
//! 0.21.1 does not: a client whose flight 5 is lost goes on receiving the server's repeated
//! flight 4, and each arrival clears its own retransmission timer without re-arming it, so the
//! handshake never completes (6 of 40 setups hung at 10% loss and 50 ms delay). This guard,
//! sans-IO, watches the datagrams: it keeps a copy of our last handshake flight, and when a
//! handshake message arrives that was already seen (a retransmission), it hands the copy back
//! to be sent again. Once application data flows, the handshake is over and the guard stops.
//!
//! (The peer's first flight may also arrive before our ICE has selected a pair: the session
//! answers it at once, over the path it came by; see `session`.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most datagrams and bytes of one flight kept (a flight with a certificate chain is a few
/// datagrams; anything larger is not a handshake worth rescuing).
const MAX_DATAGRAMS: usize = 16;
const MAX_BYTES: usize = 64 * 1024;

/// A retransmitted flight arrives as several datagrams; one resend answers them all.
const RESEND_GAP: Duration = Duration::from_millis(100);

/// Copies of a flight sent back to back (see `SETUP_COPIES` in the output) arrive within this of
/// the first: they are not the peer repeating itself, so they do not call for a resend.
const COPY_WINDOW: Duration = Duration::from_millis(50);

const CHANGE_CIPHER_SPEC: u8 = 20;
const HANDSHAKE: u8 = 22;
pub(super) const APPLICATION_DATA: u8 = 23;
const RECORD_HEADER: usize = 13;
const HANDSHAKE_HEADER: usize = 12;

/// One datagram of our last flight: from which local address, to whom, what.
pub(crate) type Sent = (SocketAddr, SocketAddr, Vec<u8>);

#[derive(Default)]
pub(crate) struct HandshakeGuard {
    flight: Vec<Sent>,
    flight_bytes: usize,
    // Still adding to `flight`: nothing of the peer's handshake arrived since it began.
    flight_open: bool,
    // Highest handshake message sequence number the peer has sent us (in the clear).
    peer_seq: Option<u16>,
    // When the peer's latest new handshake message arrived.
    peer_seq_at: Option<Instant>,
    last_resend: Option<Instant>,
    done: bool,
}

/// The first byte of a DTLS record, if `datagram` starts with one (version 1.0 or 1.2).
pub(super) fn dtls_content(datagram: &[u8]) -> Option<u8> {
    (datagram.len() >= RECORD_HEADER && (20..=23).contains(&datagram[0]) && datagram[1] == 0xfe)
        .then(|| datagram[0])
}

/// The message sequence numbers of the unencrypted (epoch 0) handshake records in `datagram`.
fn clear_handshake_seqs(datagram: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let mut rest = datagram;
    std::iter::from_fn(move || {
        while rest.len() >= RECORD_HEADER {
            let content = rest[0];
            let epoch = u16::from_be_bytes([rest[3], rest[4]]);
            let length = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
            let Some(body) = rest.get(RECORD_HEADER..RECORD_HEADER + length) else {
                rest = &[];
                return None;
            };
            rest = &rest[RECORD_HEADER + length..];
            if content == HANDSHAKE && epoch == 0 && body.len() >= HANDSHAKE_HEADER {
                return Some(u16::from_be_bytes([body[4], body[5]]));
            }
        }
        None
    })
}

impl HandshakeGuard {
    /// Notes a datagram we send.
    pub(crate) fn sent(&mut self, from: SocketAddr, to: SocketAddr, datagram: &[u8]) {
        if self.done {
            return;
        }
        match dtls_content(datagram) {
            Some(APPLICATION_DATA) => self.finish(),
            Some(HANDSHAKE | CHANGE_CIPHER_SPEC) => {
                if !self.flight_open {
                    self.flight.clear();
                    self.flight_bytes = 0;
                    self.flight_open = true;
                }
                if self.flight.len() < MAX_DATAGRAMS
                    && self.flight_bytes + datagram.len() <= MAX_BYTES
                {
                    self.flight_bytes += datagram.len();
                    self.flight.push((from, to, datagram.to_vec()));
                }
            }
            _ => {}
        }
    }

    /// Notes a datagram received; returns our last flight when the datagram shows the peer
    /// never got it (it repeats a handshake message already seen).
    pub(crate) fn received(&mut self, datagram: &[u8], now: Instant) -> Option<&[Sent]> {
        if self.done {
            return None;
        }
        match dtls_content(datagram) {
            Some(APPLICATION_DATA) => {
                self.finish();
                None
            }
            Some(HANDSHAKE | CHANGE_CIPHER_SPEC) => {
                self.flight_open = false;
                let mut repeated = false;
                let copy = self
                    .peer_seq_at
                    .is_some_and(|at| now.duration_since(at) < COPY_WINDOW);
                for seq in clear_handshake_seqs(datagram) {
                    if self.peer_seq.is_some_and(|seen| seq <= seen) {
                        repeated |= !copy;
                    } else {
                        self.peer_seq = Some(seq);
                        self.peer_seq_at = Some(now);
                    }
                }
                let due = self
                    .last_resend
                    .is_none_or(|last| now.duration_since(last) >= RESEND_GAP);
                if repeated && due && !self.flight.is_empty() {
                    self.last_resend = Some(now);
                    return Some(&self.flight);
                }
                None
            }
            _ => None,
        }
    }

    /// The handshake is over: nothing more to keep.
    fn finish(&mut self) {
        self.done = true;
        self.flight = Vec::new();
        self.flight_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram of one DTLS 1.2 record: handshake message `seq` in `epoch`.
    fn record(content: u8, epoch: u16, seq: u16) -> Vec<u8> {
        let mut body = vec![1, 0, 0, 0]; // msg_type, length
        body.extend_from_slice(&seq.to_be_bytes());
        body.extend_from_slice(&[0; 6]); // fragment offset and length
        body.extend_from_slice(b"hello");
        let mut datagram = vec![content, 0xfe, 0xfd];
        datagram.extend_from_slice(&epoch.to_be_bytes());
        datagram.extend_from_slice(&[0, 0, 0, 0, 0, 7]);
        datagram.extend_from_slice(&(body.len() as u16).to_be_bytes());
        datagram.extend_from_slice(&body);
        datagram
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_repeated_peer_flight_brings_our_last_flight_back() {
        let mut guard = HandshakeGuard::default();
        let now = Instant::now();
        // Their flight 4 (seq 1), our flight 5 (two datagrams, the second encrypted).
        assert!(guard.received(&record(HANDSHAKE, 0, 1), now).is_none());
        guard.sent(addr(1), addr(2), &record(HANDSHAKE, 0, 2));
        guard.sent(addr(1), addr(2), &record(CHANGE_CIPHER_SPEC, 0, 0));
        // Flight 4 again: ours was lost.
        let again = guard
            .received(&record(HANDSHAKE, 0, 1), now + Duration::from_secs(1))
            .expect("our flight, to send again");
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].2, record(HANDSHAKE, 0, 2));
        // The rest of the same repeated flight does not resend it twice.
        assert!(
            guard
                .received(&record(HANDSHAKE, 0, 1), now + Duration::from_millis(1010))
                .is_none()
        );
    }

    #[test]
    fn copies_of_the_peers_flight_bring_nothing_back() {
        let mut guard = HandshakeGuard::default();
        let now = Instant::now();
        assert!(guard.received(&record(HANDSHAKE, 0, 1), now).is_none());
        guard.sent(addr(1), addr(2), &record(HANDSHAKE, 0, 2));
        // The same flight's copies, sent back to back, are not the peer repeating itself.
        let copy = now + Duration::from_millis(5);
        assert!(guard.received(&record(HANDSHAKE, 0, 1), copy).is_none());
        // A real retransmission, a timer later, is.
        assert!(
            guard
                .received(&record(HANDSHAKE, 0, 1), now + Duration::from_secs(1))
                .is_some()
        );
    }

    #[test]
    fn the_peers_next_flight_or_encrypted_records_bring_nothing_back() {
        let mut guard = HandshakeGuard::default();
        let now = Instant::now();
        guard.sent(addr(1), addr(2), &record(HANDSHAKE, 0, 0));
        assert!(guard.received(&record(HANDSHAKE, 0, 0), now).is_none());
        guard.sent(addr(1), addr(2), &record(HANDSHAKE, 0, 1));
        assert!(
            guard.received(&record(HANDSHAKE, 0, 1), now).is_none(),
            "a new message"
        );
        assert!(
            guard.received(&record(HANDSHAKE, 1, 0), now).is_none(),
            "encrypted"
        );
    }

    #[test]
    fn application_data_ends_the_watch() {
        let mut guard = HandshakeGuard::default();
        let now = Instant::now();
        assert!(guard.received(&record(HANDSHAKE, 0, 1), now).is_none());
        guard.sent(addr(1), addr(2), &record(HANDSHAKE, 0, 2));
        assert!(
            guard
                .received(&record(APPLICATION_DATA, 1, 0), now)
                .is_none()
        );
        assert!(guard.received(&record(HANDSHAKE, 0, 1), now).is_none());
        assert!(guard.flight.is_empty());
    }

    #[test]
    fn stun_and_truncated_records_are_ignored() {
        let mut guard = HandshakeGuard::default();
        let now = Instant::now();
        guard.sent(addr(1), addr(2), &[0, 1, 0, 0]);
        assert!(guard.flight.is_empty());
        let mut cut = record(HANDSHAKE, 0, 1);
        cut.truncate(20);
        assert!(guard.received(&cut, now).is_none());
        assert!(guard.peer_seq.is_none());
    }
}
