//! The receiving half of an association: which TSNs arrived (what a SACK reports), fragments
//! put back together, ordered streams delivered in sequence, FORWARD TSN's skips.
//!
//! Memory is bounded in bytes: everything held (fragments, messages waiting for an earlier
//! one, messages not yet taken) counts against the receive buffer, whose free part is the
//! window advertised to the peer. A peer that ignores the window loses what exceeds it, except
//! the chunk that fills the first hole, so the association always makes progress; and even
//! that stops at twice the buffer.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::outbound::unwrap_tsn;
use super::wire::{Data, Sack};

/// A message put back together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) stream: u16,
    pub(crate) ppid: u32,
    pub(crate) data: Bytes,
}

/// What a chunk or message held here costs beyond its payload (its entry, its `Data` or
/// `Message`): counted against the buffer, so a peer sending one-byte messages cannot keep
/// hundreds of thousands of entries within a window meant for payload bytes.
const ENTRY_COST: usize = 64;

/// Bytes a payload of `len` is charged.
fn cost(len: usize) -> usize {
    len + ENTRY_COST
}

/// How far beyond the cumulative TSN a chunk may be: more than any window holds.
const MAX_TSN_AHEAD: u64 = 1 << 16;
/// Gap blocks and duplicates a SACK reports, so it fits a packet.
const MAX_GAP_BLOCKS: usize = 64;
const MAX_DUPLICATES: usize = 16;

#[derive(Default)]
struct StreamIn {
    next_ssn: u64,
    /// Complete ordered messages waiting for an earlier one, by unwrapped SSN.
    ready: BTreeMap<u64, Message>,
}

/// Why the association must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A message larger than this side accepts.
    MessageTooLarge,
}

pub(crate) struct Inbound {
    buffer: usize,
    max_message: usize,
    /// Every TSN up to this one has arrived (or was skipped).
    cumulative: u64,
    /// TSNs above `cumulative` that arrived.
    received: BTreeSet<u64>,
    /// Fragments of messages not yet complete, by TSN.
    fragments: BTreeMap<u64, Data>,
    streams: HashMap<u16, StreamIn>,
    delivered: VecDeque<Message>,
    held: usize,
    duplicates: Vec<u32>,
    /// A SACK should leave now (a gap, a duplicate, a request).
    pub(crate) ack_now: bool,
    /// Packets with DATA since the last SACK.
    pub(crate) unacked_packets: u32,
    /// The window the last SACK advertised.
    advertised: u32,
}

impl Inbound {
    pub(crate) fn new(buffer: usize, max_message: usize) -> Inbound {
        Inbound {
            buffer,
            max_message,
            cumulative: 0,
            received: BTreeSet::new(),
            fragments: BTreeMap::new(),
            streams: HashMap::new(),
            delivered: VecDeque::new(),
            held: 0,
            duplicates: Vec::new(),
            ack_now: false,
            unacked_packets: 0,
            advertised: buffer as u32,
        }
    }

    /// Starts at the peer's initial TSN (from its INIT or INIT ACK).
    pub(crate) fn start(&mut self, peer_initial_tsn: u32) {
        self.cumulative = u64::from(peer_initial_tsn) + (1 << 32) - 1;
    }

    /// The window to advertise.
    pub(crate) fn a_rwnd(&self) -> u32 {
        self.buffer.saturating_sub(self.held) as u32
    }

    /// Takes one DATA chunk.
    pub(crate) fn on_data(&mut self, data: Data) -> Result<(), Violation> {
        let tsn = unwrap_tsn(self.cumulative, data.tsn);
        if tsn <= self.cumulative || self.received.contains(&tsn) {
            if self.duplicates.len() < MAX_DUPLICATES {
                self.duplicates.push(data.tsn);
            }
            self.ack_now = true;
            return Ok(());
        }
        if tsn > self.cumulative + MAX_TSN_AHEAD {
            return Ok(());
        }
        let len = data.payload.len();
        let fills_hole = tsn == self.cumulative + 1;
        let limit = if fills_hole {
            2 * self.buffer
        } else {
            self.buffer
        };
        if self.held + cost(len) > limit {
            return Ok(());
        }
        if data.immediate {
            self.ack_now = true;
        }
        self.held += cost(len);
        let had_gaps = !self.received.is_empty();
        self.received.insert(tsn);
        self.fragments.insert(tsn, data);
        self.advance_cumulative();
        if had_gaps || !self.received.is_empty() {
            // Out of order, or a hole filled: tell the sender at once (RFC 9260 §6.7), so its
            // loss detection never mistakes a late chunk for a lost one.
            self.ack_now = true;
        }
        self.assemble(tsn)
    }

    fn advance_cumulative(&mut self) {
        while self.received.remove(&(self.cumulative + 1)) {
            self.cumulative += 1;
        }
    }

    /// Completes the message `tsn` belongs to, if all its fragments are here.
    fn assemble(&mut self, tsn: u64) -> Result<(), Violation> {
        let Some(piece) = self.fragments.get(&tsn) else {
            return Ok(());
        };
        let (stream, unordered, ssn) = (piece.stream, piece.unordered, piece.ssn);
        let same = |other: &Data| {
            other.stream == stream
                && other.unordered == unordered
                && (unordered || other.ssn == ssn)
        };
        let mut first = tsn;
        let mut size = 0;
        loop {
            let Some(chunk) = self.fragments.get(&first) else {
                return Ok(());
            };
            if !same(chunk) {
                return Ok(());
            }
            size += chunk.payload.len();
            if chunk.begin {
                break;
            }
            first -= 1;
        }
        let mut last = tsn;
        loop {
            let Some(chunk) = self.fragments.get(&last) else {
                return Ok(());
            };
            if !same(chunk) || (last != tsn && chunk.begin) {
                return Ok(());
            }
            if last != tsn {
                size += chunk.payload.len();
            }
            if chunk.end {
                break;
            }
            last += 1;
        }
        if size > self.max_message {
            return Err(Violation::MessageTooLarge);
        }
        let mut pieces =
            (first..=last).map(|tsn| self.fragments.remove(&tsn).expect("checked above"));
        let (ppid, data) = if first == last {
            // One fragment: its payload is the message, no copy.
            let chunk = pieces.next().expect("one fragment");
            (chunk.ppid, chunk.payload)
        } else {
            let mut data = BytesMut::with_capacity(size);
            let mut ppid = 0;
            for chunk in pieces {
                ppid = chunk.ppid;
                data.extend_from_slice(&chunk.payload);
            }
            (ppid, data.freeze())
        };
        // The fragments' entries become one message's.
        self.held -= (last - first) as usize * ENTRY_COST;
        let message = Message { stream, ppid, data };
        if unordered {
            self.delivered.push_back(message);
        } else {
            let entry = self.streams.entry(stream).or_default();
            let ssn = unwrap_ssn(entry.next_ssn, ssn);
            if ssn >= entry.next_ssn {
                entry.ready.insert(ssn, message);
            } else {
                // Already skipped by a FORWARD TSN: nobody waits for it.
                self.held -= cost(message.data.len());
            }
            self.release_ready(stream);
        }
        Ok(())
    }

    /// Delivers a stream's messages that are next in sequence.
    fn release_ready(&mut self, stream: u16) {
        let Some(entry) = self.streams.get_mut(&stream) else {
            return;
        };
        while let Some(message) = entry.ready.remove(&entry.next_ssn) {
            entry.next_ssn += 1;
            self.delivered.push_back(message);
        }
    }

    /// A FORWARD TSN: the peer gave up everything up to `cumulative`, and the ordered messages
    /// of `streams` up to their SSN.
    pub(crate) fn on_forward_tsn(&mut self, cumulative: u32, streams: &[(u16, u16)]) {
        self.ack_now = true;
        let skip_to = unwrap_tsn(self.cumulative, cumulative);
        if skip_to <= self.cumulative || skip_to > self.cumulative + MAX_TSN_AHEAD {
            return;
        }
        // Fragments at or below the new point are of given-up messages, except a message that
        // reaches exactly to it and goes on above.
        let mut keep = BTreeSet::new();
        if self.fragments.get(&skip_to).is_some_and(|chunk| !chunk.end) {
            let mut tsn = skip_to;
            while let Some(chunk) = self.fragments.get(&tsn) {
                keep.insert(tsn);
                if chunk.begin {
                    break;
                }
                tsn -= 1;
            }
        }
        let dropped: Vec<u64> = self
            .fragments
            .range(..=skip_to)
            .map(|(&tsn, _)| tsn)
            .filter(|tsn| !keep.contains(tsn))
            .collect();
        for tsn in dropped {
            if let Some(chunk) = self.fragments.remove(&tsn) {
                self.held -= cost(chunk.payload.len());
            }
        }
        self.cumulative = skip_to;
        self.received = self.received.split_off(&(skip_to + 1));
        self.advance_cumulative();
        for &(stream, ssn) in streams {
            let entry = self.streams.entry(stream).or_default();
            let ssn = unwrap_ssn(entry.next_ssn, ssn);
            if ssn < entry.next_ssn {
                continue;
            }
            // Deliver what arrived up to the skipped SSN, in order, then go past it.
            let upto: Vec<u64> = entry.ready.range(..=ssn).map(|(&key, _)| key).collect();
            for key in upto {
                if let Some(message) = entry.ready.remove(&key) {
                    self.delivered.push_back(message);
                }
            }
            entry.next_ssn = ssn + 1;
            self.release_ready(stream);
        }
    }

    /// The next message delivered, if any.
    pub(crate) fn take(&mut self) -> Option<Message> {
        let message = self.delivered.pop_front()?;
        self.held -= cost(message.data.len());
        // A window that has opened by a quarter of the buffer is announced at once: a sender
        // facing a closed window otherwise learns of it only from its next retransmission.
        if self.a_rwnd() >= self.advertised.saturating_add(self.buffer as u32 / 4) {
            self.ack_now = true;
        }
        Some(message)
    }

    /// Whether a SACK should go out now rather than after the delayed-acknowledgement timer.
    pub(crate) fn ack_due_now(&self) -> bool {
        self.ack_now || self.unacked_packets >= 2
    }

    /// The SACK describing what arrived; resets what made one due.
    pub(crate) fn sack(&mut self) -> Sack {
        let base = self.cumulative;
        let mut gaps: Vec<(u16, u16)> = Vec::new();
        for &tsn in &self.received {
            let offset = tsn - base;
            if offset > u64::from(u16::MAX) {
                break;
            }
            let offset = offset as u16;
            match gaps.last_mut() {
                Some((_, end)) if *end + 1 == offset => *end = offset,
                _ => {
                    if gaps.len() == MAX_GAP_BLOCKS {
                        break;
                    }
                    gaps.push((offset, offset));
                }
            }
        }
        self.ack_now = false;
        self.unacked_packets = 0;
        self.advertised = self.a_rwnd();
        Sack {
            cumulative: base as u32,
            a_rwnd: self.advertised,
            gaps,
            duplicates: std::mem::take(&mut self.duplicates),
        }
    }

    /// The cumulative TSN, for a stream reset's check that the peer's last TSN arrived.
    pub(crate) fn cumulative(&self) -> u64 {
        self.cumulative
    }

    /// Unwraps a peer's 32-bit TSN near the cumulative one.
    pub(crate) fn unwrap(&self, tsn: u32) -> u64 {
        unwrap_tsn(self.cumulative, tsn)
    }

    /// Forgets a stream's sequence (the peer reset it): its next message is SSN 0.
    pub(crate) fn reset_stream(&mut self, stream: u16) {
        if let Some(entry) = self.streams.remove(&stream) {
            for message in entry.ready.into_values() {
                self.held -= cost(message.data.len());
            }
        }
    }
}

/// The 64-bit SSN nearest `reference` whose low 16 bits are `ssn`.
fn unwrap_ssn(reference: u64, ssn: u16) -> u64 {
    let delta = i64::from(ssn.wrapping_sub(reference as u16) as i16);
    reference.saturating_add_signed(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tsn: u32, ssn: u16, begin: bool, end: bool, unordered: bool, text: &str) -> Data {
        Data {
            tsn,
            stream: 1,
            ssn,
            ppid: 53,
            begin,
            end,
            unordered,
            immediate: false,
            payload: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    fn texts(inbound: &mut Inbound) -> Vec<String> {
        std::iter::from_fn(|| inbound.take())
            .map(|message| String::from_utf8(message.data.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn fragments_out_of_order_make_ordered_messages_in_sequence() {
        let mut inbound = Inbound::new(1 << 20, 1 << 16);
        // Starts just below the wrap of 32-bit TSNs and 16-bit SSNs.
        inbound.start(u32::MAX - 1);
        inbound.streams.entry(1).or_default().next_ssn = u64::from(u16::MAX);
        let (a, b, c) = (u32::MAX - 1, u32::MAX, 0);
        inbound
            .on_data(chunk(c, 0, true, true, false, "second"))
            .unwrap();
        assert!(texts(&mut inbound).is_empty());
        let sack = inbound.sack();
        assert_eq!(
            (sack.cumulative, sack.gaps.clone()),
            (u32::MAX - 2, vec![(3, 3)])
        );
        inbound
            .on_data(chunk(b, u16::MAX, false, true, false, "rst"))
            .unwrap();
        inbound
            .on_data(chunk(a, u16::MAX, true, false, false, "fi"))
            .unwrap();
        assert_eq!(texts(&mut inbound), ["first", "second"]);
        assert_eq!(inbound.sack().cumulative, 0);
        assert_eq!(inbound.a_rwnd(), 1 << 20);
    }

    #[test]
    fn a_forward_tsn_skips_given_up_messages_and_releases_later_ones() {
        let mut inbound = Inbound::new(1 << 20, 1 << 16);
        inbound.start(10);
        // TSN 10 (ssn 0) lost and given up; 11 (ssn 1) arrived; 12-13 a message cut at 13.
        inbound
            .on_data(chunk(11, 1, true, true, false, "kept"))
            .unwrap();
        inbound
            .on_data(chunk(12, 2, true, false, false, "half"))
            .unwrap();
        inbound.on_forward_tsn(12, &[(1, 0)]);
        assert_eq!(texts(&mut inbound), ["kept"]);
        inbound
            .on_data(chunk(13, 2, false, true, false, "-done"))
            .unwrap();
        assert_eq!(texts(&mut inbound), ["half-done"]);
        assert_eq!(inbound.sack().cumulative, 13);
    }

    #[test]
    fn a_peer_beyond_the_window_cannot_grow_memory_past_it() {
        let mut inbound = Inbound::new(4096, 1 << 20);
        inbound.start(1);
        // A hole at TSN 1, then far more than the window.
        for tsn in 2..200 {
            inbound
                .on_data(chunk(tsn, 0, true, false, true, &"x".repeat(1000)))
                .unwrap();
        }
        assert!(inbound.held <= 4096, "held {}", inbound.held);
        // Three chunks of 1,000 bytes, each charged its entry too.
        assert_eq!(inbound.a_rwnd(), 4096 - 3 * 1064);
    }

    #[test]
    fn an_oversized_message_is_a_violation() {
        let mut inbound = Inbound::new(1 << 20, 8);
        inbound.start(1);
        inbound
            .on_data(chunk(1, 0, true, false, true, "12345"))
            .unwrap();
        assert_eq!(
            inbound.on_data(chunk(2, 0, false, true, true, "6789")),
            Err(Violation::MessageTooLarge)
        );
    }

    #[test]
    fn a_window_that_reopens_is_announced_without_waiting_for_data() {
        let mut inbound = Inbound::new(4000, 1 << 16);
        inbound.start(1);
        for tsn in 1..4 {
            inbound
                .on_data(chunk(tsn, 0, true, true, true, &"x".repeat(1000)))
                .unwrap();
        }
        assert_eq!(inbound.sack().a_rwnd, 4000 - 3 * 1064);
        assert!(!inbound.ack_due_now());
        inbound.take();
        assert!(
            inbound.ack_due_now(),
            "2,000 bytes free again: worth a SACK"
        );
        assert_eq!(inbound.sack().a_rwnd, 4000 - 2 * 1064);
    }

    #[test]
    fn one_byte_messages_never_taken_cost_their_entries_too() {
        // A peer sending one-byte messages to a reader that never takes them: counting
        // payload alone, a 64 KiB window held 65,536 entries (several megabytes); each is
        // charged what it costs.
        let mut inbound = Inbound::new(64 * 1024, 1 << 16);
        inbound.start(1);
        for tsn in 1..100_000u32 {
            inbound
                .on_data(chunk(tsn, 0, true, true, true, "x"))
                .unwrap();
        }
        // Chunks that fill the first hole may go to twice the buffer (see the module docs).
        assert!(inbound.held <= 2 * 64 * 1024);
        assert!(
            inbound.delivered.len() <= 2 * 64 * 1024 / (1 + ENTRY_COST),
            "{}",
            inbound.delivered.len()
        );
        while inbound.take().is_some() {}
        assert_eq!((inbound.held, inbound.a_rwnd()), (0, 64 * 1024));
    }
}
