//! An SCTP association for data channels (RFC 8831 over DTLS), sans-IO, with loss recovery
//! tuned for games: a 200 ms retransmission floor instead of SCTP's usual second, a 20 ms
//! delayed acknowledgement, and holes found during fast recovery retransmitted from
//! acknowledgements instead of the timer.
//!
//! ```text
//!            send(stream, ppid, bytes, ordered, reliability)   poll_event, poll_message
//!                         |                                              ^
//!                         v                                              |
//!   +------------------ Association (handshake, tags, timers) ---------------------+
//!   |   outbound.rs: queue -> DATA chunks,             inbound.rs: TSNs -> SACK,    |
//!   |   window, fast retransmit, T3,                    fragments -> messages,      |
//!   |   partial reliability (FORWARD TSN)               ordered delivery            |
//!   |                       rto.rs: retransmission timeout                          |
//!   +-------------------------------------------------------------------------------+
//!                         |                                              ^
//!                         v                                              |
//!           poll_transmit(now) -> packet bytes          handle_packet(now, bytes)
//!                      (wire.rs: chunks, CRC32c; DTLS carries each packet)
//! ```
//!
//! Both sides may start the handshake at once (a browser does): each answers the other's INIT
//! with its own tag, as RFC 9260 §5.2.1 asks, and the association is established by whichever
//! COOKIE ECHO arrives first. The state cookie is kept here rather than signed and sent
//! away: the association runs inside an authenticated DTLS session, so there is no off-path
//! flood to be stateless against, and one peer's INITs only ever replace one remembered INIT.
//!
//! Every input is checked before use: a packet that does not decode, carries the wrong tag,
//! acknowledges what was never sent or exceeds the buffer is dropped, never panics.

mod crc32c;
mod inbound;
mod outbound;
mod rto;
mod streams;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use inbound::Inbound;
pub(crate) use inbound::Message;
use outbound::{Outbound, OutboundConfig};
pub(crate) use outbound::{Reliability, SendError};
use rto::Rto;
use wire::{Chunk, Init, Packet, Reconfig, reconfig_result};

/// Control chunks that may wait to be sent, and stream reset requests of the peer that may
/// wait for their data.
const MAX_CONTROL: usize = 64;
const MAX_PEER_RESETS: usize = 16;

/// The port every data channel association uses (RFC 8841 default).
const PORT: u16 = 5000;

/// Settings of an association.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Largest SCTP packet, common header included: 1191 keeps a DTLS record in a TURN
    /// datagram within IPv6's 1280-byte minimum MTU.
    pub(crate) mtu: usize,
    pub(crate) max_message_size: usize,
    pub(crate) receive_buffer: usize,
    pub(crate) send_buffer: usize,
    pub(crate) unreliable_queue: usize,
    pub(crate) rto_initial: Duration,
    pub(crate) rto_min: Duration,
    pub(crate) rto_max: Duration,
    pub(crate) delayed_ack: Duration,
    pub(crate) streams: u16,
    /// On a loss with no queue behind it, shrink the window by a fifth instead of half
    /// (`outbound::reduced_window`).
    pub(crate) loss_tolerant: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mtu: 1191,
            max_message_size: 256 * 1024,
            receive_buffer: 1024 * 1024,
            send_buffer: 1024 * 1024,
            unreliable_queue: 64 * 1024,
            rto_initial: Duration::from_millis(500),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(1),
            delayed_ack: Duration::from_millis(20),
            streams: 1024,
            loss_tolerant: true,
        }
    }
}

/// What the association reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The handshake completed: messages flow.
    Connected,
    /// The peer reset a stream it sent on (a data channel closing).
    StreamReset(u16),
    /// The peer aborted or shut down the association.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's INIT.
    Listening,
    /// Our INIT is out.
    CookieWait,
    /// Our COOKIE ECHO is out.
    CookieEchoed,
    Established,
    Closed,
}

/// A stream reset we asked for, resent until answered.
struct ResetRequest {
    request: u32,
    last_tsn: u32,
    streams: Vec<u16>,
}

pub(crate) struct Association {
    config: Config,
    state: State,
    random: u64,
    my_tag: u32,
    my_initial_tsn: u32,
    peer_tag: u32,
    /// The cookie we gave the peer, and the INIT it answered.
    my_cookie: Option<(Bytes, Init)>,
    /// The cookie the peer gave us, echoed until acknowledged.
    peer_cookie: Option<Bytes>,
    send_init: bool,
    send_cookie: bool,
    /// T1 (INIT or COOKIE ECHO retransmission).
    t1: Option<Instant>,
    outbound: Outbound,
    inbound: Inbound,
    rto: Rto,
    ack_deadline: Option<Instant>,
    /// Control chunks to send before any data.
    control: VecDeque<Chunk>,
    events: VecDeque<Event>,
    next_reset_request: u32,
    reset_pending: Option<ResetRequest>,
    /// Streams to reset in the next request.
    reset_queue: Vec<u16>,
    reset_deadline: Option<Instant>,
    /// Streams the peer asked to reset after a TSN not yet received: (request, last TSN,
    /// streams).
    peer_resets: Vec<(u32, u64, Vec<u16>)>,
    peer_forward_tsn: bool,
    /// Packets dropped: undecodable, wrong tag, or out of place.
    pub(crate) dropped_packets: u64,
}

impl Association {
    /// A new association. With `connect`, it sends an INIT at once; either way it answers the
    /// peer's. `seed` makes the tags and initial TSN (pass something unpredictable).
    pub(crate) fn new(config: Config, now: Instant, seed: u64, connect: bool) -> Association {
        let rto = Rto::new(config.rto_initial, config.rto_min, config.rto_max);
        let outbound = Outbound::new(OutboundConfig {
            mtu: config.mtu,
            buffer: config.send_buffer,
            unreliable_queue: config.unreliable_queue,
            loss_tolerant: config.loss_tolerant,
        });
        let inbound = Inbound::new(config.receive_buffer, config.max_message_size);
        let mut association = Association {
            config,
            state: State::Listening,
            random: seed ^ 0x2545_f491_4f6c_dd1d,
            my_tag: 0,
            my_initial_tsn: 0,
            peer_tag: 0,
            my_cookie: None,
            peer_cookie: None,
            send_init: false,
            send_cookie: false,
            t1: None,
            outbound,
            inbound,
            rto,
            ack_deadline: None,
            control: VecDeque::new(),
            events: VecDeque::new(),
            next_reset_request: 0,
            reset_pending: None,
            reset_queue: Vec::new(),
            reset_deadline: None,
            peer_resets: Vec::new(),
            peer_forward_tsn: false,
            dropped_packets: 0,
        };
        association.my_tag = association.next_random_nonzero();
        association.my_initial_tsn = association.next_random() as u32;
        association.next_reset_request = association.my_initial_tsn;
        if connect {
            association.state = State::CookieWait;
            association.send_init = true;
            association.t1 = Some(now + association.rto.get());
        }
        association
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: tags only need to differ between associations.
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_random_nonzero(&mut self) -> u32 {
        loop {
            let value = self.next_random() as u32;
            if value != 0 {
                return value;
            }
        }
    }

    pub(crate) fn is_established(&self) -> bool {
        self.state == State::Established
    }

    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Queues a message. It leaves once the handshake is done and the windows allow.
    pub(crate) fn send(
        &mut self,
        stream: u16,
        ppid: u32,
        data: Bytes,
        ordered: bool,
        reliability: Reliability,
    ) -> Result<(), SendError> {
        if self.state == State::Closed {
            return Err(SendError::Closed);
        }
        if data.len() > self.config.max_message_size {
            return Err(SendError::TooLarge);
        }
        // Partial reliability needs FORWARD TSN; without it a message is sent reliably.
        let reliability = if self.state == State::Established && !self.peer_forward_tsn {
            Reliability::Reliable
        } else {
            reliability
        };
        self.outbound.send(stream, ppid, data, ordered, reliability)
    }

    /// The smoothed round trip, once measured.
    pub(crate) fn round_trip(&self) -> Option<Duration> {
        self.rto.srtt()
    }

    #[cfg(test)]
    pub(crate) fn stats(&self) -> outbound::OutboundStats {
        self.outbound.stats
    }

    /// Bytes of all messages not yet acknowledged.
    pub(crate) fn buffered(&self) -> usize {
        self.outbound.buffered()
    }

    /// Bytes of a stream's messages not yet acknowledged.
    pub(crate) fn buffered_amount(&self, stream: u16) -> usize {
        self.outbound.buffered_amount(stream)
    }

    /// Asks the peer to reset streams we send on (closing data channels); their sequence
    /// numbers start again at 0 once it agrees.
    pub(crate) fn reset_streams(&mut self, now: Instant, streams: &[u16]) {
        for &stream in streams {
            self.outbound.reset_stream(stream);
            if !self.reset_queue.contains(&stream) {
                self.reset_queue.push(stream);
            }
        }
        self.start_reset(now);
    }

    /// Sends the queued stream resets as one request, unless one is out already: RFC 6525
    /// §5.1.1 allows one at a time, so those queued meanwhile go in the next.
    fn start_reset(&mut self, now: Instant) {
        if self.reset_pending.is_some() || self.reset_queue.is_empty() {
            return;
        }
        self.next_reset_request = self.next_reset_request.wrapping_add(1);
        self.reset_pending = Some(ResetRequest {
            request: self.next_reset_request,
            last_tsn: self.outbound.last_assigned_tsn(),
            streams: std::mem::take(&mut self.reset_queue),
        });
        self.reset_deadline = Some(now);
    }

    /// Ends the association at once, telling the peer.
    pub(crate) fn abort(&mut self) {
        if self.state != State::Closed {
            self.control.clear();
            self.control.push_back(Chunk::Abort { reflected: false });
            self.state = State::Closed;
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next message received. Messages not taken count against the window the peer is
    /// given: a reader that stops taking them slows the peer down.
    pub(crate) fn poll_message(&mut self) -> Option<Message> {
        self.inbound.take()
    }

    /// Takes a packet the peer sent.
    pub(crate) fn handle_packet(&mut self, now: Instant, bytes: Bytes) {
        let Ok(packet) = Packet::decode(&bytes) else {
            self.dropped_packets += 1;
            return;
        };
        if !self.tag_is_valid(&packet) {
            self.dropped_packets += 1;
            return;
        }
        let mut had_data = false;
        for chunk in packet.chunks {
            if self.state == State::Closed {
                break;
            }
            match chunk {
                Chunk::Init(init) => self.on_init(init),
                Chunk::InitAck(init) => self.on_init_ack(now, init),
                Chunk::CookieEcho(cookie) => self.on_cookie_echo(cookie),
                Chunk::CookieAck => {
                    if self.state == State::CookieEchoed {
                        self.establish();
                    }
                }
                Chunk::Data(data) => {
                    if self.state != State::Established {
                        continue;
                    }
                    had_data = true;
                    if self.inbound.on_data(data).is_err() {
                        self.abort();
                        self.events.push_back(Event::Closed);
                    }
                }
                Chunk::Sack(sack) => {
                    if self.state == State::Established {
                        self.outbound.on_sack(
                            now,
                            &mut self.rto,
                            sack.cumulative,
                            sack.a_rwnd,
                            &sack.gaps,
                        );
                        self.check_peer_resets();
                    }
                }
                Chunk::ForwardTsn {
                    cumulative,
                    streams,
                } => {
                    if self.state == State::Established {
                        self.inbound.on_forward_tsn(cumulative, &streams);
                        self.check_peer_resets();
                    }
                }
                Chunk::Heartbeat(info) => self.queue_control(Chunk::HeartbeatAck(info)),
                Chunk::Reconfig(params) => self.on_reconfig(now, params),
                Chunk::Abort { .. } => {
                    self.state = State::Closed;
                    self.events.push_back(Event::Closed);
                }
                Chunk::Shutdown { .. } => {
                    self.queue_control(Chunk::ShutdownAck);
                    self.state = State::Closed;
                    self.events.push_back(Event::Closed);
                }
                Chunk::ShutdownAck => {
                    self.queue_control(Chunk::ShutdownComplete);
                    self.state = State::Closed;
                    self.events.push_back(Event::Closed);
                }
                Chunk::HeartbeatAck(_) | Chunk::ShutdownComplete => {}
                Chunk::Unknown { kind } => {
                    // RFC 9260 §3.2: the two high bits say whether to go on with the packet.
                    if kind & 0x80 == 0 {
                        break;
                    }
                }
            }
        }
        if had_data {
            self.inbound.unacked_packets += 1;
            self.check_peer_resets();
            if !self.inbound.ack_due_now() && self.ack_deadline.is_none() {
                self.ack_deadline = Some(now + self.config.delayed_ack);
            }
        }
    }

    /// RFC 9260 §8.5: an INIT carries tag 0, a reflected ABORT the sender's own tag, every
    /// other packet ours.
    fn tag_is_valid(&self, packet: &Packet) -> bool {
        let has = |kind: fn(&Chunk) -> bool| packet.chunks.iter().any(kind);
        if has(|chunk| matches!(chunk, Chunk::Init(_))) {
            return packet.verification_tag == 0 && packet.chunks.len() == 1;
        }
        if has(|chunk| matches!(chunk, Chunk::Abort { reflected: true })) {
            return packet.verification_tag == self.peer_tag && self.peer_tag != 0;
        }
        if self.state == State::Listening && self.my_cookie.is_none() {
            return false;
        }
        packet.verification_tag == self.my_tag
    }

    fn my_init(&self, cookie: Option<Bytes>) -> Init {
        Init {
            initiate_tag: self.my_tag,
            a_rwnd: self.inbound.a_rwnd(),
            outbound_streams: self.config.streams,
            inbound_streams: self.config.streams,
            initial_tsn: self.my_initial_tsn,
            forward_tsn: true,
            reconfig: true,
            cookie,
        }
    }

    fn on_init(&mut self, init: Init) {
        if init.initiate_tag == 0 || self.state == State::Established {
            // A restart of an established association is not supported: the peer reconnects
            // through a new DTLS session.
            return;
        }
        self.peer_tag = init.initiate_tag;
        let cookie = Bytes::copy_from_slice(&self.next_random().to_be_bytes());
        self.my_cookie = Some((cookie.clone(), init));
        self.queue_control(Chunk::InitAck(self.my_init(Some(cookie))));
    }

    fn on_init_ack(&mut self, now: Instant, init: Init) {
        if self.state != State::CookieWait || init.initiate_tag == 0 {
            return;
        }
        let Some(cookie) = init.cookie.clone() else {
            return;
        };
        self.peer_tag = init.initiate_tag;
        self.peer_cookie = Some(cookie);
        self.adopt(&init);
        self.state = State::CookieEchoed;
        self.send_init = false;
        self.send_cookie = true;
        self.t1 = Some(now + self.rto.get());
    }

    fn on_cookie_echo(&mut self, cookie: Bytes) {
        let Some((mine, init)) = self.my_cookie.clone() else {
            return;
        };
        if cookie != mine {
            return;
        }
        if self.state != State::Established {
            self.peer_tag = init.initiate_tag;
            self.adopt(&init);
            self.establish();
        }
        self.queue_control(Chunk::CookieAck);
    }

    /// Takes the peer's half of the handshake: its first TSN, window and extensions.
    fn adopt(&mut self, init: &Init) {
        self.inbound.start(init.initial_tsn);
        self.outbound.start(self.my_initial_tsn, init.a_rwnd);
        self.peer_forward_tsn = init.forward_tsn;
    }

    fn establish(&mut self) {
        self.state = State::Established;
        self.send_init = false;
        self.peer_cookie = None;
        self.t1 = None;
        self.events.push_back(Event::Connected);
    }

    fn on_reconfig(&mut self, now: Instant, params: Vec<Reconfig>) {
        if self.state != State::Established {
            return;
        }
        for param in params {
            match param {
                Reconfig::OutgoingReset {
                    request,
                    last_tsn,
                    streams,
                    ..
                } => {
                    let last = self.inbound.unwrap(last_tsn);
                    if !self.peer_resets.iter().any(|(known, ..)| *known == request) {
                        if self.peer_resets.len() >= MAX_PEER_RESETS
                            || streams.len() > usize::from(self.config.streams)
                        {
                            // More waiting requests than a peer has reason to send: refused,
                            // not kept.
                            self.queue_control(Chunk::Reconfig(vec![Reconfig::Response {
                                request,
                                result: reconfig_result::DENIED,
                            }]));
                            continue;
                        }
                        self.peer_resets.push((request, last, streams));
                    }
                    // Answered once the data before the reset has arrived.
                    self.check_peer_resets();
                    if self.peer_resets.iter().any(|(known, ..)| *known == request) {
                        self.queue_control(Chunk::Reconfig(vec![Reconfig::Response {
                            request,
                            result: reconfig_result::IN_PROGRESS,
                        }]));
                    }
                }
                Reconfig::Response { request, result } => {
                    if self
                        .reset_pending
                        .as_ref()
                        .is_some_and(|pending| pending.request == request)
                        && result != reconfig_result::IN_PROGRESS
                    {
                        self.reset_pending = None;
                        self.reset_deadline = None;
                        self.start_reset(now);
                    }
                }
                Reconfig::Other {
                    request: Some(request),
                    ..
                } => self
                    .control
                    .push_back(Chunk::Reconfig(vec![Reconfig::Response {
                        request,
                        result: reconfig_result::DENIED,
                    }])),
                Reconfig::Other { request: None, .. } => {}
            }
        }
    }

    /// Performs the peer's stream resets whose data has all arrived.
    fn check_peer_resets(&mut self) {
        let cumulative = self.inbound.cumulative();
        let mut index = 0;
        while index < self.peer_resets.len() {
            if self.peer_resets[index].1 > cumulative {
                index += 1;
                continue;
            }
            let (request, _, streams) = self.peer_resets.remove(index);
            for stream in streams {
                self.inbound.reset_stream(stream);
                self.events.push_back(Event::StreamReset(stream));
            }
            self.queue_control(Chunk::Reconfig(vec![Reconfig::Response {
                request,
                result: reconfig_result::PERFORMED,
            }]));
        }
    }

    /// Queues a control chunk to answer the peer. What a packet asks for (heartbeat and
    /// reconfiguration answers) is bounded: past `MAX_CONTROL` waiting, the peer's request goes
    /// unanswered and it asks again.
    fn queue_control(&mut self, chunk: Chunk) {
        if self.control.len() < MAX_CONTROL {
            self.control.push_back(chunk);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.t1,
            self.outbound.t3(),
            self.outbound.rack_deadline(),
            self.ack_deadline,
            self.reset_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.t1.is_some_and(|due| due <= now) {
            self.rto.back_off();
            self.t1 = Some(now + self.rto.get());
            match self.state {
                State::CookieWait => self.send_init = true,
                State::CookieEchoed => self.send_cookie = true,
                _ => self.t1 = None,
            }
        }
        if self.state == State::Established {
            self.outbound.on_rack_timer(now, &self.rto);
            self.outbound.on_t3(now, &mut self.rto);
        }
        if self.ack_deadline.is_some_and(|due| due <= now) {
            self.ack_deadline = None;
            self.inbound.ack_now = true;
        }
    }

    /// The next packet to send, if any.
    pub(crate) fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.send_init {
            self.send_init = false;
            return Some(self.packet(0, vec![Chunk::Init(self.my_init(None))]));
        }
        let mut chunks = Vec::new();
        let mut room = self.config.mtu - wire::COMMON_HEADER;
        while let Some(chunk) = self.control.front() {
            let size = chunk.encoded_len();
            if size > room && !chunks.is_empty() {
                break;
            }
            room = room.saturating_sub(size);
            chunks.push(self.control.pop_front().expect("front exists"));
        }
        let closed = self.state == State::Closed;
        if self.state == State::CookieEchoed
            && std::mem::take(&mut self.send_cookie)
            && let Some(cookie) = self.peer_cookie.clone()
        {
            room = room.saturating_sub(cookie.len() + 4);
            chunks.push(Chunk::CookieEcho(cookie));
        }
        if !closed && self.state == State::Established {
            if self.inbound.ack_due_now() {
                let sack = Chunk::Sack(self.inbound.sack());
                room = room.saturating_sub(sack.encoded_len());
                chunks.push(sack);
                self.ack_deadline = None;
            }
            self.outbound.give_up_due(now);
            if self.outbound.forward_tsn_due()
                && let Some(forward) = self.outbound.forward_tsn(now, &self.rto)
            {
                room = room.saturating_sub(forward.encoded_len());
                chunks.push(forward);
            }
            if self.reset_deadline.is_some_and(|due| due <= now)
                && let Some(pending) = &self.reset_pending
            {
                let request = Chunk::Reconfig(vec![Reconfig::OutgoingReset {
                    request: pending.request,
                    response: 0,
                    last_tsn: pending.last_tsn,
                    streams: pending.streams.clone(),
                }]);
                room = room.saturating_sub(request.encoded_len());
                chunks.push(request);
                self.reset_deadline = Some(now + self.rto.get());
            }
            for data in self.outbound.fill(now, &self.rto, room) {
                chunks.push(Chunk::Data(data));
            }
        }
        if chunks.is_empty() {
            return None;
        }
        let tag = if closed && self.peer_tag == 0 {
            0
        } else {
            self.peer_tag
        };
        Some(self.packet(tag, chunks))
    }

    fn packet(&self, tag: u32, chunks: Vec<Chunk>) -> Vec<u8> {
        Packet {
            source_port: PORT,
            destination_port: PORT,
            verification_tag: tag,
            chunks,
        }
        .encode()
    }
}

/// For the fuzz target: an established pair of associations with data flowing, then each
/// fuzzed piece of `input` (two length bytes, then chunk bytes) wrapped in a packet with the
/// right tag and checksum and handed to one of them, with time moving on. Panics if memory
/// grows past the configured buffers or a pair stops delivering.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_chunks(input: &[u8]) {
    let start = Instant::now();
    let config = Config {
        receive_buffer: 64 * 1024,
        send_buffer: 64 * 1024,
        ..Config::default()
    };
    let mut a = Association::new(config.clone(), start, 1, true);
    let mut b = Association::new(config.clone(), start, 2, false);
    let exchange = |now: Instant, a: &mut Association, b: &mut Association| {
        for _ in 0..20 {
            let mut moved = false;
            while let Some(packet) = a.poll_transmit(now) {
                b.handle_packet(now, packet.into());
                moved = true;
            }
            while let Some(packet) = b.poll_transmit(now) {
                a.handle_packet(now, packet.into());
                moved = true;
            }
            while a.poll_message().is_some() || b.poll_message().is_some() {}
            while a.poll_event().is_some() || b.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
    };
    exchange(start, &mut a, &mut b);
    let _ = a.send(
        1,
        53,
        Bytes::from_static(b"before"),
        true,
        Reliability::Reliable,
    );
    let _ = b.send(
        2,
        53,
        Bytes::from_static(b"unordered"),
        false,
        Reliability::MaxRetransmits(0),
    );
    let mut rest = input;
    let mut now = start;
    let mut turn = 0u32;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let chunks = &rest[2..2 + len];
        rest = &rest[2 + len..];
        turn += 1;
        now += Duration::from_millis(u64::from(turn % 7) * 30);
        let target = if turn.is_multiple_of(2) {
            &mut a
        } else {
            &mut b
        };
        let mut packet = Vec::with_capacity(12 + chunks.len());
        packet.extend_from_slice(&PORT.to_be_bytes());
        packet.extend_from_slice(&PORT.to_be_bytes());
        packet.extend_from_slice(&target.my_tag.to_be_bytes());
        packet.extend_from_slice(&[0; 4]);
        packet.extend_from_slice(chunks);
        let checksum = wire::crc32c(&packet);
        packet[8..12].copy_from_slice(&checksum.to_le_bytes());
        target.handle_packet(now, packet.into());
        target.handle_timeout(now);
        exchange(now, &mut a, &mut b);
        for association in [&a, &b] {
            assert!(association.inbound.a_rwnd() as usize <= config.receive_buffer);
            assert!(association.outbound.buffered() <= config.send_buffer);
        }
    }
}
