//! A remote peer that floods or lies, and a reader that stalls: what we hold stays within the
//! receive budget, what the budget holds back is not lost, and limits answer with errors.
//!
//! The tests that measure the process's memory take a lock so they run one at a time.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{Exchanged, LossyRelay, exchange};
use webrtc_mesh_core::{
    ChannelOptions, ChannelState, Connection, ConnectionConfig, ConnectionEvent, ConnectionState,
    DataChannel, Error, IceServer, MAX_DESCRIPTION_SIZE, MAX_REMOTE_CANDIDATES, MIN_RECEIVE_BUDGET,
    Mesh, Runtime, RuntimeConfig, TransferMode, godot_channel_layout,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// What one queued message may add beyond the budget: the one an empty budget always takes,
/// with its bookkeeping.
const SLACK: usize = 64 * KIB + 64;

static MEMORY: Mutex<()> = Mutex::new(());

fn measuring() -> MutexGuard<'static, ()> {
    MEMORY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resident memory of this process.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kib| kib * KIB)
}

/// Relays signaling between `a` and `b` until both are connected and `ready` holds; returns
/// the channels `b` was told about in-band.
fn connect(
    a: &Connection,
    b: &Connection,
    mut ready: impl FnMut(&[DataChannel]) -> bool,
) -> Vec<DataChannel> {
    a.create_offer().unwrap();
    let mut seen = Exchanged::default();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        exchange(a, b, &mut seen);
        let connected = [a, b]
            .iter()
            .all(|c| c.connection_state() == ConnectionState::Connected);
        if connected && ready(&seen.announced[1]) {
            let [_, announced] = seen.announced;
            return announced;
        }
        assert!(Instant::now() < deadline, "peers did not connect");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A sender and a receiver connected by one negotiated channel (`tx` to `rx`).
struct Pair {
    // Held so the sending end stays open.
    _sender: Connection,
    receiver: Connection,
    tx: DataChannel,
    rx: DataChannel,
}

fn connected_pair(
    runtime: &Runtime,
    sender: &ConnectionConfig,
    receiver: &ConnectionConfig,
    options: &ChannelOptions,
) -> Pair {
    let sender = Connection::new(runtime, sender).unwrap();
    let receiver = Connection::new(runtime, receiver).unwrap();
    let tx = sender.create_data_channel("c", options).unwrap();
    let rx = receiver.create_data_channel("c", options).unwrap();
    connect(&sender, &receiver, |_| tx.is_open() && rx.is_open());
    Pair {
        _sender: sender,
        receiver,
        tx,
        rx,
    }
}

/// Loopback, host candidates only.
fn host_only() -> ConnectionConfig {
    ConnectionConfig::loopback()
}

/// Loopback with a STUN server configured (one that never answers; host candidates still win),
/// as connections played over the internet are.
fn stun_configured() -> ConnectionConfig {
    ConnectionConfig {
        ice_servers: vec![IceServer {
            urls: vec!["stun:127.0.0.1:9".into()],
            ..Default::default()
        }],
        ..ConnectionConfig::loopback()
    }
}

fn negotiated(id: u16, reliable: bool) -> ChannelOptions {
    ChannelOptions {
        negotiated_id: Some(id),
        max_packet_life_time: (!reliable).then_some(5000),
        ..Default::default()
    }
}

fn in_band() -> ChannelOptions {
    ChannelOptions::default()
}

/// Message `i` of a stream: its number, then filler.
fn numbered(i: u32, len: usize) -> Vec<u8> {
    let mut data = vec![(i % 251) as u8; len];
    data[..4].copy_from_slice(&i.to_be_bytes());
    data
}

fn number_of(data: &[u8]) -> u32 {
    u32::from_be_bytes(data[..4].try_into().unwrap())
}

/// Sends 64 KiB messages on `channels` for `time`, as fast as their send buffers allow.
fn flood(channels: &[DataChannel], time: Duration, mut between: impl FnMut()) -> usize {
    let message = vec![0x5a; 64 * KIB];
    let mut sent = 0;
    let end = Instant::now() + time;
    while Instant::now() < end {
        for channel in channels {
            while channel.is_open() && channel.send(&message).is_ok() {
                sent += 1;
            }
        }
        between();
        std::thread::sleep(Duration::from_millis(1));
    }
    sent
}

#[test]
fn in_band_channels_flooded_and_never_read_hold_no_more_than_the_budget() {
    in_band_flood(host_only());
}

#[test]
fn in_band_channels_flooded_and_never_read_hold_no_more_than_the_budget_with_stun() {
    in_band_flood(stun_configured());
}

fn in_band_flood(base: ConnectionConfig) {
    let _lock = measuring();
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    // The attacker keeps little unsent, so the memory measured is the victim's.
    let attacker_config = ConnectionConfig {
        send_buffer_limit: 256 * KIB,
        ..base.clone()
    };
    let victim_config = base;
    let budget = victim_config.receive_budget;
    let attacker = Connection::new(&runtime, &attacker_config).unwrap();
    let victim = Connection::new(&runtime, &victim_config).unwrap();
    let channels: Vec<DataChannel> = (0..20)
        .map(|i| {
            attacker
                .create_data_channel(&format!("flood{i}"), &in_band())
                .unwrap()
        })
        .collect();
    // The victim holds every channel it is told about and reads none of them.
    let announced = connect(&attacker, &victim, |announced| {
        announced.len() >= victim_config.max_remote_channels
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        announced.len(),
        victim_config.max_remote_channels,
        "in-band channels past the cap are not announced"
    );
    let refused = channels.iter().filter(|c| !c.is_open()).count();
    assert_eq!(
        refused,
        20 - victim_config.max_remote_channels,
        "channels past the cap are closed"
    );

    let before = rss();
    let mut peak_waiting = 0;
    let sent = flood(&channels, Duration::from_secs(2), || {
        peak_waiting = peak_waiting.max(victim.received_bytes_waiting());
    });
    // Once everything on the way is full, more flooding holds nothing more.
    let filled = rss();
    let sent = sent
        + flood(&channels, Duration::from_secs(2), || {
            peak_waiting = peak_waiting.max(victim.received_bytes_waiting());
        });
    let later = rss().saturating_sub(filled);
    let grown = rss().saturating_sub(before);
    let waiting = victim.received_bytes_waiting();
    eprintln!(
        "in-band flood: {sent} x 64 KiB sent, {} KiB waiting (peak {} KiB), RSS +{} KiB \
         (+{} KiB in the last 2 s)",
        waiting / KIB,
        peak_waiting / KIB,
        grown / KIB,
        later / KIB
    );
    assert!(
        waiting >= budget / 2,
        "the flood reached the victim ({waiting} bytes waiting)"
    );
    assert!(
        peak_waiting <= budget + SLACK,
        "{peak_waiting} bytes waiting, budget {budget}"
    );
    assert!(grown < 48 * MIB, "RSS grew by {} MiB", grown / MIB);
    assert!(later < 4 * MIB, "RSS still grew by {} KiB", later / KIB);
    drop(announced);
    assert_eq!(
        victim.received_bytes_waiting(),
        0,
        "dropping the channels gives their bytes back"
    );
}

#[test]
fn an_in_band_channel_nobody_holds_is_closed_and_holds_nothing() {
    let _lock = measuring();
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    let attacker = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    let victim = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    let channel = attacker.create_data_channel("ignored", &in_band()).unwrap();
    // The application lets go of the channel it is told about, as a script that does not
    // connect `data_channel_received` does.
    let announced = connect(&attacker, &victim, |announced| !announced.is_empty());
    drop(announced);
    let deadline = Instant::now() + Duration::from_secs(5);
    let message = vec![1u8; 16 * KIB];
    while channel.ready_state() != ChannelState::Closed {
        assert!(
            Instant::now() < deadline,
            "the channel nobody holds is closed"
        );
        let _ = channel.send(&message);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(victim.received_bytes_waiting(), 0);
}

#[test]
fn a_mesh_closes_channels_its_peer_opens_in_band_and_keeps_its_own() {
    let _lock = measuring();
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    let mut mesh = Mesh::create_mesh(1, &[]).unwrap();
    let victim = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    mesh.add_peer(2, &victim, 1).unwrap();
    // The attacker speaks Godot's layout and opens channels of its own besides.
    let attacker = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    let layout: Vec<DataChannel> = godot_channel_layout(1, &[])
        .iter()
        .map(|spec| {
            attacker
                .create_data_channel(&spec.label, &spec.options)
                .unwrap()
        })
        .collect();
    let extra: Vec<DataChannel> = (0..4)
        .map(|i| {
            attacker
                .create_data_channel(&format!("extra{i}"), &in_band())
                .unwrap()
        })
        .collect();
    let announced = connect(&attacker, &victim, |_| layout.iter().all(|c| c.is_open()));
    assert!(announced.is_empty(), "a mesh reports no in-band channel");
    let deadline = Instant::now() + Duration::from_secs(5);
    while extra
        .iter()
        .any(|c| c.ready_state() != ChannelState::Closed)
    {
        assert!(
            Instant::now() < deadline,
            "the mesh closes in-band channels"
        );
        let _ = mesh.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    // The connection may be reported by a poll of the loop above: ask the mesh, not its events.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !mesh.is_peer_connected(2) {
        assert!(Instant::now() < deadline, "the peer connects");
        let _ = mesh.poll();
        std::thread::sleep(Duration::from_millis(2));
    }
    layout[0].send(b"still here").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let packet = loop {
        if let Some(packet) = mesh.take_packet() {
            break packet;
        }
        assert!(
            Instant::now() < deadline,
            "the layout's channels carry data"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(&packet.data[..], b"still here");
    assert_eq!(packet.mode, TransferMode::Reliable);
    assert_eq!(victim.received_bytes_waiting(), 0);
}

#[test]
fn a_stalled_reader_holds_back_reliable_data_within_budget_and_loses_none() {
    stalled_reliable_reader(host_only());
}

#[test]
fn a_stalled_reader_holds_back_reliable_data_within_budget_and_loses_none_with_stun() {
    stalled_reliable_reader(stun_configured());
}

fn stalled_reliable_reader(base: ConnectionConfig) {
    let _lock = measuring();
    // 37.5 MiB: more than can wait anywhere on the way (send buffer, SCTP window, the budget).
    const COUNT: u32 = 600;
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    let sender_config = ConnectionConfig {
        send_buffer_limit: MIB,
        ..base.clone()
    };
    let receiver_config = base;
    let budget = receiver_config.receive_budget;
    let Pair {
        _sender,
        receiver,
        tx,
        rx,
    } = connected_pair(
        &runtime,
        &sender_config,
        &receiver_config,
        &negotiated(1, true),
    );

    let before = rss();
    let mut next = 0u32;
    let mut peak = 0;
    let stall_end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < stall_end {
        while next < COUNT && tx.send(&numbered(next, 64 * KIB)).is_ok() {
            next += 1;
        }
        peak = peak.max(receiver.received_bytes_waiting());
        std::thread::sleep(Duration::from_millis(2));
    }
    let grown = rss().saturating_sub(before);
    eprintln!(
        "stalled reliable reader: {next} of {COUNT} sent, peak {} KiB waiting, RSS +{} KiB",
        peak / KIB,
        grown / KIB
    );
    assert!(next < COUNT, "the sender was held back");
    assert!(peak >= budget / 2, "the budget filled ({peak} bytes)");
    assert!(
        peak <= budget + SLACK,
        "{peak} bytes waiting, budget {budget}"
    );
    assert!(grown < 48 * MIB, "RSS grew by {} MiB", grown / MIB);

    // Reading again lets everything through, once and in order.
    let mut expected = 0u32;
    let deadline = Instant::now() + Duration::from_secs(30);
    while expected < COUNT {
        assert!(
            Instant::now() < deadline,
            "only {expected} of {COUNT} arrived"
        );
        while next < COUNT && tx.send(&numbered(next, 64 * KIB)).is_ok() {
            next += 1;
        }
        while let Some(message) = rx.recv() {
            assert_eq!(number_of(&message.data), expected);
            assert_eq!(message.data.len(), 64 * KIB);
            expected += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(receiver.received_bytes_waiting(), 0);
}

#[test]
fn a_stalled_reader_of_an_unreliable_channel_keeps_the_newest_within_budget() {
    let _lock = measuring();
    const COUNT: u32 = 150;
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    let config = ConnectionConfig::loopback();
    let budget = config.receive_budget;
    let Pair {
        _sender,
        receiver,
        tx,
        rx,
    } = connected_pair(&runtime, &config, &config, &negotiated(2, false));

    let mut next = 0u32;
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while next < COUNT {
        assert!(Instant::now() < deadline, "sending took too long");
        if tx.send(&numbered(next, 64 * KIB)).is_ok() {
            next += 1;
        }
        peak = peak.max(receiver.received_bytes_waiting());
        std::thread::sleep(Duration::from_micros(500));
    }
    // Let the last ones land.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tx.buffered_amount() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    peak = peak.max(receiver.received_bytes_waiting());
    assert!(
        peak <= budget + SLACK,
        "{peak} bytes waiting, budget {budget}"
    );
    assert!(rx.dropped() > 0, "the oldest were dropped");

    let mut numbers = Vec::new();
    while let Some(message) = rx.recv() {
        numbers.push(number_of(&message.data));
    }
    eprintln!(
        "stalled unreliable reader: {} kept, {} dropped, peak {} KiB",
        numbers.len(),
        rx.dropped(),
        peak / KIB
    );
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "still in order");
    assert_eq!(numbers.last(), Some(&(COUNT - 1)), "the newest is kept");
    assert_eq!(
        numbers.len() as u64 + rx.dropped(),
        u64::from(COUNT),
        "every message is either kept or counted as dropped"
    );
}

#[test]
fn the_runtime_budget_bounds_every_connection_together() {
    let _lock = measuring();
    const COUNT: u32 = 60;
    let runtime_budget = 2 * MIB;
    let runtime = Runtime::new(&RuntimeConfig {
        receive_budget: runtime_budget,
        ..Default::default()
    })
    .unwrap();
    let mut pairs = Vec::new();
    let config = ConnectionConfig::loopback();
    for _ in 0..2 {
        let pair = connected_pair(&runtime, &config, &config, &negotiated(1, true));
        pairs.push((pair, 0u32, 0u32));
    }
    let mut peak = 0;
    let stall_end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < stall_end {
        for (pair, next, _) in &mut pairs {
            while *next < COUNT && pair.tx.send(&numbered(*next, 64 * KIB)).is_ok() {
                *next += 1;
            }
        }
        peak = peak.max(runtime.received_bytes_waiting());
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!("runtime budget: peak {} KiB waiting", peak / KIB);
    assert!(
        peak >= runtime_budget / 2,
        "the budget filled ({peak} bytes)"
    );
    assert!(
        peak <= runtime_budget + 2 * SLACK,
        "{peak} bytes waiting, runtime budget {runtime_budget}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while pairs.iter().any(|p| p.2 < COUNT) {
        assert!(Instant::now() < deadline, "everything arrives once read");
        for (pair, next, received) in &mut pairs {
            while *next < COUNT && pair.tx.send(&numbered(*next, 64 * KIB)).is_ok() {
                *next += 1;
            }
            while let Some(message) = pair.rx.recv() {
                assert_eq!(number_of(&message.data), *received);
                *received += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(runtime.received_bytes_waiting(), 0);
}

/// A host candidate line for port `port`.
fn candidate(port: u16) -> String {
    format!("candidate:{port} 1 udp 2130706431 127.0.0.1 {port} typ host")
}

#[test]
fn remote_candidates_are_capped_per_connection_and_cost_little_each() {
    // Timed: not beside a flood.
    let _lock = measuring();
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    let offerer = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    let answerer = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    offerer
        .create_data_channel("c", &negotiated(1, true))
        .unwrap();
    answerer
        .create_data_channel("c", &negotiated(1, true))
        .unwrap();
    offerer.create_offer().unwrap();
    let offer = loop {
        match offerer.poll_event() {
            Some(ConnectionEvent::SessionDescription { sdp, .. }) => break sdp,
            Some(_) => {}
            None => panic!("no offer"),
        }
    };
    // Half before the description (held until it comes), half after (applied at once).
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for i in 0..MAX_REMOTE_CANDIDATES {
        if i == MAX_REMOTE_CANDIDATES / 2 {
            answerer.set_remote_description("offer", &offer).unwrap();
        }
        let t = Instant::now();
        answerer
            .add_ice_candidate("0", 0, &candidate(20000 + i as u16))
            .unwrap();
        slowest = slowest.max(t.elapsed());
    }
    let total = start.elapsed();
    let refused = answerer.add_ice_candidate("0", 0, &candidate(30000));
    eprintln!(
        "{MAX_REMOTE_CANDIDATES} candidates in {total:?}, slowest {slowest:?}; next: {refused:?}"
    );
    assert!(
        matches!(refused, Err(Error::LimitExceeded(_))),
        "{refused:?}"
    );
    assert!(
        slowest < Duration::from_millis(100),
        "one candidate took {slowest:?}"
    );
    assert!(total < Duration::from_secs(1), "all took {total:?}");
    // An end-of-candidates mark is not a candidate.
    answerer.add_ice_candidate("0", 0, "").unwrap();
}

#[test]
fn descriptions_too_large_or_with_too_many_candidates_are_refused_clearly() {
    let _lock = measuring();
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    let offerer = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    let answerer = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    offerer.create_data_channel("c", &in_band()).unwrap();
    offerer.create_offer().unwrap();
    let offer = loop {
        match offerer.poll_event() {
            Some(ConnectionEvent::SessionDescription { sdp, .. }) => break sdp,
            Some(_) => {}
            None => panic!("no offer"),
        }
    };
    let mut huge = offer.clone();
    while huge.len() <= MAX_DESCRIPTION_SIZE {
        huge.push_str("a=x-padding:0123456789abcdef0123456789abcdef\r\n");
    }
    let start = Instant::now();
    let refused = answerer.set_remote_description("offer", &huge);
    assert!(
        matches!(&refused, Err(Error::LimitExceeded(why)) if why.contains("bytes")),
        "{refused:?}"
    );
    let mut crowded = offer.clone();
    for port in 0..=MAX_REMOTE_CANDIDATES as u16 {
        crowded.push_str(&format!("a={}\r\n", candidate(40000 + port)));
    }
    let refused = answerer.set_remote_description("offer", &crowded);
    assert!(
        matches!(&refused, Err(Error::LimitExceeded(why)) if why.contains("candidates")),
        "{refused:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "refusals took {:?}",
        start.elapsed()
    );
    // Refusals leave the connection as it was: the real offer still applies.
    answerer.set_remote_description("offer", &offer).unwrap();
    let huge_local = answerer.set_local_description("answer", &huge);
    assert!(
        matches!(huge_local, Err(Error::LimitExceeded(_))),
        "{huge_local:?}"
    );
}

#[test]
fn through_loss_delay_and_an_outage_a_stalled_reader_stays_within_budget_and_loses_nothing() {
    let _lock = measuring();
    // 9.4 MiB of 8 KiB messages: about twice what the budget, the SCTP window and the send
    // buffer hold together (~4.8 MiB with webrtc-rs's SCTP), so many must cross the bad
    // link later. (With 800, a loaded machine once let all through before the stall ended.)
    const COUNT: u32 = 1200;
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    let budget = MIN_RECEIVE_BUDGET;
    let sender_config = ConnectionConfig {
        send_buffer_limit: 256 * KIB,
        ..host_only()
    };
    let receiver_config = ConnectionConfig {
        receive_budget: budget,
        ..host_only()
    };
    let sender = Connection::new(&runtime, &sender_config).unwrap();
    let receiver = Connection::new(&runtime, &receiver_config).unwrap();
    let options = negotiated(1, true);
    let tx = sender.create_data_channel("r", &options).unwrap();
    let rx = receiver.create_data_channel("r", &options).unwrap();
    // 5 ms one way throughout; loss comes once the budget has filled.
    let relay = LossyRelay::start(0, Duration::from_millis(5), 7);
    sender.create_offer().unwrap();
    let mut seen = Exchanged::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(tx.is_open() && rx.is_open()) {
        assert!(Instant::now() < deadline, "no connection through the relay");
        relay.exchange(&sender, &receiver, &mut seen);
        std::thread::sleep(Duration::from_millis(2));
    }

    // The reader stalls for 4 s: the budget fills in the first, then 1% of datagrams are lost
    // each way, and from 2 s to 3 s the link is down.
    let mut next = 0u32;
    let mut peak = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let at = start.elapsed().as_millis();
        if at >= 1000 {
            relay.loss_per_mille.store(10, Ordering::Relaxed);
        }
        relay
            .outage
            .store((2000..3000).contains(&at), Ordering::Release);
        while next < COUNT && tx.send(&numbered(next, 8 * KIB)).is_ok() {
            next += 1;
        }
        peak = peak.max(receiver.received_bytes_waiting());
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(peak >= budget / 2, "the budget filled ({peak} bytes)");
    assert!(
        peak <= budget + SLACK,
        "{peak} bytes waiting, budget {budget}"
    );
    assert!(next < COUNT, "the sender was held back");
    let held_at = next;

    // Reading again: every message, once and in order, through the same bad link.
    let mut expected = 0u32;
    let resumed = Instant::now();
    let deadline = resumed + Duration::from_secs(60);
    while expected < COUNT {
        assert!(
            Instant::now() < deadline,
            "only {expected} of {COUNT} arrived"
        );
        while next < COUNT && tx.send(&numbered(next, 8 * KIB)).is_ok() {
            next += 1;
        }
        while let Some(message) = rx.recv() {
            assert_eq!(number_of(&message.data), expected);
            expected += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    eprintln!(
        "through loss, delay and an outage: sender held at {held_at} of {COUNT}, peak {} KiB \
         waiting (budget {} KiB); all in order {:?} after reading resumed",
        peak / KIB,
        budget / KIB,
        resumed.elapsed()
    );
    assert_eq!(receiver.received_bytes_waiting(), 0);
}
