//! The association against itself and against webrtc-rs's SCTP (`rtc::sctp`, what Chromium,
//! libdatachannel and our current connections already interoperate with), through the link
//! simulator, in virtual time: a 20 s transfer takes a fraction of a second to run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::sctp::{
    Association as TheirAssociation, AssociationHandle, ClientConfig, DatagramEvent, Endpoint,
    EndpointConfig, Event as TheirEvent, Payload, PayloadProtocolIdentifier, ReliabilityType,
    ServerConfig, StreamEvent, TransportConfig,
};
use rtc::shared::TransportProtocol;

use super::*;
use crate::conditions::{Datagram, LinkSimulator, NetworkConditions};

/// One end of the link, whichever SCTP it runs.
trait End {
    fn send(&mut self, now: Instant, stream: u16, data: &[u8], reliable: bool);
    fn handle(&mut self, now: Instant, bytes: &[u8]);
    fn transmit(&mut self, now: Instant) -> Vec<Vec<u8>>;
    fn timeout(&self) -> Option<Instant>;
    fn on_timeout(&mut self, now: Instant);
    /// Messages received since the last call: (stream, bytes, when).
    fn received(&mut self) -> Vec<(u16, Vec<u8>)>;
    fn connected(&self) -> bool;
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}

struct Ours {
    association: Association,
    connected: bool,
    inbox: Vec<(u16, Vec<u8>)>,
    resets: Vec<u16>,
}

impl Ours {
    fn new(now: Instant, seed: u64, connect: bool) -> Ours {
        Ours::with(Config::default(), now, seed, connect)
    }
    fn with(config: Config, now: Instant, seed: u64, connect: bool) -> Ours {
        Ours {
            association: Association::new(config, now, seed, connect),
            connected: false,
            inbox: Vec::new(),
            resets: Vec::new(),
        }
    }
    fn drain(&mut self) {
        while let Some(event) = self.association.poll_event() {
            match event {
                Event::Connected => self.connected = true,
                Event::StreamReset(stream) => self.resets.push(stream),
                Event::Closed => {}
            }
        }
        while let Some(message) = self.association.poll_message() {
            self.inbox.push((message.stream, message.data.to_vec()));
        }
    }
}

impl End for Ours {
    fn send(&mut self, _now: Instant, stream: u16, data: &[u8], reliable: bool) {
        let (ordered, reliability) = if reliable {
            (true, Reliability::Reliable)
        } else {
            // What Godot's unreliable channels ask for: a 1 ms lifetime.
            (false, Reliability::Lifetime(Duration::from_millis(1)))
        };
        self.association
            .send(
                stream,
                53,
                Bytes::copy_from_slice(data),
                ordered,
                reliability,
            )
            .expect("the send buffer holds a test's messages");
    }
    fn handle(&mut self, now: Instant, bytes: &[u8]) {
        self.association
            .handle_packet(now, Bytes::copy_from_slice(bytes));
        self.drain();
    }
    fn transmit(&mut self, now: Instant) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.association.poll_transmit(now)).collect()
    }
    fn timeout(&self) -> Option<Instant> {
        self.association.poll_timeout()
    }
    fn on_timeout(&mut self, now: Instant) {
        self.association.handle_timeout(now);
        self.drain();
    }
    fn received(&mut self) -> Vec<(u16, Vec<u8>)> {
        std::mem::take(&mut self.inbox)
    }
    fn connected(&self) -> bool {
        self.connected
    }
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// webrtc-rs's association behind its endpoint, as `rtc` drives it.
struct Theirs {
    endpoint: Endpoint,
    association: Option<(AssociationHandle, TheirAssociation)>,
    peer: SocketAddr,
    connected: bool,
    inbox: Vec<(u16, Vec<u8>)>,
    opened: std::collections::HashSet<u16>,
}

impl Theirs {
    fn new(now: Instant, connect: bool) -> Theirs {
        let local: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut endpoint = Endpoint::new(
            local,
            TransportProtocol::UDP,
            Arc::new(EndpointConfig::default()),
            Some(Arc::new(ServerConfig::new(TransportConfig::default()))),
        );
        let association = connect.then(|| {
            endpoint
                .connect(now, ClientConfig::new(TransportConfig::default()), peer)
                .expect("connect")
        });
        Theirs {
            endpoint,
            association,
            peer,
            connected: false,
            inbox: Vec::new(),
            opened: Default::default(),
        }
    }
    fn drain(&mut self) {
        let Some((handle, association)) = self.association.as_mut() else {
            return;
        };
        while let Some(event) = association.poll_endpoint_event() {
            self.endpoint.handle_event(*handle, event);
        }
        let mut readable = Vec::new();
        while let Some(event) = association.poll() {
            match event {
                TheirEvent::Connected => self.connected = true,
                TheirEvent::Stream(StreamEvent::Readable { id }) => readable.push(id),
                _ => {}
            }
        }
        // Their Readable is edge-triggered: read every stream each time.
        let mut ids = association.stream_ids();
        ids.extend(readable);
        for id in ids {
            if let Ok(mut stream) = association.stream(id) {
                while let Ok(Some(chunks)) = stream.read_sctp() {
                    let payload = chunks.to_payload(1 << 20).expect("within bounds");
                    self.inbox.push((id, payload.to_vec()));
                }
            }
        }
    }
}

impl End for Theirs {
    fn send(&mut self, now: Instant, stream: u16, data: &[u8], reliable: bool) {
        let (_, association) = self.association.as_mut().expect("connected");
        if self.opened.insert(stream) && association.stream(stream).is_err() {
            association
                .open_stream(stream, PayloadProtocolIdentifier::Binary)
                .expect("open");
        }
        let mut handle = association.stream(stream).expect("opened");
        if reliable {
            handle
                .set_reliability_params(false, ReliabilityType::Reliable, 0)
                .unwrap();
        } else {
            handle
                .set_reliability_params(true, ReliabilityType::Rexmit, 0)
                .unwrap();
        }
        handle
            .write_sctp(
                now,
                &Bytes::copy_from_slice(data),
                PayloadProtocolIdentifier::Binary,
            )
            .expect("write");
    }
    fn handle(&mut self, now: Instant, bytes: &[u8]) {
        match self
            .endpoint
            .handle(now, self.peer, None, Bytes::copy_from_slice(bytes))
        {
            Some((handle, DatagramEvent::NewAssociation(association))) => {
                self.association = Some((handle, association));
            }
            Some((_, DatagramEvent::AssociationEvent(event))) => {
                if let Some((_, association)) = self.association.as_mut() {
                    association.handle_event(event);
                }
            }
            _ => {}
        }
        self.drain();
    }
    fn transmit(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some((_, association)) = self.association.as_mut() {
            while let Some(message) = association.poll_transmit(now) {
                if let Payload::RawEncode(packets) = message.message {
                    out.extend(packets.into_iter().map(|packet| packet.to_vec()));
                }
            }
        }
        out
    }
    fn timeout(&self) -> Option<Instant> {
        self.association.as_ref()?.1.poll_timeout()
    }
    fn on_timeout(&mut self, now: Instant) {
        if let Some((_, association)) = self.association.as_mut() {
            association.handle_timeout(now);
        }
        self.drain();
    }
    fn received(&mut self) -> Vec<(u16, Vec<u8>)> {
        std::mem::take(&mut self.inbox)
    }
    fn connected(&self) -> bool {
        self.connected
    }
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Two ends and the link between them, stepped a millisecond at a time in virtual time.
struct Run {
    now: Instant,
    start: Instant,
    a: Box<dyn End>,
    b: Box<dyn End>,
    to_b: LinkSimulator,
    to_a: LinkSimulator,
    /// What each end received, with when.
    at_a: Vec<(Duration, u16, Vec<u8>)>,
    at_b: Vec<(Duration, u16, Vec<u8>)>,
    /// Datagrams from a to b to lose, by their count from 0.
    lose_to_b: Vec<usize>,
    sent_to_b: usize,
}

fn address() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}

impl Run {
    fn new(
        start: Instant,
        a: Box<dyn End>,
        b: Box<dyn End>,
        conditions: &NetworkConditions,
    ) -> Run {
        let mut back = conditions.clone();
        back.seed = conditions.seed.wrapping_add(1);
        Run {
            now: start,
            start,
            a,
            b,
            to_b: LinkSimulator::new(conditions.clone(), start),
            to_a: LinkSimulator::new(back, start),
            at_a: Vec::new(),
            at_b: Vec::new(),
            lose_to_b: Vec::new(),
            sent_to_b: 0,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// One millisecond: timers, what each end sends, what the link delivers.
    fn step(&mut self) {
        let now = self.now;
        if self.a.timeout().is_some_and(|due| due <= now) {
            self.a.on_timeout(now);
        }
        if self.b.timeout().is_some_and(|due| due <= now) {
            self.b.on_timeout(now);
        }
        // Until quiet: answers within the same millisecond leave at once.
        for _ in 0..100 {
            let mut moved = false;
            for bytes in self.a.transmit(now) {
                moved = true;
                self.sent_to_b += 1;
                if !self.lose_to_b.contains(&(self.sent_to_b - 1)) {
                    self.to_b.send(now, datagram(bytes));
                }
            }
            for bytes in self.b.transmit(now) {
                moved = true;
                self.to_a.send(now, datagram(bytes));
            }
            while let Some(datagram) = self.to_b.poll_due(now) {
                moved = true;
                self.b.handle(now, &datagram.bytes);
            }
            while let Some(datagram) = self.to_a.poll_due(now) {
                moved = true;
                self.a.handle(now, &datagram.bytes);
            }
            if !moved {
                break;
            }
        }
        let elapsed = self.elapsed();
        for (stream, bytes) in self.a.received() {
            self.at_a.push((elapsed, stream, bytes));
        }
        for (stream, bytes) in self.b.received() {
            self.at_b.push((elapsed, stream, bytes));
        }
        self.now += Duration::from_millis(1);
    }

    /// Steps until `done` or `limit` of virtual time; true if done.
    fn until(&mut self, limit: Duration, mut done: impl FnMut(&Run) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    fn connect(&mut self) {
        let connected = self.until(Duration::from_secs(10), |run| {
            run.a.connected() && run.b.connected()
        });
        assert!(connected, "the handshake did not complete in 10 s");
    }
}

fn datagram(bytes: Vec<u8>) -> Datagram {
    Datagram {
        from: address(),
        to: address(),
        bytes,
    }
}

fn lossy(loss: f64, seed: u64) -> NetworkConditions {
    NetworkConditions {
        delay: Duration::from_millis(50),
        jitter: Duration::from_millis(10),
        loss,
        seed,
        ..NetworkConditions::default()
    }
}

/// A message whose bytes say which it is, of a size that varies with it.
fn numbered(index: usize, size: usize) -> Vec<u8> {
    let mut bytes = (index as u32).to_be_bytes().to_vec();
    bytes.resize(size.max(4), (index % 251) as u8);
    bytes
}

fn index_of(bytes: &[u8]) -> usize {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ours,
    Theirs,
    /// Ours, halving its window on every loss as Reno does.
    Reno,
}

fn end(kind: Kind, now: Instant, seed: u64, connect: bool) -> Box<dyn End> {
    match kind {
        Kind::Ours => Box::new(Ours::new(now, seed, connect)),
        Kind::Theirs => Box::new(Theirs::new(now, connect)),
        Kind::Reno => Box::new(Ours::with(
            Config {
                loss_tolerant: false,
                ..Config::default()
            },
            now,
            seed,
            connect,
        )),
    }
}

/// 200 reliable messages of 4-1,500 bytes and one of 100,000 each way, then checks they all
/// arrived once, in order and intact.
fn exchange_reliably(run: &mut Run) {
    let sizes: Vec<usize> = (0..200)
        .map(|i| 4 + (i * 37) % 1500)
        .chain([100_000])
        .collect();
    for (index, &size) in sizes.iter().enumerate() {
        let now = run.now;
        run.a.send(now, 1, &numbered(index, size), true);
        run.b.send(now, 2, &numbered(index, size), true);
    }
    let all = sizes.len();
    let done = run.until(Duration::from_secs(60), |run| {
        run.at_a.len() >= all && run.at_b.len() >= all
    });
    assert!(
        done,
        "not all arrived: {} at a, {} at b",
        run.at_a.len(),
        run.at_b.len()
    );
    for (received, stream) in [(&run.at_a, 2), (&run.at_b, 1)] {
        assert_eq!(received.len(), all);
        for (index, (_, on, bytes)) in received.iter().enumerate() {
            assert_eq!(*on, stream);
            assert_eq!(bytes, &numbered(index, sizes[index]), "message {index}");
        }
    }
}

#[test]
fn both_ends_starting_at_once_still_make_one_association() {
    let now = Instant::now();
    let mut run = Run::new(
        now,
        end(Kind::Ours, now, 1, true),
        end(Kind::Ours, now, 2, true),
        &NetworkConditions::default(),
    );
    run.connect();
    exchange_reliably(&mut run);
}

#[test]
fn interoperates_with_webrtc_rs_whichever_side_starts() {
    for (a, b) in [(Kind::Ours, Kind::Theirs), (Kind::Theirs, Kind::Ours)] {
        let now = Instant::now();
        let mut run = Run::new(
            now,
            end(a, now, 3, true),
            end(b, now, 4, false),
            &NetworkConditions::default(),
        );
        run.connect();
        exchange_reliably(&mut run);
        // Unreliable messages too, on a clean link all of them.
        for index in 0..100 {
            let now = run.now;
            run.a.send(now, 3, &numbered(index, 200), false);
            run.b.send(now, 4, &numbered(index, 200), false);
            run.step();
        }
        run.until(Duration::from_secs(1), |_| false);
        let unreliable = |received: &[(Duration, u16, Vec<u8>)], stream| {
            received.iter().filter(|(_, on, _)| *on == stream).count()
        };
        assert_eq!(unreliable(&run.at_a, 4), 100, "{a:?} received from {b:?}");
        assert_eq!(unreliable(&run.at_b, 3), 100, "{b:?} received from {a:?}");
    }
}

#[test]
fn through_loss_and_delay_everything_arrives_in_order_with_either_peer() {
    for (seed, b) in [
        (5, Kind::Ours),
        (6, Kind::Theirs),
        (7, Kind::Ours),
        (8, Kind::Theirs),
    ] {
        let now = Instant::now();
        let mut run = Run::new(
            now,
            end(Kind::Ours, now, seed, true),
            end(b, now, seed + 100, false),
            &lossy(0.05, seed),
        );
        run.connect();
        exchange_reliably(&mut run);
    }
}

/// Goodput in KiB/s of 512 KiB sent as 1 KiB reliable messages from `sender` to `receiver`.
fn bulk(sender: Kind, receiver: Kind, loss: f64, seed: u64) -> f64 {
    let now = Instant::now();
    let mut run = Run::new(
        now,
        end(sender, now, seed, true),
        end(receiver, now, seed + 1, false),
        &lossy(loss, seed),
    );
    run.connect();
    let start = run.elapsed();
    for index in 0..512 {
        let now = run.now;
        run.a.send(now, 1, &numbered(index, 1024), true);
    }
    let done = run.until(Duration::from_secs(120), |run| run.at_b.len() == 512);
    assert!(
        done,
        "{sender:?} -> {receiver:?}: {} of 512 in 120 s",
        run.at_b.len()
    );
    let took = run.at_b[511].0 - start;
    512.0 / took.as_secs_f64()
}

/// Latency of 200 reliable 100-byte events sent at 20 a second.
fn events(sender: Kind, receiver: Kind, loss: f64, seed: u64) -> Vec<Duration> {
    let now = Instant::now();
    let mut run = Run::new(
        now,
        end(sender, now, seed, true),
        end(receiver, now, seed + 1, false),
        &lossy(loss, seed),
    );
    run.connect();
    let mut sent_at = Vec::new();
    for index in 0..200 {
        let now = run.now;
        sent_at.push(run.elapsed());
        run.a.send(now, 1, &numbered(index, 100), true);
        run.until(Duration::from_millis(50), |_| false);
    }
    run.until(Duration::from_secs(30), |run| run.at_b.len() == 200);
    assert_eq!(run.at_b.len(), 200);
    let mut latencies: Vec<Duration> = run
        .at_b
        .iter()
        .map(|(at, _, bytes)| *at - sent_at[index_of(bytes)])
        .collect();
    latencies.sort();
    latencies
}

/// Share of 1 KiB unreliable messages (no retransmission) sent at `rate` a second for 8 s
/// that arrive.
fn unreliable(sender: Kind, receiver: Kind, loss: f64, rate: u64, seed: u64) -> f64 {
    let now = Instant::now();
    let mut run = Run::new(
        now,
        end(sender, now, seed, true),
        end(receiver, now, seed + 1, false),
        &lossy(loss, seed),
    );
    run.connect();
    let count = 8 * rate as usize;
    for index in 0..count {
        let now = run.now;
        run.a.send(now, 1, &numbered(index, 1024), false);
        run.until(Duration::from_millis(1000 / rate), |_| false);
    }
    run.until(Duration::from_secs(2), |_| false);
    run.at_b.len() as f64 / count as f64
}

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * share).round() as usize]
}

const SEEDS: [u64; 3] = [11, 12, 13];

#[test]
fn through_5pct_loss_unreliable_game_traffic_mostly_arrives() {
    // 100 messages of 1 KiB a second, each sent once, 50 ms each way, 5% loss each way. A
    // window that halves on every random loss delivers about half (webrtc-rs: 35-56%);
    // ours shrinks by a fifth when no queue explains the loss.
    for seed in SEEDS {
        let to_theirs = unreliable(Kind::Ours, Kind::Theirs, 0.05, 100, seed);
        let to_ours = unreliable(Kind::Ours, Kind::Ours, 0.05, 100, seed);
        eprintln!("seed {seed}: to webrtc-rs {to_theirs:.3}, to ours {to_ours:.3}");
        assert!(
            to_theirs >= 0.65 && to_ours >= 0.75,
            "seed {seed}: {to_theirs} / {to_ours}"
        );
    }
    // And on a clean link, all of them.
    assert!(unreliable(Kind::Ours, Kind::Theirs, 0.0, 100, 1) >= 0.99);
}

#[test]
fn through_5pct_loss_reliable_events_wait_one_round_trip_not_a_second() {
    // 200 events of 100 B at 20 a second: each loss costs a round trip after the next
    // event's acknowledgement (RACK), where webrtc-rs waits for its 1 s timer (p99 1.0-1.2 s).
    for seed in SEEDS {
        for receiver in [Kind::Theirs, Kind::Ours] {
            let latencies = events(Kind::Ours, receiver, 0.05, seed);
            let p99 = percentile(&latencies, 0.99);
            eprintln!(
                "seed {seed} to {receiver:?}: p50 {:?}, p99 {p99:?}",
                percentile(&latencies, 0.5)
            );
            assert!(
                p99 <= Duration::from_millis(350),
                "seed {seed} to {receiver:?}: p99 {p99:?}"
            );
        }
    }
}

#[test]
fn through_5pct_loss_bulk_transfers_outpace_webrtc_rs() {
    // 512 KiB in 1 KiB messages. Both senders deliver to webrtc-rs's receiver, which delays
    // acknowledgements of filled holes (ours does not: to ours it is faster still).
    let (mut ours, mut theirs) = (0.0, 0.0);
    for seed in SEEDS {
        let (a, b) = (
            bulk(Kind::Ours, Kind::Theirs, 0.05, seed),
            bulk(Kind::Theirs, Kind::Theirs, 0.05, seed),
        );
        eprintln!("seed {seed}: ours {a:.1} KiB/s, webrtc-rs {b:.1} KiB/s");
        ours += a;
        theirs += b;
    }
    assert!(ours >= 1.25 * theirs, "ours {ours:.1} against {theirs:.1}");
}

#[test]
fn a_lone_lost_event_is_repaired_a_round_trip_after_the_next() {
    let now = Instant::now();
    let conditions = NetworkConditions {
        delay: Duration::from_millis(50),
        ..NetworkConditions::default()
    };
    let mut run = Run::new(
        now,
        end(Kind::Ours, now, 21, true),
        end(Kind::Ours, now, 22, false),
        &conditions,
    );
    run.connect();
    let mut sent_at = Vec::new();
    for index in 0..20 {
        if index == 10 {
            run.lose_to_b.push(run.sent_to_b);
        }
        let now = run.now;
        sent_at.push(run.elapsed());
        run.a.send(now, 1, &numbered(index, 100), true);
        run.until(Duration::from_millis(50), |_| false);
    }
    run.until(Duration::from_secs(2), |run| run.at_b.len() == 20);
    let latency: Vec<Duration> = run
        .at_b
        .iter()
        .map(|(at, _, bytes)| *at - sent_at[index_of(bytes)])
        .collect();
    // Lost at 0, the next event arrives at 100 ms and is acknowledged at 150 ms: the copy
    // leaves then (plus RACK's quarter-RTT allowance) and arrives 50 ms later. The
    // retransmission timer alone would take 300 ms.
    assert_eq!(latency.len(), 20);
    assert!(latency[10] <= Duration::from_millis(250), "{latency:?}");
}

/// Two of ours, connected directly (no link), and every packet each sent.
fn connected_pair(now: Instant) -> (Association, Association, Vec<Vec<u8>>) {
    let mut a = Association::new(Config::default(), now, 31, true);
    let mut b = Association::new(Config::default(), now, 32, false);
    let mut seen = Vec::new();
    pump(now, &mut a, &mut b, &mut seen);
    assert!(a.is_established() && b.is_established());
    (a, b, seen)
}

fn pump(now: Instant, a: &mut Association, b: &mut Association, seen: &mut Vec<Vec<u8>>) {
    for _ in 0..50 {
        let mut moved = false;
        while let Some(packet) = a.poll_transmit(now) {
            b.handle_packet(now, packet.clone().into());
            seen.push(packet);
            moved = true;
        }
        while let Some(packet) = b.poll_transmit(now) {
            a.handle_packet(now, packet.clone().into());
            seen.push(packet);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

fn messages(association: &mut Association) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| association.poll_message())
        .map(|message| message.data.to_vec())
        .collect()
}

#[test]
fn a_lying_peer_cannot_break_or_bloat_the_association() {
    let now = Instant::now();
    let (mut a, mut b, mut corpus) = connected_pair(now);
    for index in 0..20 {
        a.send(
            1,
            53,
            Bytes::from(numbered(index, 3000)),
            true,
            Reliability::Reliable,
        )
        .unwrap();
        b.send(
            2,
            53,
            Bytes::from(numbered(index, 500)),
            false,
            Reliability::MaxRetransmits(0),
        )
        .unwrap();
    }
    pump(now, &mut a, &mut b, &mut corpus);
    messages(&mut a);
    messages(&mut b);
    // Every packet seen, with a few bytes changed and the checksum made right again, so the
    // association has to survive what the fields say: lengths, TSNs, gap blocks, cookies.
    let mut random = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    for round in 0..20_000 {
        let mut packet = corpus[round % corpus.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = 12 + (next() as usize) % (packet.len() - 12);
            packet[at] = next() as u8;
        }
        if next() % 8 == 0 {
            packet.truncate(12 + (next() as usize) % (packet.len() - 11));
        }
        packet[8..12].fill(0);
        let checksum = wire::crc32c(&packet);
        packet[8..12].copy_from_slice(&checksum.to_le_bytes());
        let target = if round % 2 == 0 { &mut a } else { &mut b };
        target.handle_packet(now, packet.into());
        target.handle_timeout(now + Duration::from_millis(round as u64));
        while target.poll_transmit(now).is_some() {}
        while target.poll_event().is_some() {}
        while target.poll_message().is_some() {}
    }
    // Memory stays within the configured buffers.
    for association in [&a, &b] {
        assert!(association.inbound.a_rwnd() <= Config::default().receive_buffer as u32);
        assert!(association.outbound.buffered() <= Config::default().send_buffer);
    }
}

#[test]
fn acknowledgements_of_what_was_never_sent_are_ignored() {
    let now = Instant::now();
    let (mut a, mut b, _) = connected_pair(now);
    a.send(
        1,
        53,
        Bytes::from_static(b"hello"),
        true,
        Reliability::Reliable,
    )
    .unwrap();
    // b claims to have everything up to far ahead, with absurd gap blocks.
    let lie = wire::Packet {
        source_port: PORT,
        destination_port: PORT,
        verification_tag: a.my_tag,
        chunks: vec![Chunk::Sack(wire::Sack {
            cumulative: a.my_initial_tsn.wrapping_add(1000),
            a_rwnd: u32::MAX,
            gaps: vec![(1, u16::MAX); 200],
            duplicates: vec![],
        })],
    };
    a.handle_packet(now, lie.encode().into());
    assert_eq!(
        a.buffered_amount(1),
        5,
        "a lie must not release unsent data"
    );
    let mut seen = Vec::new();
    pump(now, &mut a, &mut b, &mut seen);
    assert_eq!(messages(&mut b), [b"hello".to_vec()]);
    // After b's delayed acknowledgement, the real one releases it.
    let later = now + Duration::from_millis(50);
    b.handle_timeout(later);
    pump(later, &mut a, &mut b, &mut seen);
    assert_eq!(a.buffered_amount(1), 0);
}

#[test]
fn a_message_past_its_lifetime_is_skipped_and_the_stream_goes_on() {
    let now = Instant::now();
    let (mut a, mut b, mut seen) = connected_pair(now);
    a.send(
        1,
        53,
        Bytes::from_static(b"stale"),
        true,
        Reliability::Lifetime(Duration::from_millis(100)),
    )
    .unwrap();
    // Its only transmission is lost.
    while a.poll_transmit(now).is_some() {}
    let later = now + Duration::from_millis(300);
    a.handle_timeout(later);
    a.send(
        1,
        53,
        Bytes::from_static(b"fresh"),
        true,
        Reliability::Reliable,
    )
    .unwrap();
    pump(later, &mut a, &mut b, &mut seen);
    // The FORWARD TSN skipped it, so the ordered stream delivers the next one.
    assert_eq!(messages(&mut b), [b"fresh".to_vec()]);
    assert_eq!(a.stats().abandoned, 1);
}

#[test]
fn a_stream_reset_restarts_its_sequence_on_both_sides() {
    let now = Instant::now();
    let (mut a, mut b, mut seen) = connected_pair(now);
    for text in [&b"one"[..], b"two"] {
        a.send(
            1,
            53,
            Bytes::copy_from_slice(text),
            true,
            Reliability::Reliable,
        )
        .unwrap();
    }
    pump(now, &mut a, &mut b, &mut seen);
    a.reset_streams(now, &[1]);
    pump(now, &mut a, &mut b, &mut seen);
    let events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
    assert!(events.contains(&Event::StreamReset(1)), "{events:?}");
    assert!(a.reset_pending.is_none(), "the peer answered");
    // Sequence numbers start again at 0, and the peer expects exactly that.
    a.send(
        1,
        53,
        Bytes::from_static(b"again"),
        true,
        Reliability::Reliable,
    )
    .unwrap();
    pump(now, &mut a, &mut b, &mut seen);
    assert_eq!(
        messages(&mut b),
        [b"one".to_vec(), b"two".to_vec(), b"again".to_vec()]
    );
}

#[test]
fn a_stream_reset_is_answered_by_webrtc_rs_and_understood_from_it() {
    let now = Instant::now();
    let mut run = Run::new(
        now,
        end(Kind::Theirs, now, 41, true),
        end(Kind::Ours, now, 42, false),
        &NetworkConditions::default(),
    );
    run.connect();
    let now = run.now;
    run.a.send(now, 7, b"before", true);
    run.until(Duration::from_millis(300), |_| false);
    // webrtc-rs closes its stream 7: ours hears the reset.
    let theirs = run.a.as_any().downcast_mut::<Theirs>().expect("theirs");
    let (_, association) = theirs.association.as_mut().expect("connected");
    association.stream(7).unwrap().close(now).unwrap();
    run.until(Duration::from_millis(500), |_| false);
    let ours = run.b.as_any().downcast_mut::<Ours>().expect("ours");
    assert!(ours.resets.contains(&7), "{:?}", ours.resets);
    // Ours resets its stream 3 after using it: webrtc-rs answers, so nothing stays pending.
    let now = run.now;
    run.b.send(now, 3, b"used", true);
    run.until(Duration::from_millis(300), |_| false);
    let now = run.now;
    let ours = run.b.as_any().downcast_mut::<Ours>().expect("ours");
    ours.association.reset_streams(now, &[3]);
    run.until(Duration::from_secs(2), |_| false);
    let ours = run.b.as_any().downcast_mut::<Ours>().expect("ours");
    assert!(
        ours.association.reset_pending.is_none(),
        "webrtc-rs answered the reset"
    );
}

#[test]
fn an_abort_closes_both_ends() {
    let now = Instant::now();
    let (mut a, mut b, mut seen) = connected_pair(now);
    a.abort();
    pump(now, &mut a, &mut b, &mut seen);
    assert!(a.is_closed() && b.is_closed());
    assert!(std::iter::from_fn(|| b.poll_event()).any(|event| event == Event::Closed));
    assert_eq!(
        a.send(
            1,
            53,
            Bytes::from_static(b"late"),
            true,
            Reliability::Reliable
        ),
        Err(SendError::Closed)
    );
}

/// Two bulk flows through one 100 KB/s bottleneck (a quarter second of queue, 20 ms each
/// way): KiB/s each delivered over the last 20 of 30 seconds.
fn sharing(first: Kind, second: Kind) -> (f64, f64) {
    let now = Instant::now();
    let address = |host: u8| -> SocketAddr { format!("10.0.0.{host}:5000").parse().unwrap() };
    let mut ends = [
        end(first, now, 1, true),
        end(first, now, 2, false),
        end(second, now, 3, true),
        end(second, now, 4, false),
    ];
    let bottleneck = NetworkConditions {
        delay: Duration::from_millis(20),
        bandwidth: Some(100_000),
        ..NetworkConditions::default()
    };
    let back = NetworkConditions {
        delay: Duration::from_millis(20),
        ..NetworkConditions::default()
    };
    let mut forward = LinkSimulator::new(bottleneck, now);
    let mut backward = LinkSimulator::new(back, now);
    let mut delivered = [0usize; 2];
    let mut sent = [0usize; 2];
    let mut counted_from = [0usize; 2];
    let mut now = now;
    let start = now;
    while now - start < Duration::from_secs(30) {
        for end in ends.iter_mut() {
            if end.timeout().is_some_and(|due| due <= now) {
                end.on_timeout(now);
            }
        }
        for flow in 0..2 {
            if ends[flow * 2].connected() {
                while sent[flow] < delivered[flow] + 512 {
                    ends[flow * 2].send(now, 1, &numbered(sent[flow], 1024), true);
                    sent[flow] += 1;
                }
            }
        }
        for _ in 0..100 {
            let mut moved = false;
            for (index, end) in ends.iter_mut().enumerate() {
                for bytes in end.transmit(now) {
                    moved = true;
                    let (from, to) = (address(index as u8), address((index ^ 1) as u8));
                    let datagram = Datagram { from, to, bytes };
                    if index % 2 == 0 {
                        forward.send(now, datagram);
                    } else {
                        backward.send(now, datagram);
                    }
                }
            }
            while let Some(datagram) = forward.poll_due(now).or_else(|| backward.poll_due(now)) {
                moved = true;
                let index = usize::from(
                    datagram
                        .to
                        .ip()
                        .to_string()
                        .rsplit('.')
                        .next()
                        .unwrap()
                        .parse::<u8>()
                        .unwrap(),
                );
                ends[index].handle(now, &datagram.bytes);
            }
            if !moved {
                break;
            }
        }
        for flow in 0..2 {
            delivered[flow] += ends[flow * 2 + 1].received().len();
        }
        if now - start == Duration::from_secs(10) {
            counted_from = delivered;
        }
        now += Duration::from_millis(1);
    }
    let rate = |flow: usize| (delivered[flow] - counted_from[flow]) as f64 / 20.0;
    (rate(0), rate(1))
}

#[test]
fn at_a_congested_bottleneck_the_gentler_loss_response_is_reno() {
    // The window shrinks by a fifth only on losses with no queue behind them. Two transfers
    // through one bottleneck lose only when its queue overflows, so ours must share it with
    // a Reno flow as Reno shares it with itself. Measured: ours 47.9 and Reno 47.2 KiB/s
    // (Reno against Reno the same); a fifth off on every loss took 70.1 against 24.9.
    let (ours, reno) = sharing(Kind::Ours, Kind::Reno);
    eprintln!("ours {ours:.1} KiB/s, Reno {reno:.1} KiB/s");
    assert!(
        ours + reno >= 0.9 * 97.6,
        "the link is used: {ours} + {reno}"
    );
    assert!(
        ours <= 1.33 * reno && reno <= 1.33 * ours,
        "{ours} against {reno}"
    );
    // For the record: webrtc-rs's SCTP loses to either (1 s timeouts), 28.8 against 66.0.
    let (ours, theirs) = sharing(Kind::Ours, Kind::Theirs);
    eprintln!("ours {ours:.1} KiB/s, webrtc-rs {theirs:.1} KiB/s");
}

#[test]
fn a_flood_of_short_lived_messages_stays_under_congestion_control() {
    // A 200 KB/s link, 20 ms each way; 1,000 messages of 1 KB a second with a 2 ms lifetime
    // on one stream and a reliable event every 50 ms on another. A message given up stays in
    // the flight size until acknowledged or lost: when giving up freed its share of the
    // window, the flood went out at the application's rate, the link dropped four datagrams
    // in five, and events waited p50 2.1 s; now p50 175 ms, p90 209 ms (the link's queue).
    let now = Instant::now();
    let conditions = NetworkConditions {
        delay: Duration::from_millis(20),
        bandwidth: Some(200_000),
        ..Default::default()
    };
    let mut run = Run::new(
        now,
        end(Kind::Ours, now, 1, true),
        end(Kind::Ours, now, 2, false),
        &conditions,
    );
    run.connect();
    let start = run.elapsed();
    let mut sent_at = Vec::new();
    while run.elapsed() - start < Duration::from_secs(3) {
        let since = run.elapsed() - start;
        let now = run.now;
        let ours = run.a.as_any().downcast_mut::<Ours>().expect("ours");
        let _ = ours.association.send(
            2,
            53,
            Bytes::from(vec![0u8; 1000]),
            false,
            Reliability::Lifetime(Duration::from_millis(2)),
        );
        if since >= Duration::from_millis(50) * sent_at.len() as u32 {
            let index = sent_at.len();
            sent_at.push(since);
            run.a.send(now, 1, &numbered(index, 8), true);
        }
        run.step();
    }
    run.until(Duration::from_secs(5), |_| false);
    let mut latencies: Vec<Duration> = run
        .at_b
        .iter()
        .filter(|(_, stream, _)| *stream == 1)
        .map(|(at, _, bytes)| *at - start - sent_at[index_of(bytes)])
        .collect();
    latencies.sort();
    assert_eq!(latencies.len(), sent_at.len(), "every event arrived");
    let p90 = percentile(&latencies, 0.9);
    assert!(p90 < Duration::from_millis(400), "events p90 {p90:?}");
}
