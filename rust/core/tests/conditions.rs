//! Connections through simulated network conditions: every layer (ICE, DTLS, SCTP) meets the
//! delay, loss and outages, and what a game sends still arrives.

mod common;

use std::time::{Duration, Instant};

use webrtc_mesh_core::{
    ChannelOptions, Connection, ConnectionConfig, DataChannel, NetworkConditions, Runtime,
    RuntimeConfig,
};

fn reliable() -> ChannelOptions {
    ChannelOptions {
        negotiated_id: Some(1),
        ..Default::default()
    }
}

/// Two connections with `config` on `runtime`, their reliable channels open.
fn pair(
    runtime: &Runtime,
    config: &ConnectionConfig,
) -> (Connection, Connection, DataChannel, DataChannel, Duration) {
    let started = Instant::now();
    let (a, b, mut channels) = connected(runtime, [config, config], &[reliable()]);
    let (ca, cb) = channels.remove(0);
    (a, b, ca, cb, started.elapsed())
}

/// Two connections with these configurations and, on each, a channel of each of `options`:
/// returned once every channel is open, the channel pairs in the order of `options`.
fn connected(
    runtime: &Runtime,
    configs: [&ConnectionConfig; 2],
    options: &[ChannelOptions],
) -> (Connection, Connection, Vec<(DataChannel, DataChannel)>) {
    let a = Connection::new(runtime, configs[0]).unwrap();
    let b = Connection::new(runtime, configs[1]).unwrap();
    let channels: Vec<(DataChannel, DataChannel)> = options
        .iter()
        .map(|o| {
            let label = format!("c{}", o.negotiated_id.unwrap_or(0));
            (
                a.create_data_channel(&label, o).unwrap(),
                b.create_data_channel(&label, o).unwrap(),
            )
        })
        .collect();
    let started = Instant::now();
    a.create_offer().unwrap();
    let mut seen = common::Exchanged::default();
    while !channels.iter().all(|(x, y)| x.is_open() && y.is_open()) {
        common::exchange(&a, &b, &mut seen);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "did not connect"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    (a, b, channels)
}

/// A loopback connection whose datagrams take 50 ms one way, `loss` of them lost (seeded).
fn over_50_ms(loss: f64, seed: u64) -> ConnectionConfig {
    ConnectionConfig {
        network_conditions: NetworkConditions {
            delay: Duration::from_millis(50),
            loss,
            seed,
            ..Default::default()
        },
        ..ConnectionConfig::loopback()
    }
}

/// An unordered channel with Godot's 1 ms lifetime, negotiated as `id`.
fn unreliable(id: u16) -> ChannelOptions {
    ChannelOptions {
        ordered: false,
        max_packet_life_time: Some(1),
        negotiated_id: Some(id),
        ..Default::default()
    }
}

/// Round trips of a small reliable message, `count` of them.
fn round_trips(ca: &DataChannel, cb: &DataChannel, count: u32) -> Vec<Duration> {
    let mut rtts = Vec::new();
    for i in 0..count {
        let sent = Instant::now();
        ca.send(&i.to_be_bytes()).unwrap();
        let echo = loop {
            if let Some(m) = cb.recv() {
                break m;
            }
            assert!(sent.elapsed() < Duration::from_secs(10), "ping {i} lost");
            std::thread::sleep(Duration::from_micros(200));
        };
        cb.send(&echo.data).unwrap();
        while ca.recv().is_none() {
            assert!(sent.elapsed() < Duration::from_secs(10), "pong {i} lost");
            std::thread::sleep(Duration::from_micros(200));
        }
        rtts.push(sent.elapsed());
    }
    rtts.sort();
    rtts
}

#[test]
fn delay_is_met_by_every_layer() {
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig {
        network_conditions: NetworkConditions {
            delay: Duration::from_millis(40),
            ..Default::default()
        },
        ..ConnectionConfig::loopback()
    };
    let (_a, _b, ca, cb, setup) = pair(&runtime, &config);
    // ICE, DTLS and SCTP each need round trips of 80 ms before the channel opens.
    eprintln!("setup through 40 ms each way: {setup:?}");
    assert!(
        setup >= Duration::from_millis(240),
        "setup took only {setup:?}"
    );
    let rtts = round_trips(&ca, &cb, 10);
    eprintln!("round trips {:?} .. {:?}", rtts[0], rtts[rtts.len() - 1]);
    // A ping and its pong cross the link once each way: 80 ms.
    assert!(
        rtts[0] >= Duration::from_millis(80),
        "a round trip in {:?}",
        rtts[0]
    );
    assert!(
        rtts[rtts.len() / 2] < Duration::from_millis(130),
        "{rtts:?}"
    );
}

#[test]
fn reliable_messages_cross_a_lossy_jittery_link_once_and_in_order() {
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig {
        network_conditions: NetworkConditions {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            loss: 0.05,
            duplicate: 0.01,
            seed: 11,
            ..Default::default()
        },
        ..ConnectionConfig::loopback()
    };
    let (_a, _b, ca, cb, setup) = pair(&runtime, &config);
    const COUNT: u32 = 500;
    let started = Instant::now();
    let mut next = 0u32;
    for i in 0..COUNT {
        ca.send(&[&i.to_be_bytes()[..], &[0u8; 200]].concat())
            .unwrap();
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(16));
        }
        while let Some(m) = cb.recv() {
            assert_eq!(u32::from_be_bytes(m.data[..4].try_into().unwrap()), next);
            next += 1;
        }
    }
    while next < COUNT {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{next} of {COUNT} arrived"
        );
        while let Some(m) = cb.recv() {
            assert_eq!(u32::from_be_bytes(m.data[..4].try_into().unwrap()), next);
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        cb.recv().is_none(),
        "a duplicate datagram became a duplicate message"
    );
    eprintln!(
        "set up in {setup:?}; {COUNT} messages through 5% loss in {:?}",
        started.elapsed()
    );
}

/// Sends a message every 20 ms for 5 s through a 1.5 s outage (from 1.5 s to 3 s after the
/// connections were made); returns (sent, received, how long after the link returned the first
/// message arrived).
fn through_an_outage() -> (u32, u32, Option<Duration>) {
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig {
        network_conditions: NetworkConditions {
            delay: Duration::from_millis(5),
            outages: vec![(Duration::from_millis(1500), Duration::from_millis(3000))],
            ..Default::default()
        },
        ..ConnectionConfig::loopback()
    };
    let created = Instant::now();
    let (a, _b, ca, cb, _) = pair(&runtime, &config);
    let returned = Duration::from_millis(4500);
    let (mut sent, mut received, mut back) = (0u32, 0u32, None);
    while created.elapsed() < Duration::from_millis(6500) {
        ca.send(&sent.to_be_bytes()).unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_millis(20));
        while cb.recv().is_some() {
            received += 1;
            if back.is_none() && created.elapsed() > returned {
                back = Some(created.elapsed() - returned);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while received < sent && Instant::now() < deadline {
        while cb.recv().is_some() {
            received += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        a.connection_state(),
        webrtc_mesh_core::ConnectionState::Connected
    );
    eprintln!("{received} of {sent} arrived; traffic back {back:?} after the link returned");
    (sent, received, back)
}

#[test]
fn an_outage_is_survived_and_what_was_sent_during_it_arrives() {
    let (sent, received, back) = through_an_outage();
    assert_eq!(received, sent);
    // The driver's probe, every 100 ms at most, brings traffic back; the association's
    // retransmission timer, doubled during the outage up to its 1 s ceiling, up to a second later
    // (webrtc-rs's SCTP, from a 1 s floor, seconds later).
    assert!(
        back.is_some_and(|b| b < Duration::from_millis(2500)),
        "{back:?}"
    );
}

#[test]
fn traffic_resumes_within_a_round_trip_of_the_link_returning() {
    // A 3 s outage. Without the driver's probe, traffic came back on webrtc-rs's SCTP's next
    // retransmission (1.5 s after a 1.5 s outage); with probes every 250 ms, 25-256 ms after
    // this one; every 100 ms (full ones every 300 ms), 32-52 ms, and 20-36 ms over our SCTP.
    let (_, _, back) = through_an_outage();
    assert!(
        back.is_some_and(|b| b < Duration::from_millis(210)),
        "{back:?}"
    );
}

#[test]
fn a_runtime_applies_its_conditions_to_every_connection() {
    let runtime = Runtime::new(&RuntimeConfig {
        network_conditions: NetworkConditions {
            delay: Duration::from_millis(40),
            ..Default::default()
        },
        ..RuntimeConfig::default()
    })
    .unwrap();
    let (_a, _b, ca, cb, _) = pair(&runtime, &ConnectionConfig::loopback());
    let rtts = round_trips(&ca, &cb, 5);
    assert!(rtts[0] >= Duration::from_millis(80), "{rtts:?}");
}

#[test]
fn conditions_change_on_a_live_connection() {
    let runtime = Runtime::shared().unwrap();
    let (a, b, ca, cb, _) = pair(&runtime, &ConnectionConfig::loopback());
    let before = round_trips(&ca, &cb, 5);
    assert!(before[4] < Duration::from_millis(40), "{before:?}");
    let slow = NetworkConditions {
        delay: Duration::from_millis(30),
        ..Default::default()
    };
    a.set_network_conditions(&slow).unwrap();
    b.set_network_conditions(&slow).unwrap();
    let during = round_trips(&ca, &cb, 5);
    assert!(during[0] >= Duration::from_millis(60), "{during:?}");
    a.set_network_conditions(&NetworkConditions::default())
        .unwrap();
    b.set_network_conditions(&NetworkConditions::default())
        .unwrap();
    let after = round_trips(&ca, &cb, 5);
    assert!(after[2] < Duration::from_millis(40), "{after:?}");
    let bad = NetworkConditions {
        loss: 2.0,
        ..Default::default()
    };
    assert!(matches!(
        a.set_network_conditions(&bad),
        Err(webrtc_mesh_core::Error::InvalidConfig(_))
    ));
}

/// Sets up `pairs` connections at once through `loss` each way and 50 +- 10 ms one way; returns
/// how long each took to open its channel (sorted), of those that did within 20 s.
fn setup_times(pairs: u64, loss: f64) -> Vec<Duration> {
    let runtime = Runtime::shared().unwrap();
    let conditions = |seed| NetworkConditions {
        delay: Duration::from_millis(50),
        jitter: Duration::from_millis(10),
        loss,
        seed,
        ..Default::default()
    };
    let opts = reliable();
    let mut pairs: Vec<_> = (0..pairs)
        .map(|i| {
            let config = |seed| ConnectionConfig {
                network_conditions: conditions(seed),
                ..ConnectionConfig::loopback()
            };
            let a = Connection::new(&runtime, &config(2 * i + 1)).unwrap();
            let b = Connection::new(&runtime, &config(2 * i + 2)).unwrap();
            let ca = a.create_data_channel("game", &opts).unwrap();
            let cb = b.create_data_channel("game", &opts).unwrap();
            a.create_offer().unwrap();
            (a, b, ca, cb, common::Exchanged::default(), None::<Duration>)
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let mut open = 0;
        for (a, b, ca, cb, seen, took) in &mut pairs {
            common::exchange(a, b, seen);
            if ca.is_open() && cb.is_open() {
                took.get_or_insert(started.elapsed());
                open += 1;
            }
        }
        if open == pairs.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut times: Vec<Duration> = pairs.iter().filter_map(|p| p.5).collect();
    times.sort();
    times
}

fn percentile(times: &[Duration], p: usize) -> Option<Duration> {
    times
        .get((times.len() * p / 100).min(times.len().saturating_sub(1)))
        .copied()
}

#[test]
fn handshakes_through_a_lossy_link_never_hang() {
    // 10% loss each way, 50 ms +- 10 ms: before the handshake guard, 6 setups in 40 stayed
    // `Connecting` for good (a lost DTLS flight 5 was never sent again).
    const PAIRS: u64 = 30;
    let times = setup_times(PAIRS, 0.10);
    eprintln!(
        "10% loss: {} of {PAIRS} connected; p50 {:?}, slowest {:?}",
        times.len(),
        percentile(&times, 50),
        times.last()
    );
    assert_eq!(times.len() as u64, PAIRS, "some handshakes hung");
}

#[test]
fn two_hundred_setups_at_5_percent_loss_all_connect_with_p99_under_1_5_s() {
    // Before setup datagrams left in copies: p50 0.89 s, p90 1.89 s, p99 3.87 s (100 pairs), as
    // each lost DTLS or SCTP handshake datagram waited out a 1 s timer.
    const PAIRS: u64 = 200;
    let times = setup_times(PAIRS, 0.05);
    let p99 = percentile(&times, 99);
    eprintln!(
        "5% loss: {} of {PAIRS} connected; p50 {:?}, p90 {:?}, p99 {p99:?}, slowest {:?}",
        times.len(),
        percentile(&times, 50),
        percentile(&times, 90),
        times.last()
    );
    assert_eq!(times.len() as u64, PAIRS, "some setups did not connect");
    assert!(
        p99.is_some_and(|p99| p99 <= Duration::from_millis(1500)),
        "p99 setup time {p99:?}"
    );
}

/// Whether `datagram` holds a DTLS ChangeCipherSpec record (a record header anywhere in it).
fn has_change_cipher_spec(datagram: &[u8]) -> bool {
    let mut rest = datagram;
    while rest.len() >= 13 && rest[1] == 0xfe {
        if rest[0] == 20 {
            return true;
        }
        let length = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        rest = rest.get(13 + length..).unwrap_or(&[]);
    }
    false
}

#[test]
fn a_connection_whose_dtls_flight_5_is_lost_connects_within_3_s() {
    // Every copy of the first flight holding a ChangeCipherSpec (the DTLS client's flight 5,
    // ending in Finished) is dropped, 50 ms each way: the server's flight 4 comes again after its
    // 1 s timer, and the client must answer it with flight 5 again.
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig::loopback();
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    let ca = a.create_data_channel("game", &reliable()).unwrap();
    let cb = b.create_data_channel("game", &reliable()).unwrap();
    let relay = common::LossyRelay::start(0, Duration::from_millis(50), 3);
    let dropped = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(usize, Instant)>::new()));
    let record = dropped.clone();
    *relay.drop_if.lock().unwrap() = Box::new(move |side, datagram| {
        if !has_change_cipher_spec(datagram) {
            return false;
        }
        let mut record = record.lock().unwrap();
        let first = record.first().copied();
        // The first such flight, with its copies; not the server's flight 6 nor a resend.
        let drop =
            first.is_none_or(|(s, at)| s == side && at.elapsed() < Duration::from_millis(100));
        if drop {
            record.push((side, Instant::now()));
        }
        drop
    });
    let started = Instant::now();
    a.create_offer().unwrap();
    let mut seen = common::Exchanged::default();
    while !(ca.is_open() && cb.is_open()) {
        relay.exchange(&a, &b, &mut seen);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not connected after 10 s with flight 5 lost"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = started.elapsed();
    let dropped = dropped.lock().unwrap().len();
    eprintln!("flight 5 lost ({dropped} datagrams dropped): connected after {took:?}");
    assert!(dropped >= 1, "no flight 5 was dropped");
    assert!(
        took < Duration::from_secs(3),
        "connected only after {took:?}"
    );
}

#[test]
fn a_lone_lost_reliable_message_arrives_within_a_round_trip_and_the_delayed_acknowledgement() {
    // 50 ms each way; the datagram carrying a 700-byte message is dropped, and its copy (see
    // the next test) too, and nothing is sent after it, so no acknowledgement can tell SCTP it
    // was lost: webrtc-rs's SCTP resent it after its 1 s minimum timeout; ours and the probe
    // bring it in 0.36 s.
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig::loopback();
    let relay = common::LossyRelay::start(0, Duration::from_millis(50), 9);
    let (a, b, mut channels) = {
        let a = Connection::new(&runtime, &config).unwrap();
        let b = Connection::new(&runtime, &config).unwrap();
        let ca = a.create_data_channel("game", &reliable()).unwrap();
        let cb = b.create_data_channel("game", &reliable()).unwrap();
        a.create_offer().unwrap();
        let mut seen = common::Exchanged::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(ca.is_open() && cb.is_open()) {
            relay.exchange(&a, &b, &mut seen);
            assert!(Instant::now() < deadline, "did not connect");
            std::thread::sleep(Duration::from_millis(1));
        }
        (a, b, vec![(ca, cb)])
    };
    let (ca, cb) = channels.remove(0);
    // Let the round trip be measured (the stats' first reading).
    let _ = round_trips(&ca, &cb, 3);
    std::thread::sleep(Duration::from_millis(1100));
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = dropped.clone();
    *relay.drop_if.lock().unwrap() = Box::new(move |side, datagram| {
        let drop = side == 0
            && (700..900).contains(&datagram.len())
            && count.load(std::sync::atomic::Ordering::Relaxed) < 2;
        if drop {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        drop
    });
    let sent = Instant::now();
    ca.send(&[7u8; 700]).unwrap();
    let message = loop {
        if let Some(message) = cb.recv() {
            break message;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the message never arrived"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let took = sent.elapsed();
    eprintln!("a lost lone message arrived after {took:?}");
    assert_eq!(message.data.len(), 700);
    assert_eq!(
        dropped.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "its datagram and the copy were dropped"
    );
    assert!(
        took < Duration::from_millis(600),
        "arrived only after {took:?}"
    );
    drop((a, b));
}

#[test]
fn sparse_reliable_events_through_loss_arrive_without_waiting_for_a_retransmission() {
    // 20 events a second of 100 bytes, 50 ms and 5% loss each way. Before their datagrams were
    // sent twice, a lost event waited for the probe (a round trip plus the peer's 200 ms delayed
    // acknowledgement): p99 about 370 ms.
    let runtime = Runtime::shared().unwrap();
    let config = |seed| over_50_ms(0.05, seed);
    let (_a, _b, mut channels) = connected(&runtime, [&config(21), &config(22)], &[reliable()]);
    let (ca, cb) = channels.remove(0);
    let epoch = Instant::now();
    let count = 100u32;
    let mut latencies = Vec::new();
    let mut next = Instant::now();
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while latencies.len() < count as usize && Instant::now() < deadline {
        if sent < count && Instant::now() >= next {
            let mut data = (epoch.elapsed().as_micros() as u64).to_be_bytes().to_vec();
            data.resize(100, 0);
            ca.send(&data).unwrap();
            sent += 1;
            next += Duration::from_millis(50);
        }
        while let Some(message) = cb.recv() {
            let at = u64::from_be_bytes(message.data[..8].try_into().unwrap());
            latencies.push(epoch.elapsed() - Duration::from_micros(at));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(latencies.len(), count as usize, "every event arrives");
    latencies.sort();
    let p50 = percentile(&latencies, 50).unwrap();
    let p99 = percentile(&latencies, 99).unwrap();
    let late = latencies
        .iter()
        .filter(|&&t| t > Duration::from_millis(100))
        .count();
    eprintln!(
        "sparse events at 5% loss: p50 {p50:?}, p99 {p99:?}, slowest {:?}, {late} over 100 ms",
        latencies[latencies.len() - 1]
    );
    assert!(
        p99 <= Duration::from_millis(150),
        "p99 {p99:?} (one way is 50 ms)"
    );
}

#[test]
fn a_connection_that_cannot_connect_fails_at_its_connect_timeout() {
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig {
        network_conditions: NetworkConditions {
            loss: 1.0,
            ..Default::default()
        },
        connect_timeout: Duration::from_secs(1),
        ..ConnectionConfig::loopback()
    };
    let mut mesh = webrtc_mesh_core::Mesh::create_mesh(1, &[]).unwrap();
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    mesh.add_peer(2, &a, 1).unwrap();
    b.create_data_channel("game", &reliable()).unwrap();
    b.create_offer().unwrap();
    let started = Instant::now();
    let mut seen = common::Exchanged::default();
    let mut reported = None;
    while started.elapsed() < Duration::from_secs(5) && reported.is_none() {
        common::exchange(&a, &b, &mut seen);
        for event in mesh.poll() {
            if let webrtc_mesh_core::MeshEvent::PeerFailed { peer_id: 2, reason } = event {
                reported = Some((started.elapsed(), reason));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("reported {reported:?}");
    let (after, reason) = reported.expect("the mesh reports the peer");
    assert!(
        !mesh.has_peer(2),
        "the peer that never connected is removed"
    );
    assert_eq!(reason, webrtc_mesh_core::DisconnectReason::Failed);
    assert!(
        after < Duration::from_millis(1500),
        "reported after {after:?}"
    );
}

/// Two connected mesh nodes (ids 1 and 2) whose peer timeout is `timeout`.
fn mesh_pair(timeout: Duration) -> Vec<common::Node> {
    let runtime = Runtime::shared().unwrap();
    let mut nodes = common::mesh_nodes(&runtime, 2, &[]);
    common::connect_all(&mut nodes, Duration::from_secs(10));
    for node in &mut nodes {
        node.mesh.set_peer_timeout(timeout);
        node.events.clear();
    }
    nodes
}

fn timed_out(node: &common::Node, peer: i32) -> bool {
    node.events.iter().any(|e| {
        *e == webrtc_mesh_core::MeshEvent::PeerDisconnected {
            peer_id: peer,
            reason: webrtc_mesh_core::DisconnectReason::TimedOut,
        }
    })
}

#[test]
fn a_silent_peer_is_reported_at_the_peer_timeout() {
    let mut nodes = mesh_pair(Duration::from_secs(2));
    // Peer 2 goes silent (all it sends is lost), as a killed process would.
    let silenced = Instant::now();
    nodes[1].connections[&1]
        .set_network_conditions(&NetworkConditions {
            loss: 1.0,
            ..Default::default()
        })
        .unwrap();
    let reported = common::run_until(&mut nodes, Duration::from_secs(6), |nodes| {
        timed_out(&nodes[0], 2)
    });
    let after = silenced.elapsed();
    eprintln!("silent peer reported after {after:?}");
    assert!(reported, "never reported");
    // Silence counts from the last datagram heard, up to a keepalive interval (1 s) before
    // the peer went quiet.
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(2600),
        "reported after {after:?} with a 2 s timeout"
    );
}

#[test]
fn an_outage_shorter_than_the_peer_timeout_is_survived() {
    let mut nodes = mesh_pair(Duration::from_secs(3));
    // Both directions down for 2 s (more than ICE keepalives and SCTP can bridge unnoticed).
    let outage = NetworkConditions {
        outages: vec![(Duration::ZERO, Duration::from_secs(2))],
        ..Default::default()
    };
    nodes[0].connections[&2]
        .set_network_conditions(&outage)
        .unwrap();
    nodes[1].connections[&1]
        .set_network_conditions(&outage)
        .unwrap();
    let started = Instant::now();
    let mut sent = 0u32;
    let mut received = 0u32;
    while started.elapsed() < Duration::from_secs(5) {
        if nodes[0]
            .mesh
            .send(
                2,
                0,
                webrtc_mesh_core::TransferMode::Reliable,
                &sent.to_be_bytes(),
            )
            .is_ok()
        {
            sent += 1;
        }
        common::step(&mut nodes);
        while nodes[1].mesh.take_packet().is_some() {
            received += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !timed_out(&nodes[0], 2) && !timed_out(&nodes[1], 1),
        "{:?}",
        nodes[0].events
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while received < sent && Instant::now() < deadline {
        common::step(&mut nodes);
        while nodes[1].mesh.take_packet().is_some() {
            received += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(received, sent, "everything sent through the outage arrives");
}

/// Messages sent while the driver cannot run (a busy runtime) wait for its next flush; their
/// 1 ms lifetime must not run out in that wait, before SCTP has sent them even once.
#[test]
fn messages_sent_while_the_runtime_is_busy_still_get_their_transmission() {
    const COUNT: u32 = 30;
    let runtime = Runtime::new(&RuntimeConfig {
        worker_threads: 1,
        ..Default::default()
    })
    .unwrap();
    let config = ConnectionConfig::loopback();
    let (_a, _b, mut channels) = connected(&runtime, [&config; 2], &[reliable(), unreliable(2)]);
    let (ua, ub) = channels.pop().unwrap();
    let (ca, cb) = channels.pop().unwrap();
    // Warm up the congestion window a little, then keep the runtime's one worker busy for 20 ms
    // while a burst is sent: all but the first message wait for the driver's next flush.
    let _ = round_trips(&ca, &cb, 20);
    let mut delivered = 0;
    for round in 0..5 {
        let (started_tx, started) = std::sync::mpsc::channel();
        runtime.tokio_handle().spawn(async move {
            let _ = started_tx.send(());
            std::thread::sleep(Duration::from_millis(20));
        });
        started.recv().unwrap();
        for i in 0..COUNT {
            let mut data = (round * COUNT + i).to_be_bytes().to_vec();
            data.resize(100, 0);
            ua.send(&data).unwrap();
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut got = 0;
        while got < COUNT && Instant::now() < deadline {
            while ub.recv().is_some() {
                got += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        delivered += got;
    }
    eprintln!(
        "sent while the runtime was busy: {delivered} of {} delivered",
        5 * COUNT
    );
    assert_eq!(
        delivered,
        5 * COUNT,
        "messages expired before their first transmission"
    );
}

/// Sends `rate` messages a second of `size` bytes for `seconds` on an unordered channel with a
/// 1 ms lifetime (Godot's default), 50 ms one way and `loss` each way; returns the share of all
/// but the first second delivered (it warms up the congestion window).
fn unreliable_delivery(rate: u32, size: usize, loss: f64, seconds: u32) -> f64 {
    let runtime = Runtime::shared().unwrap();
    let config = |seed| over_50_ms(loss, seed);
    let (_a, _b, mut channels) = connected(&runtime, [&config(11), &config(12)], &[unreliable(3)]);
    let (ua, ub) = channels.pop().unwrap();
    let total = rate * seconds;
    let warm_up = rate;
    let started = Instant::now();
    let mut sent = 0;
    let mut got = 0;
    while started.elapsed() < Duration::from_millis(u64::from(seconds) * 1000 + 300) {
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u32;
        while sent < due.min(total) {
            let mut data = sent.to_be_bytes().to_vec();
            data.resize(size, 0);
            ua.send(&data).unwrap();
            sent += 1;
        }
        while let Some(message) = ub.recv() {
            let seq = u32::from_be_bytes(message.data[..4].try_into().unwrap());
            got += u32::from(seq >= warm_up);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    f64::from(got) / f64::from(total - warm_up)
}

#[test]
fn unreliable_channels_deliver_game_traffic_over_a_50_ms_link() {
    // (rate, size, loss each way, seconds, share required). One transmission each delivers at
    // most 1 - loss, so the second case is bounded by its loss (90-95% measured). The third
    // needs a window that random loss does not keep halving: over webrtc-rs's SCTP, whose
    // window halved at each loss and whose second loss in fast recovery waited for its 1 s
    // timer, 32-58% arrived; over ours (a fifth off for a loss with no queue behind it, RACK
    // for the second) 95%.
    let cases = [
        (1000, 1024, 0.0, 3, 0.99),
        (60, 200, 0.05, 3, 0.85),
        (100, 1024, 0.05, 6, 0.80),
    ];
    let mut failures = Vec::new();
    for (rate, size, loss, seconds, required) in cases {
        let share = unreliable_delivery(rate, size, loss, seconds);
        eprintln!(
            "{rate}/s x {size} B at {}% loss: {:.1}% delivered (required {}%)",
            loss * 100.0,
            share * 100.0,
            required * 100.0
        );
        if share < required {
            failures.push(format!(
                "{rate}/s x {size} B at {}% loss: {share:.3}",
                loss * 100.0
            ));
        }
    }
    assert!(failures.is_empty(), "below target: {failures:?}");
}

#[test]
fn a_flooded_unreliable_channel_does_not_starve_the_reliable_one() {
    // A 200 KB/s link, 20 ms each way; the game floods its unreliable channel at 1 MB/s (five
    // times what the link carries) and sends a reliable event every 50 ms.
    let runtime = Runtime::shared().unwrap();
    let config = |seed| ConnectionConfig {
        network_conditions: NetworkConditions {
            delay: Duration::from_millis(20),
            bandwidth: Some(200_000),
            seed,
            ..Default::default()
        },
        ..ConnectionConfig::loopback()
    };
    let (_a, _b, mut channels) = connected(
        &runtime,
        [&config(1), &config(2)],
        &[reliable(), unreliable(2)],
    );
    let (ua, ub) = channels.pop().unwrap();
    let (ca, cb) = channels.pop().unwrap();
    let started = Instant::now();
    let (mut flood, mut events, mut latencies, mut unreliable_got) = (0u32, 0u32, Vec::new(), 0);
    while started.elapsed() < Duration::from_secs(3) {
        let due = (started.elapsed().as_secs_f64() * 1000.0) as u32;
        while flood < due {
            let _ = ua.send(&[0u8; 1000]);
            flood += 1;
        }
        if started.elapsed() >= Duration::from_millis(50) * events {
            let at = started.elapsed().as_nanos() as u64;
            ca.send(&at.to_be_bytes()).unwrap();
            events += 1;
        }
        while let Some(m) = cb.recv() {
            let at = u64::from_be_bytes(m.data[..8].try_into().unwrap());
            latencies.push(started.elapsed() - Duration::from_nanos(at));
        }
        while ub.recv().is_some() {
            unreliable_got += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while (latencies.len() as u32) < events && Instant::now() < deadline {
        while let Some(m) = cb.recv() {
            let at = u64::from_be_bytes(m.data[..8].try_into().unwrap());
            latencies.push(started.elapsed() - Duration::from_nanos(at));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    latencies.sort();
    let (p50, p90) = (percentile(&latencies, 50), percentile(&latencies, 90));
    eprintln!(
        "{} of {events} events, p50 {p50:?}, p90 {p90:?}, p99 {:?}; unreliable {unreliable_got} \
         of {flood}",
        latencies.len(),
        percentile(&latencies, 99),
    );
    assert_eq!(
        latencies.len() as u32,
        events,
        "every reliable event arrived"
    );
    // Starved events would wait seconds. Each stream takes its turn in the association, so an
    // event waits for at most one flood message there, then for the link's queue (a quarter of
    // a second when full): p50 232 ms, p90 271 ms. Over webrtc-rs's SCTP, in about one run of
    // five a second loss during fast recovery held them for its 1 s timer: p90 0.84-1.0 s.
    assert!(
        p50.is_some_and(|p| p < Duration::from_millis(400)),
        "reliable events waited behind the flood: p50 {p50:?}"
    );
    assert!(
        p90.is_some_and(|p| p < Duration::from_millis(700)),
        "reliable events stalled: p90 {p90:?}"
    );
}

#[test]
fn a_burst_beyond_what_the_link_takes_delivers_its_newest_messages() {
    // 2,000 x 1 KiB at once on Godot's unordered 1 ms channel, 50 ms each way: the link takes a
    // few kilobytes a round trip. Written to SCTP whole, the burst's oldest messages went out
    // and the rest expired in its queue.
    const COUNT: u32 = 2000;
    let runtime = Runtime::shared().unwrap();
    let config = |seed| over_50_ms(0.0, seed);
    let (_a, _b, mut channels) = connected(&runtime, [&config(21), &config(22)], &[unreliable(3)]);
    let (ua, ub) = channels.pop().unwrap();
    for seq in 0..COUNT {
        let mut data = seq.to_be_bytes().to_vec();
        data.resize(1024, 0);
        ua.send(&data).unwrap();
    }
    let mut got = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        while let Some(message) = ub.recv() {
            got.push(u32::from_be_bytes(message.data[..4].try_into().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let newest = got.iter().filter(|&&seq| seq >= COUNT - 100).count();
    eprintln!(
        "a burst of {COUNT}: {} arrived, {newest} of the newest 100",
        got.len()
    );
    assert!(
        newest >= 10,
        "{newest} of the burst's newest 100 arrived: {got:?}"
    );
}
