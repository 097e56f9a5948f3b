//! The relay path through a real TURN server: Debian's coturn, started on loopback by the test.
//!
//! Skipped with a line saying so when `turnserver` is not installed, unless
//! `WEBRTC_MESH_REQUIRE_TURN` is set (CI sets it, so there a missing server fails).

mod common;

use std::time::{Duration, Instant};

use common::coturn::{Coturn, Listen, PASSWORD, USER, start_coturn};
use webrtc_mesh_core::{
    ChannelOptions, Connection, ConnectionConfig, ConnectionEvent, ConnectionState, GatheringState,
    IceServer, IceTransportPolicy, Runtime,
};

fn relay_only(url: String, password: &str) -> ConnectionConfig {
    ConnectionConfig {
        ice_servers: vec![IceServer {
            urls: vec![url],
            username: USER.into(),
            credential: password.into(),
        }],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..ConnectionConfig::loopback()
    }
}

/// A loopback configuration with `urls` of one server, and the test's TURN credentials.
fn with_servers(urls: Vec<String>) -> ConnectionConfig {
    ConnectionConfig {
        ice_servers: vec![IceServer {
            urls,
            username: USER.into(),
            credential: PASSWORD.into(),
        }],
        ..ConnectionConfig::loopback()
    }
}

/// Relays descriptions and candidates both ways until `done`; returns the candidate lines seen.
fn negotiate(
    a: &Connection,
    b: &Connection,
    timeout: Duration,
    done: impl Fn() -> bool,
) -> (bool, Vec<String>) {
    let mut seen = common::Exchanged::default();
    let deadline = Instant::now() + timeout;
    while !done() {
        common::exchange(a, b, &mut seen);
        if Instant::now() > deadline {
            return (false, seen.candidates);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (true, seen.candidates)
}

fn channel(id: u16) -> ChannelOptions {
    ChannelOptions {
        negotiated_id: Some(id),
        ..Default::default()
    }
}

/// Two relay-only peers through `turn`: channels open quickly, only relay candidates appear,
/// data crosses both ways in order with short round trips, and stats report the relay path.
fn relay_works(turn: &Coturn, config: &ConnectionConfig) {
    let runtime = Runtime::shared().unwrap();
    let config = config.clone();
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    let ca = a.create_data_channel("game", &channel(1)).unwrap();
    let cb = b.create_data_channel("game", &channel(1)).unwrap();

    let started = Instant::now();
    a.create_offer().unwrap();
    let (opened, candidates) = negotiate(&a, &b, Duration::from_secs(15), || {
        ca.is_open() && cb.is_open()
    });
    let log = std::fs::read_to_string(&turn.log).unwrap_or_default();
    assert!(
        opened,
        "channels did not open through the relay; coturn log:\n{log}"
    );
    // Nothing better than a relay can turn up, so nothing should wait for one (webrtc-rs's
    // default holds a relay pair 2 s before nominating it).
    let setup = started.elapsed();
    eprintln!(
        "{}: relay-only channels open in {setup:?}",
        config.ice_servers[0].urls[0]
    );
    assert!(setup < Duration::from_secs(1), "relay setup took {setup:?}");
    assert!(!candidates.is_empty());
    for candidate in &candidates {
        assert!(
            candidate.contains(" typ relay"),
            "relay-only policy leaked a non-relay candidate: {candidate}"
        );
    }

    for i in 0..50u32 {
        ca.send(&i.to_be_bytes()).unwrap();
        cb.send(&(1000 + i).to_be_bytes()).unwrap();
    }
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(5);
    while at_a.len() < 50 || at_b.len() < 50 {
        while let Some(m) = ca.recv() {
            at_a.push(u32::from_be_bytes(m.data[..4].try_into().unwrap()));
        }
        while let Some(m) = cb.recv() {
            at_b.push(u32::from_be_bytes(m.data[..4].try_into().unwrap()));
        }
        assert!(Instant::now() < deadline, "data did not cross the relay");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(at_b, (0..50).collect::<Vec<_>>());
    assert_eq!(at_a, (1000..1050).collect::<Vec<_>>());

    // Round trips through the relay: on loopback they take well under a millisecond of the
    // relay's own time, so anything near webrtc-rs's timer ticks (50-250 ms) means relayed
    // packets wait for a wake-up.
    let mut rtts = Vec::new();
    for i in 0..20u32 {
        let sent = Instant::now();
        ca.send(&i.to_be_bytes()).unwrap();
        let deadline = sent + Duration::from_secs(2);
        let echo = loop {
            if let Some(m) = cb.recv() {
                break m;
            }
            assert!(Instant::now() < deadline, "ping {i} not delivered");
            std::thread::yield_now();
        };
        cb.send(&echo.data).unwrap();
        loop {
            if ca.recv().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "pong {i} not delivered");
            std::thread::yield_now();
        }
        rtts.push(sent.elapsed());
    }
    rtts.sort();
    let p50 = rtts[rtts.len() / 2];
    eprintln!(
        "relayed round trip p50 {p50:?}, max {:?}",
        rtts[rtts.len() - 1]
    );
    assert!(
        p50 < Duration::from_millis(25),
        "relayed round trip p50 {p50:?}"
    );

    for side in [&a, &b] {
        let stats = side.stats().unwrap();
        assert_eq!(stats.state, ConnectionState::Connected);
        assert_eq!(stats.local_candidate.map(|c| c.as_str()), Some("relay"));
        assert_eq!(stats.remote_candidate.map(|c| c.as_str()), Some("relay"));
    }
    // The server saw the allocations: the data really went through it.
    let log = std::fs::read_to_string(&turn.log).unwrap_or_default();
    assert!(
        log.contains("ALLOCATE"),
        "coturn log shows no allocation:\n{log}"
    );
}

#[test]
fn relay_only_peers_connect_through_coturn() {
    let Some(turn) = start_coturn(Listen::UdpAndTcp) else {
        return;
    };
    let url = format!("turn:127.0.0.1:{}", turn.port);
    relay_works(&turn, &relay_only(url, PASSWORD));
}

#[test]
fn turn_over_tcp_relays() {
    let Some(turn) = start_coturn(Listen::TcpOnly) else {
        return;
    };
    let url = format!("turn:127.0.0.1:{}?transport=tcp", turn.port);
    relay_works(&turn, &relay_only(url, PASSWORD));
}

#[test]
fn turn_over_tls_relays() {
    let Some(turn) = start_coturn(Listen::TlsOnly) else {
        return;
    };
    let url = format!("turns:127.0.0.1:{}", turn.port);
    let config = ConnectionConfig {
        tls_ca_certificates: turn.ca_pem.clone(),
        ..relay_only(url, PASSWORD)
    };
    relay_works(&turn, &config);
}

#[test]
fn a_turns_server_with_an_untrusted_certificate_is_not_used() {
    let Some(turn) = start_coturn(Listen::TlsOnly) else {
        return;
    };
    // Only the system's authorities: the test CA is not among them.
    let config = relay_only(format!("turns:127.0.0.1:{}", turn.port), PASSWORD);
    assert_no_relay(&config);
}

/// Two relay-only peers with `config` gather nothing and never connect.
fn assert_no_relay(config: &ConnectionConfig) {
    let runtime = Runtime::shared().unwrap();
    let a = Connection::new(&runtime, config).unwrap();
    let b = Connection::new(&runtime, config).unwrap();
    let ca = a.create_data_channel("game", &channel(1)).unwrap();
    let cb = b.create_data_channel("game", &channel(1)).unwrap();
    a.create_offer().unwrap();
    let (opened, candidates) = negotiate(&a, &b, Duration::from_secs(3), || {
        ca.is_open() && cb.is_open()
    });
    assert!(!opened, "connected although the relay could not be used");
    assert!(candidates.is_empty(), "{candidates:?}");
}

#[test]
fn a_wrong_turn_password_gathers_no_relay_candidate() {
    let Some(turn) = start_coturn(Listen::UdpAndTcp) else {
        return;
    };
    assert_no_relay(&relay_only(
        format!("turn:127.0.0.1:{}", turn.port),
        "wrong",
    ));
}

/// The candidate lines a connection with `config` signals for its offer, once gathering
/// completes (which must not wait for anything but the servers' answers).
fn gathered(config: &ConnectionConfig) -> Vec<String> {
    let runtime = Runtime::shared().unwrap();
    let a = Connection::new(&runtime, config).unwrap();
    a.create_data_channel("game", &channel(1)).unwrap();
    a.create_offer().unwrap();
    gathered_after(&a)
}

/// The candidate lines `a` signals once its gathering completes.
fn gathered_after(a: &Connection) -> Vec<String> {
    let started = Instant::now();
    let mut candidates = Vec::new();
    while a.gathering_state() != GatheringState::Complete {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "gathering did not complete; so far {candidates:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    eprintln!("gathering took {:?}", started.elapsed());
    while let Some(event) = a.poll_event() {
        if let ConnectionEvent::IceCandidate { name, .. } = event {
            candidates.push(name);
        }
    }
    candidates
}

#[test]
fn a_stun_server_gives_a_server_reflexive_candidate() {
    let Some(turn) = start_coturn(Listen::UdpAndTcp) else {
        return;
    };
    let config = ConnectionConfig {
        ice_servers: vec![IceServer {
            urls: vec![format!("stun:127.0.0.1:{}", turn.port)],
            ..Default::default()
        }],
        ..ConnectionConfig::loopback()
    };
    let candidates = gathered(&config);
    let host = candidates
        .iter()
        .find(|c| c.contains(" typ host"))
        .expect("a host candidate");
    let srflx = candidates
        .iter()
        .find(|c| c.contains(" typ srflx"))
        .unwrap_or_else(|| panic!("no server-reflexive candidate in {candidates:?}"));
    // coturn sees us on loopback at our own socket: the mapped address is the host one, and
    // the candidate names that socket as its base.
    let port = host.split_whitespace().nth(5).unwrap();
    assert!(
        srflx.contains(&format!(
            "127.0.0.1 {port} typ srflx raddr 127.0.0.1 rport {port}"
        )),
        "{srflx}"
    );
}

#[test]
fn every_kind_of_candidate_is_gathered_from_one_turn_server() {
    let Some(turn) = start_coturn(Listen::UdpAndTcp) else {
        return;
    };
    let config = with_servers(vec![
        format!("stun:127.0.0.1:{}", turn.port),
        format!("turn:127.0.0.1:{}", turn.port),
    ]);
    let candidates = gathered(&config);
    for kind in ["host", "srflx", "relay"] {
        assert_eq!(
            candidates
                .iter()
                .filter(|c| c.contains(&format!(" typ {kind}")))
                .count(),
            1,
            "one {kind} candidate expected in {candidates:?}"
        );
    }
}

#[test]
fn an_unanswered_stun_server_ends_gathering_without_its_candidate() {
    // Port 9 (discard) on loopback: nothing answers. The host candidate is signaled at once,
    // so connecting never waits for the server, and gathering still ends once the Binding
    // request has used up its retransmissions.
    let config = ConnectionConfig {
        ice_servers: vec![IceServer {
            urls: vec!["stun:127.0.0.1:9".into()],
            ..Default::default()
        }],
        ..ConnectionConfig::loopback()
    };
    let runtime = Runtime::shared().unwrap();
    let a = Connection::new(&runtime, &config).unwrap();
    a.create_data_channel("game", &channel(1)).unwrap();
    let started = Instant::now();
    a.create_offer().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut candidates = Vec::new();
    let drain = |candidates: &mut Vec<String>| {
        while let Some(event) = a.poll_event() {
            if let ConnectionEvent::IceCandidate { name, .. } = event {
                candidates.push(name);
            }
        }
    };
    drain(&mut candidates);
    assert_eq!(candidates.len(), 1, "{candidates:?}");
    assert!(candidates[0].contains(" typ host"), "{candidates:?}");
    assert_eq!(a.gathering_state(), GatheringState::Gathering);
    while a.gathering_state() != GatheringState::Complete {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gathering never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("gathering ended after {:?}", started.elapsed());
    drain(&mut candidates);
    assert_eq!(candidates.len(), 1, "{candidates:?}");
}

#[test]
fn stats_name_the_pair_in_use_when_candidates_of_several_kinds_were_gathered() {
    let Some(turn) = start_coturn(Listen::UdpAndTcp) else {
        return;
    };
    // Host, server-reflexive and relayed candidates on both sides; on loopback the host pair
    // wins, and the stats must say so rather than guess from the kinds gathered (they said
    // nothing at all for the remote end in about one run of two).
    let config = with_servers(vec![
        format!("stun:127.0.0.1:{}", turn.port),
        format!("turn:127.0.0.1:{}", turn.port),
    ]);
    let runtime = Runtime::shared().unwrap();
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    let ca = a.create_data_channel("game", &channel(1)).unwrap();
    let cb = b.create_data_channel("game", &channel(1)).unwrap();
    a.create_offer().unwrap();
    let (opened, mut candidates) = negotiate(&a, &b, Duration::from_secs(10), || {
        ca.is_open()
            && cb.is_open()
            && a.gathering_state() == GatheringState::Complete
            && b.gathering_state() == GatheringState::Complete
    });
    assert!(opened);
    // The last candidates may have come out after the final exchange.
    let mut rest = common::Exchanged::default();
    common::exchange(&a, &b, &mut rest);
    candidates.extend(rest.candidates);
    for kind in ["host", "srflx", "relay"] {
        assert!(
            candidates
                .iter()
                .any(|c| c.contains(&format!(" typ {kind}"))),
            "no {kind} candidate signaled: {candidates:?}"
        );
    }
    for side in [&a, &b] {
        let stats = side.stats().unwrap();
        assert_eq!(stats.local_candidate.map(|c| c.as_str()), Some("host"));
        // The remote end is the peer's host address, signaled or learned from its checks
        // first (peer-reflexive), never a kind it was not.
        assert!(
            matches!(
                stats.remote_candidate.map(|c| c.as_str()),
                Some("host" | "prflx")
            ),
            "{stats:?}"
        );
        assert!(
            stats.packets_sent > 0 && stats.packets_received > 0,
            "{stats:?}"
        );
    }
}

#[test]
fn a_server_named_by_host_name_is_resolved_off_the_callers_thread() {
    let Some(turn) = start_coturn(Listen::UdpAndTcp) else {
        return;
    };
    let config = with_servers(vec![
        format!("stun:localhost:{}", turn.port),
        format!("turn:localhost:{}?transport=tcp", turn.port),
    ]);
    let runtime = Runtime::shared().unwrap();
    let calls = Instant::now();
    let a = Connection::new(&runtime, &config).unwrap();
    a.create_data_channel("game", &channel(1)).unwrap();
    a.create_offer().unwrap();
    let calls = calls.elapsed();
    let candidates = gathered_after(&a);
    assert!(
        calls < Duration::from_millis(100),
        "the calls took {calls:?}"
    );
    for kind in ["srflx", "relay"] {
        assert!(
            candidates
                .iter()
                .any(|c| c.contains(&format!(" typ {kind}"))),
            "no {kind} candidate from a server named localhost: {candidates:?}"
        );
    }
}
