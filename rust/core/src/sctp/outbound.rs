//! The sending half of an association: messages cut into DATA chunks, the congestion window,
//! and loss recovery (RFC 9260 §6-7, partial reliability from RFC 3758).
//!
//! Where this departs from a literal reading of RFC 9260, it is to recover faster without
//! sending more than the window allows:
//! - miss indications follow the "highest TSN newly acknowledged" rule in fast recovery too,
//!   so a second hole found during recovery is retransmitted on its third report instead of
//!   waiting for the retransmission timer;
//! - a retransmitted chunk counts a miss only when a chunk sent after its retransmission is
//!   acknowledged, so a lost retransmission is found from acknowledgements, not from T3.
//!
//! TSNs and SSNs are kept unwrapped (64 bits) inside; only the wire sees 32 and 16 bits.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::rto::Rto;
use super::streams::{Queued, Streams};
use super::wire::{Chunk, DATA_HEADER, Data};

/// How long a message may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reliability {
    /// Until it arrives.
    Reliable,
    /// At most this many retransmissions (0: sent once).
    MaxRetransmits(u32),
    /// Retransmitted until this long after its first transmission. A queued message does not
    /// age: it always gets its first transmission.
    Lifetime(Duration),
}

/// A lifetime this short marks game state: worthless once newer state is queued behind it.
const PERISHABLE: Duration = Duration::from_millis(250);

impl Reliability {
    /// Whether a queued message may be dropped for a newer one (see `unreliable_queue`).
    /// Longer lifetimes and retransmission limits keep what is queued, as reliable does.
    pub(crate) fn is_perishable(&self) -> bool {
        matches!(self, Reliability::Lifetime(lifetime) if *lifetime <= PERISHABLE)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Sent, neither acknowledged nor given up.
    Outstanding,
    /// To be sent again.
    Retransmit,
    /// Acknowledged beyond a gap.
    GapAcked,
    /// Given up (partial reliability); skipped by a FORWARD TSN.
    Abandoned,
}

/// A chunk that has a TSN.
struct Sent {
    tsn: u64,
    message: u64,
    data: Data,
    reliability: Reliability,
    /// When the message's first chunk was first sent.
    first_sent: Instant,
    transmissions: u32,
    fate: Fate,
    /// Counted in the flight size.
    in_flight: bool,
    misses: u32,
    /// The next TSN at this chunk's latest transmission: an acknowledgement of that TSN or a
    /// later one means this transmission should have arrived by now.
    sent_before: u64,
    /// When its latest transmission left.
    sent_at: Instant,
    /// Counted once as a loss that was not one.
    spurious_noted: bool,
    /// When loss detection declared it lost.
    lost_at: Option<Instant>,
}

impl Sent {
    fn len(&self) -> usize {
        self.data.payload.len()
    }

    /// Marks the chunk lost, to be sent again; returns the bytes that leave the flight size.
    fn declare_lost(&mut self, now: Instant) -> usize {
        self.fate = Fate::Retransmit;
        self.lost_at = Some(now);
        self.misses = 0;
        if std::mem::take(&mut self.in_flight) {
            self.len()
        } else {
            0
        }
    }
}

/// Settings of the sending half.
pub(crate) struct OutboundConfig {
    /// Largest SCTP packet, common header included.
    pub(crate) mtu: usize,
    /// Bytes of messages (queued and unacknowledged) accepted before `send` refuses.
    pub(crate) buffer: usize,
    /// Bytes of queued, never-sent perishable messages kept: beyond, the oldest are dropped so
    /// a burst beyond the link's capacity delivers its newest messages.
    pub(crate) unreliable_queue: usize,
    pub(crate) loss_tolerant: bool,
}

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The send buffer is full.
    Full,
    /// Empty messages cannot be sent as DATA chunks.
    Empty,
    /// Larger than the association's largest message.
    TooLarge,
    /// The association is closed.
    Closed,
}

pub(crate) struct Outbound {
    config: OutboundConfig,
    next_message: u64,
    next_tsn: u64,
    /// Everything up to this TSN is acknowledged.
    cumulative: u64,
    /// Everything up to this TSN is acknowledged or abandoned (RFC 3758's advanced peer ack
    /// point); a FORWARD TSN tells the peer when it is ahead of `cumulative`.
    advanced: u64,
    queue: Streams,
    /// TSNs `cumulative + 1 ..` in order.
    sent: VecDeque<Sent>,
    next_ssn: HashMap<u16, u16>,
    buffered: usize,
    buffered_per_stream: HashMap<u16, usize>,
    perishable_queued: usize,
    flight_size: usize,
    pub(crate) cwnd: usize,
    ssthresh: usize,
    partial_bytes_acked: usize,
    peer_rwnd: usize,
    /// Set in fast recovery: the highest TSN outstanding when it began.
    recovery_exit: Option<u64>,
    /// A fast retransmission may leave once, regardless of the window.
    fast_retransmit: bool,
    forward_tsn_due: bool,
    /// One round-trip measurement at a time: (TSN, sent at).
    rtt_probe: Option<(u64, Instant)>,
    t3: Option<Instant>,
    /// RACK (RFC 8985): the latest-sent chunk known delivered, as (sent at, TSN, its round
    /// trip). A chunk sent before it and still unacknowledged a round trip (plus a reordering
    /// allowance) after its own sending is lost: time, not three more acknowledgements, decides,
    /// which is what sparse game traffic needs.
    rack: Option<(Instant, u64, Duration, bool)>,
    rack_deadline: Option<Instant>,
    /// RACK's reordering allowance, in quarters of the lowest round trip: it grows each time
    /// a chunk declared lost turns out to have arrived (a receiver that reorders, or delays
    /// its acknowledgement of a filled hole), and falls back after 16 recoveries without.
    reordering_quarters: u32,
    recoveries_since_spurious: u32,
    /// HyStart++'s rounds: the TSN that ends this one, its lowest RTT and sample count, and
    /// the previous round's lowest RTT.
    round_end: u64,
    round_lowest: Option<Duration>,
    round_samples: u32,
    last_round_lowest: Option<Duration>,
    /// Set when an acknowledgement showed a retransmission was not needed.
    spurious: bool,
    /// The smoothed round trip, copied from the estimator at each sample.
    srtt: Option<Duration>,
    /// Whether chunks may be marked for retransmission (cleared once a scan finds none left).
    retransmit_marked: bool,
    /// The lowest round trip measured: the path without a queue.
    lowest_rtt: Option<Duration>,
    pub(crate) stats: OutboundStats,
}

/// Counters of the sending half.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OutboundStats {
    /// Unreliable messages dropped unsent to keep their queue in bounds.
    pub(crate) dropped_unsent: u64,
    /// Loss events found from acknowledgements (each may retransmit several chunks).
    pub(crate) fast_retransmits: u64,
    /// Retransmission timer expiries.
    pub(crate) timeouts: u64,
    /// Messages given up (partial reliability).
    pub(crate) abandoned: u64,
}

impl Outbound {
    /// Nothing is sent before [`start`](Self::start); messages may be queued.
    pub(crate) fn new(config: OutboundConfig) -> Outbound {
        let mtu = config.mtu;
        Outbound {
            config,
            next_message: 0,
            next_tsn: 1 << 32,
            cumulative: (1 << 32) - 1,
            advanced: (1 << 32) - 1,
            queue: Streams::default(),
            sent: VecDeque::new(),
            next_ssn: HashMap::new(),
            buffered: 0,
            buffered_per_stream: HashMap::new(),
            perishable_queued: 0,
            flight_size: 0,
            // RFC 9260 §7.2.1: min(4 MTU, max(2 MTU, 4380)).
            cwnd: (4 * mtu).min((2 * mtu).max(4380)),
            ssthresh: usize::MAX,
            partial_bytes_acked: 0,
            peer_rwnd: 0,
            recovery_exit: None,
            fast_retransmit: false,
            forward_tsn_due: false,
            rtt_probe: None,
            t3: None,
            lowest_rtt: None,
            retransmit_marked: false,
            spurious: false,
            round_end: 0,
            round_lowest: None,
            round_samples: 0,
            last_round_lowest: None,
            srtt: None,
            rack: None,
            rack_deadline: None,
            reordering_quarters: 1,
            recoveries_since_spurious: 0,
            stats: OutboundStats::default(),
        }
    }

    /// Starts sending at `initial_tsn`, once the handshake has told the peer, with the peer's
    /// first window. Unwrapped TSNs start above 2^32 so `cumulative` never underflows.
    pub(crate) fn start(&mut self, initial_tsn: u32, peer_rwnd: u32) {
        let first = u64::from(initial_tsn) + (1 << 32);
        self.next_tsn = first;
        self.cumulative = first - 1;
        self.advanced = first - 1;
        self.peer_rwnd = peer_rwnd as usize;
        self.ssthresh = peer_rwnd as usize;
    }

    fn max_payload(&self) -> usize {
        (self.config.mtu - super::wire::COMMON_HEADER - DATA_HEADER) & !3
    }

    /// Queues a message.
    pub(crate) fn send(
        &mut self,
        stream: u16,
        ppid: u32,
        data: Bytes,
        ordered: bool,
        reliability: Reliability,
    ) -> Result<(), SendError> {
        if data.is_empty() {
            return Err(SendError::Empty);
        }
        let len = data.len();
        let perishable = reliability.is_perishable();
        if perishable {
            // Newest first: make room by dropping the oldest unsent perishable messages.
            while self.perishable_queued + len > self.config.unreliable_queue {
                let Some(dropped) = self
                    .queue
                    .oldest_unsent_perishable()
                    .and_then(|id| self.queue.remove(id))
                else {
                    break;
                };
                self.release(dropped.stream, dropped.data.len());
                self.perishable_queued -= dropped.data.len();
                self.stats.dropped_unsent += 1;
            }
        }
        if self.buffered + len > self.config.buffer {
            return Err(SendError::Full);
        }
        if perishable {
            self.perishable_queued += len;
        }
        self.buffered += len;
        *self.buffered_per_stream.entry(stream).or_default() += len;
        self.queue.push(Queued {
            id: self.next_message,
            stream,
            ppid,
            ordered,
            reliability,
            data,
            offset: 0,
            ssn: 0,
            first_sent: None,
        });
        self.next_message += 1;
        Ok(())
    }

    fn release(&mut self, stream: u16, len: usize) {
        self.buffered -= len;
        if let Some(bytes) = self.buffered_per_stream.get_mut(&stream) {
            *bytes -= len;
            if *bytes == 0 {
                self.buffered_per_stream.remove(&stream);
            }
        }
    }

    /// Bytes of a stream's messages not yet acknowledged.
    pub(crate) fn buffered_amount(&self, stream: u16) -> usize {
        self.buffered_per_stream.get(&stream).copied().unwrap_or(0)
    }

    /// Bytes of all messages not yet acknowledged.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    pub(crate) fn t3(&self) -> Option<Instant> {
        self.t3
    }

    /// Chunks for one packet with `room` bytes left: retransmissions first, then new data, as
    /// the congestion and receive windows allow.
    pub(crate) fn fill(&mut self, now: Instant, rto: &Rto, mut room: usize) -> Vec<Data> {
        let mut out = Vec::new();
        let fast = std::mem::take(&mut self.fast_retransmit);
        // Retransmissions, lowest TSN first (looked for only while some are marked).
        let scan = if self.retransmit_marked {
            self.sent.len()
        } else {
            0
        };
        let mut complete = true;
        for index in 0..scan {
            if self.sent[index].fate != Fate::Retransmit {
                continue;
            }
            let size = chunk_size(self.sent[index].len());
            if size > room || (!fast && self.flight_size >= self.cwnd) {
                complete = false;
                break;
            }
            if self.give_up(index, now) {
                continue;
            }
            // RFC 9260 §7.2.4 step 4: retransmitting the earliest outstanding chunk restarts
            // the timer, or it would fire while the repair is still on its way.
            if self.is_earliest_outstanding(index) {
                self.t3 = Some(now + rto.get());
            }
            let next_tsn = self.next_tsn;
            let chunk = &mut self.sent[index];
            chunk.transmissions += 1;
            chunk.fate = Fate::Outstanding;
            chunk.in_flight = true;
            chunk.misses = 0;
            chunk.sent_before = next_tsn;
            chunk.sent_at = now;
            self.flight_size += chunk.len();
            room -= size;
            out.push(chunk.data.clone());
        }
        if scan > 0 && complete {
            self.retransmit_marked = false;
        }
        // New chunks. The receive window is honoured except when nothing is in flight, so a
        // closed window is probed (RFC 9260 §6.1 rule A).
        let max_payload = self.max_payload();
        while let Some(queued) = self.queue.next() {
            let len = (queued.data.len() - queued.offset).min(max_payload);
            let size = chunk_size(len);
            if size > room
                || self.flight_size >= self.cwnd
                || (self.flight_size > 0 && len > self.peer_rwnd)
            {
                break;
            }
            let begin = queued.offset == 0;
            if begin {
                if queued.ordered {
                    let next = self.next_ssn.entry(queued.stream).or_default();
                    queued.ssn = *next;
                    *next = next.wrapping_add(1);
                }
                queued.first_sent = Some(now);
                if queued.reliability.is_perishable() {
                    self.perishable_queued -= queued.data.len();
                }
            }
            let payload = queued.data.slice(queued.offset..queued.offset + len);
            queued.offset += len;
            let end = queued.offset == queued.data.len();
            let tsn = self.next_tsn;
            self.next_tsn += 1;
            let data = Data {
                tsn: tsn as u32,
                stream: queued.stream,
                ssn: queued.ssn,
                ppid: queued.ppid,
                begin,
                end,
                unordered: !queued.ordered,
                immediate: false,
                payload,
            };
            self.sent.push_back(Sent {
                tsn,
                message: queued.id,
                data: data.clone(),
                reliability: queued.reliability,
                first_sent: queued.first_sent.unwrap_or(now),
                transmissions: 1,
                fate: Fate::Outstanding,
                in_flight: true,
                misses: 0,
                sent_before: tsn + 1,
                sent_at: now,
                spurious_noted: false,
                lost_at: None,
            });
            if end {
                self.queue.finish_next();
            }
            self.flight_size += len;
            self.peer_rwnd = self.peer_rwnd.saturating_sub(len);
            if self.rtt_probe.is_none() {
                self.rtt_probe = Some((tsn, now));
            }
            room -= size;
            out.push(data);
        }
        if !out.is_empty() && self.t3.is_none() {
            self.t3 = Some(now + rto.get());
        }
        out
    }

    /// Whether no chunk below `sent[index]` still waits for an acknowledgement.
    fn is_earliest_outstanding(&self, index: usize) -> bool {
        self.sent
            .iter()
            .take(index)
            .all(|chunk| matches!(chunk.fate, Fate::GapAcked | Fate::Abandoned))
    }

    /// Gives up the messages of chunks marked for retransmission that may not be sent again,
    /// so that a FORWARD TSN can go in the same packet as what is sent instead.
    pub(crate) fn give_up_due(&mut self, now: Instant) {
        if !self.retransmit_marked {
            return;
        }
        for index in 0..self.sent.len() {
            if self.sent[index].fate == Fate::Retransmit {
                self.give_up(index, now);
            }
        }
    }

    /// Gives up the message of `sent[index]` if its reliability says so; true if it did.
    fn give_up(&mut self, index: usize, now: Instant) -> bool {
        let chunk = &self.sent[index];
        let expired = match chunk.reliability {
            Reliability::Reliable => false,
            Reliability::MaxRetransmits(most) => chunk.transmissions > most,
            Reliability::Lifetime(lifetime) => now >= chunk.first_sent + lifetime,
        };
        if expired {
            self.abandon(chunk.message);
        }
        expired
    }

    /// Abandons every unacknowledged chunk of a message, and its unsent rest.
    fn abandon(&mut self, message: u64) {
        self.stats.abandoned += 1;
        let mut freed = Vec::new();
        for chunk in self
            .sent
            .iter_mut()
            .filter(|chunk| chunk.message == message)
        {
            // A chunk still in the network stays in the flight size until it is acknowledged
            // or found lost: freeing its share of the window early would let a lifetime
            // shorter than the round trip send without any congestion control.
            if matches!(chunk.fate, Fate::Outstanding | Fate::Retransmit) {
                chunk.fate = Fate::Abandoned;
                freed.push((chunk.data.stream, chunk.len()));
            }
        }
        for (stream, len) in freed {
            self.release(stream, len);
        }
        if let Some(queued) = self.queue.remove(message) {
            self.release(queued.stream, queued.data.len() - queued.offset);
        }
        self.advance();
    }

    /// Moves the advanced peer ack point over acknowledged and abandoned chunks.
    fn advance(&mut self) {
        let mut point = self.advanced.max(self.cumulative);
        for chunk in &self.sent {
            if chunk.tsn <= point {
                continue;
            }
            if chunk.tsn == point + 1 && matches!(chunk.fate, Fate::Abandoned | Fate::GapAcked) {
                point = chunk.tsn;
            } else {
                break;
            }
        }
        // Only abandoned chunks justify a FORWARD TSN: ending on a gap-acked one is pointless.
        while point > self.cumulative
            && self
                .sent
                .get((point - self.cumulative - 1) as usize)
                .is_some_and(|chunk| chunk.fate == Fate::GapAcked)
        {
            point -= 1;
        }
        self.advanced = point;
        if self.advanced > self.cumulative {
            self.forward_tsn_due = true;
        }
    }

    /// A FORWARD TSN to send, if the peer must skip abandoned chunks.
    pub(crate) fn forward_tsn(&mut self, now: Instant, rto: &Rto) -> Option<Chunk> {
        if !std::mem::take(&mut self.forward_tsn_due) || self.advanced <= self.cumulative {
            return None;
        }
        // It repairs the earliest hole as a retransmission would: the timer restarts.
        self.t3 = Some(now + rto.get());
        let mut streams: Vec<(u16, u16)> = Vec::new();
        for chunk in self
            .sent
            .iter()
            .take_while(|chunk| chunk.tsn <= self.advanced)
        {
            if chunk.fate == Fate::Abandoned && !chunk.data.unordered {
                match streams
                    .iter_mut()
                    .find(|(stream, _)| *stream == chunk.data.stream)
                {
                    Some(entry) => entry.1 = chunk.data.ssn,
                    None => streams.push((chunk.data.stream, chunk.data.ssn)),
                }
            }
        }
        Some(Chunk::ForwardTsn {
            cumulative: self.advanced as u32,
            streams,
        })
    }

    /// Processes a SACK. Returns false if it was stale or acknowledged what was never sent.
    pub(crate) fn on_sack(
        &mut self,
        now: Instant,
        rto: &mut Rto,
        cumulative: u32,
        a_rwnd: u32,
        gaps: &[(u16, u16)],
    ) -> bool {
        let cumulative = unwrap_tsn(self.cumulative, cumulative);
        if cumulative < self.cumulative || cumulative >= self.next_tsn {
            return false;
        }
        let was_full = self.flight_size + self.max_payload() >= self.cwnd;
        let advanced = cumulative > self.cumulative;
        let mut acked_in_order = 0;
        let mut highest_newly_acked = None;
        let mut spurious = false;
        while self
            .sent
            .front()
            .is_some_and(|chunk| chunk.tsn <= cumulative)
        {
            let chunk = self.sent.pop_front().expect("front exists");
            // Declared lost, yet acknowledged sooner than any repair could have been.
            if chunk
                .lost_at
                .zip(self.lowest_rtt)
                .is_some_and(|(at, lowest)| now.saturating_duration_since(at) < lowest)
                && matches!(chunk.fate, Fate::Retransmit | Fate::Abandoned)
            {
                spurious = true;
            }
            if chunk.in_flight {
                self.flight_size -= chunk.len();
            }
            if matches!(chunk.fate, Fate::Outstanding | Fate::Retransmit) {
                acked_in_order += chunk.len();
                highest_newly_acked = Some(chunk.tsn);
                self.release(chunk.data.stream, chunk.len());
                self.delivered(now, &chunk);
            }
            self.measure(now, rto, &chunk);
        }
        self.cumulative = cumulative;
        self.next_round();
        // A real SACK has a handful of blocks; a hostile one cannot make this loop long.
        for &(start, end) in gaps.iter().take(MAX_GAP_BLOCKS) {
            let (start, end) = (u64::from(start), u64::from(end));
            if start == 0 || end < start {
                continue;
            }
            for tsn in cumulative + start..=cumulative + end {
                let Some(chunk) = self.sent.get_mut((tsn - cumulative - 1) as usize) else {
                    break;
                };
                if chunk.fate == Fate::Abandoned && chunk.in_flight {
                    chunk.in_flight = false;
                    self.flight_size -= chunk.len();
                }
                if chunk.fate == Fate::Abandoned && chunk.lost_at.is_some() && !chunk.spurious_noted
                {
                    // Given up as lost, yet here it is.
                    chunk.spurious_noted = true;
                    spurious = true;
                }
                if !matches!(chunk.fate, Fate::Outstanding | Fate::Retransmit) {
                    continue;
                }
                chunk.fate = Fate::GapAcked;
                if chunk.in_flight {
                    chunk.in_flight = false;
                    self.flight_size -= chunk.len();
                }
                let (stream, len) = (chunk.data.stream, chunk.len());
                highest_newly_acked = Some(tsn);
                self.release(stream, len);
                let chunk = &self.sent[(tsn - cumulative - 1) as usize];
                let (tsn_sent, transmissions) = (chunk.tsn, chunk.transmissions);
                let (sent_at, rtt) = (chunk.sent_at, now.saturating_duration_since(chunk.sent_at));
                self.note_delivered(sent_at, tsn_sent, transmissions, rtt);
                if transmissions == 1
                    && let Some((probe, sent_at)) = self.rtt_probe
                    && probe == tsn_sent
                {
                    let rtt = now.saturating_duration_since(sent_at);
                    rto.sample(rtt);
                    self.srtt = rto.srtt();
                    self.lowest_rtt = Some(self.lowest_rtt.map_or(rtt, |lowest| lowest.min(rtt)));
                    self.rtt_probe = None;
                }
            }
        }
        // Losses: three reports of a hole below the highest TSN this SACK newly acknowledged
        // (RFC 9260 §7.2.4), or RACK's time rule below, whichever comes first.
        let mut lost = false;
        if let Some(highest) = highest_newly_acked {
            for chunk in self.sent.iter_mut() {
                if chunk.tsn >= highest {
                    break;
                }
                if chunk.fate != Fate::Outstanding || highest < chunk.sent_before {
                    continue;
                }
                chunk.misses += 1;
                if chunk.misses >= 3 {
                    self.flight_size -= chunk.declare_lost(now);
                    lost = true;
                }
            }
        }
        self.retransmit_marked |= lost;
        if let Some(exit) = self.recovery_exit
            && cumulative >= exit
        {
            self.recovery_exit = None;
        }
        // The window grows only outside recovery, on new cumulative acknowledgements.
        if advanced && self.recovery_exit.is_none() && was_full {
            let mtu = self.config.mtu;
            if self.cwnd <= self.ssthresh {
                // Slow start counts every byte acknowledged, up to doubling per SACK. RFC 9260's
                // one MTU per SACK assumes a SACK every other packet; a receiver that reads in
                // batches acknowledges a whole batch at once, and the window then grew by one
                // MTU a round trip on a clean link (11 MB/s at 10 ms where webrtc-rs reached
                // 60).
                self.cwnd += acked_in_order.min(self.cwnd);
            } else {
                self.partial_bytes_acked += acked_in_order;
                if self.partial_bytes_acked >= self.cwnd {
                    self.partial_bytes_acked -= self.cwnd;
                    self.cwnd += mtu;
                }
            }
        }
        spurious |= std::mem::take(&mut self.spurious);
        if spurious {
            self.recoveries_since_spurious = 0;
            self.reordering_quarters = (self.reordering_quarters + 1).min(8);
        }
        lost |= self.rack_detect(now);
        if lost {
            self.on_loss(rto);
        }
        self.peer_rwnd = (a_rwnd as usize).saturating_sub(self.flight_size);
        // Partial reliability: chunks given up whose skip the peer has not yet acknowledged.
        self.advance();
        // The timer runs while anything waits for an acknowledgement.
        if self.flight_size == 0 && !self.awaiting_anything() {
            self.t3 = None;
        } else if advanced || self.t3.is_none() {
            self.t3 = Some(now + rto.get());
        }
        true
    }

    /// The window after a loss (TCP Veno's rule, Fu and Liew 2003). The path's queue is
    /// estimated as the part of the window that is waiting rather than travelling:
    /// cwnd * (smoothed RTT - lowest RTT) / smoothed RTT. A loss while that backlog is under
    /// three packets happened with no queue to overflow, so it was random (a radio, a busy
    /// Wi-Fi): the window shrinks by a fifth. With a queue, the loss is congestion and the
    /// window halves as Reno's does, so a congested link is shared as before.
    fn reduced_window(&self, rto: &Rto) -> usize {
        let mtu = self.config.mtu;
        let random = self.config.loss_tolerant
            && match (rto.srtt(), self.lowest_rtt) {
                (Some(srtt), Some(lowest)) if !srtt.is_zero() => {
                    let queued = srtt.saturating_sub(lowest).as_secs_f64() / srtt.as_secs_f64();
                    (self.cwnd as f64 * queued) < (3 * mtu) as f64
                }
                _ => false,
            };
        let reduced = if random {
            self.cwnd * 4 / 5
        } else {
            self.cwnd / 2
        };
        reduced.max(4 * mtu)
    }

    /// Reacts to losses found: one window reduction per recovery, and a retransmission that
    /// may leave at once.
    fn on_loss(&mut self, rto: &Rto) {
        self.stats.fast_retransmits += 1;
        if self.recovery_exit.is_none() {
            self.recoveries_since_spurious += 1;
            if self.recoveries_since_spurious >= 16 {
                self.recoveries_since_spurious = 0;
                self.reordering_quarters = 1;
            }
            self.ssthresh = self.reduced_window(rto);
            self.cwnd = self.ssthresh;
            self.partial_bytes_acked = 0;
            self.recovery_exit = Some(self.next_tsn - 1);
        }
        self.fast_retransmit = true;
        // Karn: no sample across a loss.
        self.rtt_probe = None;
    }

    fn delivered(&mut self, now: Instant, chunk: &Sent) {
        let rtt = now.saturating_duration_since(chunk.sent_at);
        self.note_delivered(chunk.sent_at, chunk.tsn, chunk.transmissions, rtt);
    }

    /// Moves RACK's reference forward to a newly acknowledged chunk.
    fn note_delivered(&mut self, sent_at: Instant, tsn: u64, transmissions: u32, rtt: Duration) {
        // An acknowledgement quicker than any round trip answers an earlier transmission: the
        // retransmission was not needed.
        if transmissions > 1 && self.lowest_rtt.is_some_and(|lowest| rtt < lowest) {
            self.spurious = true;
            return;
        }
        if self
            .rack
            .is_none_or(|(at, known, _, _)| (sent_at, tsn) > (at, known))
        {
            self.rack = Some((sent_at, tsn, rtt, transmissions == 1));
        }
        if transmissions == 1 {
            self.slow_start_sample(rtt);
        }
    }

    /// Marks what RACK finds lost; arms its timer for what may yet be.
    fn rack_detect(&mut self, now: Instant) -> bool {
        self.rack_deadline = None;
        let Some((rack_sent, rack_tsn, rack_rtt, rack_first)) = self.rack else {
            return false;
        };
        // RFC 8985's reordering window: quarters of the lowest round trip, at most the
        // smoothed one.
        let window = self.lowest_rtt.map_or(Duration::ZERO, |lowest| {
            (lowest * self.reordering_quarters / 4).min(self.srtt.unwrap_or(lowest))
        });
        let mut lost = false;
        for chunk in self.sent.iter_mut() {
            // First transmissions leave in TSN order: past the reference's TSN nothing was
            // sent before it (unless the reference itself was a retransmission).
            if rack_first && chunk.tsn > rack_tsn {
                break;
            }
            if chunk.fate != Fate::Outstanding
                || (chunk.sent_at, chunk.tsn) >= (rack_sent, rack_tsn)
            {
                continue;
            }
            let due = chunk.sent_at + rack_rtt + window;
            if now >= due {
                self.flight_size -= chunk.declare_lost(now);
                lost = true;
            } else {
                self.rack_deadline = Some(self.rack_deadline.map_or(due, |at| at.min(due)));
            }
        }
        self.retransmit_marked |= lost;
        lost
    }

    /// When RACK wants to look again without a new acknowledgement.
    pub(crate) fn rack_deadline(&self) -> Option<Instant> {
        self.rack_deadline
    }

    pub(crate) fn on_rack_timer(&mut self, now: Instant, rto: &Rto) {
        if self.rack_deadline.is_some_and(|due| due <= now) && self.rack_detect(now) {
            self.on_loss(rto);
        }
    }

    /// HyStart++ (RFC 9406), its delay test: slow start ends when a round's lowest RTT rises
    /// clearly above the previous round's, that is when a queue starts to build, rather than
    /// when the doubling window overflows it. Byte-counted slow start otherwise overshot a
    /// 100 KB/s bottleneck and lost 6% of a transfer.
    fn slow_start_sample(&mut self, rtt: Duration) {
        if self.cwnd > self.ssthresh {
            return;
        }
        self.round_lowest = Some(self.round_lowest.map_or(rtt, |lowest| lowest.min(rtt)));
        self.round_samples += 1;
        if let (Some(current), Some(last)) = (self.round_lowest, self.last_round_lowest)
            && self.round_samples >= 8
            && current
                >= last + (last / 8).clamp(Duration::from_millis(4), Duration::from_millis(16))
        {
            self.ssthresh = self.cwnd;
        }
    }

    /// A round ends when a chunk sent after it began is acknowledged.
    fn next_round(&mut self) {
        if self.cumulative >= self.round_end {
            self.round_end = self.next_tsn;
            if self.round_lowest.is_some() {
                self.last_round_lowest = self.round_lowest.take();
            }
            self.round_samples = 0;
        }
    }

    fn awaiting_anything(&self) -> bool {
        self.advanced > self.cumulative
            || self
                .sent
                .iter()
                .any(|chunk| matches!(chunk.fate, Fate::Outstanding | Fate::Retransmit))
    }

    fn measure(&mut self, now: Instant, rto: &mut Rto, chunk: &Sent) {
        if chunk.transmissions == 1
            && let Some((probe, sent_at)) = self.rtt_probe
            && probe == chunk.tsn
        {
            let rtt = now.saturating_duration_since(sent_at);
            rto.sample(rtt);
            self.srtt = rto.srtt();
            self.lowest_rtt = Some(self.lowest_rtt.map_or(rtt, |lowest| lowest.min(rtt)));
            self.rtt_probe = None;
        }
    }

    /// The retransmission timer fired (RFC 9260 §6.3.3): everything unacknowledged is sent
    /// again, starting from a one-packet window.
    pub(crate) fn on_t3(&mut self, now: Instant, rto: &mut Rto) {
        if self.t3.is_none_or(|due| due > now) {
            return;
        }
        self.t3 = None;
        if !self.awaiting_anything() {
            return;
        }
        self.stats.timeouts += 1;
        let mtu = self.config.mtu;
        self.ssthresh = (self.cwnd / 2).max(4 * mtu);
        self.cwnd = mtu;
        self.partial_bytes_acked = 0;
        self.recovery_exit = None;
        self.rtt_probe = None;
        rto.back_off();
        self.retransmit_marked = true;
        for chunk in self.sent.iter_mut() {
            if chunk.fate == Fate::Outstanding {
                chunk.fate = Fate::Retransmit;
                chunk.misses = 0;
            }
            if chunk.in_flight {
                chunk.in_flight = false;
                self.flight_size -= chunk.len();
            }
        }
        // Reliability limits apply before anything is sent again.
        let messages: Vec<usize> = (0..self.sent.len()).collect();
        for index in messages {
            if self.sent[index].fate == Fate::Retransmit {
                self.give_up(index, now);
            }
        }
        if self.advanced > self.cumulative {
            self.forward_tsn_due = true;
        }
        self.t3 = Some(now + rto.get());
    }

    /// Whether a FORWARD TSN waits to be sent.
    pub(crate) fn forward_tsn_due(&self) -> bool {
        self.forward_tsn_due && self.advanced > self.cumulative
    }

    /// The TSN the next new chunk gets (for a stream reset request's "last TSN").
    pub(crate) fn last_assigned_tsn(&self) -> u32 {
        (self.next_tsn - 1) as u32
    }

    /// Forgets a stream's sequence numbers (after a stream reset).
    pub(crate) fn reset_stream(&mut self, stream: u16) {
        self.next_ssn.remove(&stream);
    }
}

/// Gap blocks of one SACK that are read.
const MAX_GAP_BLOCKS: usize = 128;

/// Bytes a DATA chunk with `payload` bytes takes in a packet.
pub(crate) fn chunk_size(payload: usize) -> usize {
    (DATA_HEADER + payload).div_ceil(4) * 4
}

/// The 64-bit TSN nearest `reference` whose low 32 bits are `tsn`.
pub(crate) fn unwrap_tsn(reference: u64, tsn: u32) -> u64 {
    let delta = i64::from(tsn.wrapping_sub(reference as u32) as i32);
    reference.saturating_add_signed(delta)
}
