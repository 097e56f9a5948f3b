//! Peers connect over real loopback WebRTC: trickle ICE, both description habits, a full mesh.

mod common;

use std::time::{Duration, Instant};

use common::{connect_all, mesh_nodes};
use webrtc_mesh_core::{
    ChannelOptions, ChannelState, Connection, ConnectionConfig, ConnectionEvent, ConnectionState,
    DataChannel, GatheringState, MeshEvent, Runtime, SdpType, SignalingState,
};

/// Moves events from `from` to `to`; with `browser_habit` the sender also applies its own
/// description again, as browser-style scripts do.
fn relay_pair(from: &Connection, to: &Connection, browser_habit: bool, stats: &mut (usize, usize)) {
    while let Some(event) = from.poll_event() {
        match event {
            ConnectionEvent::SessionDescription { sdp_type, sdp } => {
                if browser_habit {
                    from.set_local_description(sdp_type.as_str(), &sdp).unwrap();
                }
                to.set_remote_description(sdp_type.as_str(), &sdp).unwrap();
                stats.0 += 1;
            }
            ConnectionEvent::IceCandidate { media, index, name } => {
                assert!(name.starts_with("candidate:"), "{name}");
                to.add_ice_candidate(&media, index, &name).unwrap();
                stats.1 += 1;
            }
            ConnectionEvent::DataChannel(_) => {}
        }
    }
}

fn wait_open(
    a: &Connection,
    b: &Connection,
    channels: &[&DataChannel],
    browser_habit: bool,
) -> (usize, usize) {
    let mut stats = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !channels.iter().all(|c| c.is_open()) {
        relay_pair(a, b, browser_habit, &mut stats);
        relay_pair(b, a, browser_habit, &mut stats);
        assert!(Instant::now() < deadline, "channels did not open");
        std::thread::sleep(Duration::from_millis(1));
    }
    stats
}

fn negotiated(id: u16) -> ChannelOptions {
    ChannelOptions {
        negotiated_id: Some(id),
        ..Default::default()
    }
}

#[test]
fn two_peers_connect_with_trickled_candidates() {
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig::loopback();
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    assert_eq!(a.connection_state(), ConnectionState::New);
    assert_eq!(a.gathering_state(), GatheringState::New);
    let ca = a.create_data_channel("chat", &negotiated(7)).unwrap();
    let cb = b.create_data_channel("chat", &negotiated(7)).unwrap();
    assert_eq!(ca.ready_state(), ChannelState::Connecting);

    a.create_offer().unwrap();
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    let (descriptions, candidates) = wait_open(&a, &b, &[&ca, &cb], false);
    assert_eq!(descriptions, 2, "one offer and one answer");
    assert!(candidates >= 2, "each side trickles at least one candidate");
    assert_eq!(a.connection_state(), ConnectionState::Connected);
    assert_eq!(b.signaling_state(), SignalingState::Stable);

    ca.send(b"hello").unwrap();
    cb.send_text("hi").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut got_a, mut got_b) = (None, None);
    while got_a.is_none() || got_b.is_none() {
        got_a = got_a.or_else(|| ca.recv());
        got_b = got_b.or_else(|| cb.recv());
        assert!(Instant::now() < deadline, "messages did not arrive");
        std::thread::sleep(Duration::from_millis(1));
    }
    let (got_a, got_b) = (got_a.unwrap(), got_b.unwrap());
    assert_eq!(&got_b.data[..], b"hello");
    assert!(!got_b.is_string);
    assert_eq!(&got_a.data[..], b"hi");
    assert!(got_a.is_string);

    let stats = a.stats().unwrap();
    assert_eq!(stats.state, ConnectionState::Connected);
    assert!(
        stats.bytes_sent > 0 && stats.bytes_received > 0,
        "{stats:?}"
    );
    assert_eq!(stats.local_candidate.map(|c| c.as_str()), Some("host"));
    assert_eq!(stats.remote_candidate.map(|c| c.as_str()), Some("host"));
    assert!(
        stats
            .round_trip_time
            .is_some_and(|rtt| rtt < Duration::from_millis(100))
    );
}

#[test]
fn browser_habit_and_in_band_channels() {
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig::loopback();
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    // Announced in-band: `b` learns of it as an event.
    let ca = a
        .create_data_channel(
            "in-band",
            &ChannelOptions {
                ordered: false,
                max_retransmits: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
    a.create_offer().unwrap();

    let mut stats = (0, 0);
    let mut cb = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(ca.is_open() && cb.as_ref().is_some_and(DataChannel::is_open)) {
        relay_pair(&a, &b, true, &mut stats);
        while let Some(event) = b.poll_event() {
            match event {
                ConnectionEvent::DataChannel(c) => cb = Some(c),
                ConnectionEvent::SessionDescription { sdp_type, sdp } => {
                    assert_eq!(sdp_type, SdpType::Answer);
                    b.set_local_description(sdp_type.as_str(), &sdp).unwrap();
                    a.set_remote_description(sdp_type.as_str(), &sdp).unwrap();
                }
                ConnectionEvent::IceCandidate { media, index, name } => {
                    a.add_ice_candidate(&media, index, &name).unwrap();
                }
            }
        }
        assert!(Instant::now() < deadline, "in-band channel did not open");
        std::thread::sleep(Duration::from_millis(1));
    }
    let cb = cb.unwrap();
    assert_eq!(cb.label(), "in-band");
    assert!(!cb.options().ordered);
    // webrtc-rs configures the stream's retransmission limit from the open message but does
    // not report it on the channel, so `max_retransmits` is not asserted here.
    ca.send(b"over in-band").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        if let Some(m) = cb.recv() {
            break m;
        }
        assert!(Instant::now() < deadline, "in-band message did not arrive");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(&got.data[..], b"over in-band");
}

#[test]
fn four_peer_full_mesh_connects() {
    let runtime = Runtime::shared().unwrap();
    let mut nodes = mesh_nodes(&runtime, 4, &[]);
    let took = connect_all(&mut nodes, Duration::from_secs(20));
    eprintln!("4-peer mesh connected in {took:?}");
    // ~10 ms here. webrtc-rs alone sends the first DTLS and SCTP packets on its next timers,
    // which took every connection 250 ms or more.
    assert!(took < Duration::from_millis(150), "took {took:?}");
    for node in &nodes {
        let mut connected: Vec<i32> = node
            .events
            .iter()
            .filter_map(|e| match e {
                MeshEvent::PeerConnected(id) => Some(*id),
                _ => None,
            })
            .collect();
        connected.sort();
        let expected: Vec<i32> = (1..=4).filter(|&id| id != node.id).collect();
        assert_eq!(
            connected, expected,
            "node {} saw each peer connect once",
            node.id
        );
        for peer in node.mesh.peer_ids() {
            let channels = node.mesh.peer_channels(peer).unwrap();
            let labels: Vec<_> = channels
                .iter()
                .map(|c| (c.label().to_owned(), c.id().unwrap()))
                .collect();
            assert_eq!(
                labels,
                [
                    ("reliable".to_owned(), 1),
                    ("ordered".to_owned(), 2),
                    ("unreliable".to_owned(), 3)
                ]
            );
        }
    }
}

#[test]
fn own_description_passed_back_after_gathering_is_accepted() {
    let runtime = Runtime::shared().unwrap();
    let a = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    a.create_data_channel("x", &negotiated(1)).unwrap();
    a.create_offer().unwrap();
    let Some(ConnectionEvent::SessionDescription { sdp_type, sdp }) = a.poll_event() else {
        panic!("the offer comes first");
    };
    // Godot scripts apply it from a signal, by which time candidates have been gathered and
    // webrtc-rs's copy of the description has changed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !matches!(a.poll_event(), Some(ConnectionEvent::IceCandidate { .. })) {
        assert!(Instant::now() < deadline, "no candidate gathered");
        std::thread::sleep(Duration::from_millis(2));
    }
    a.set_local_description(sdp_type.as_str(), &sdp).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
}

#[test]
fn descriptions_come_before_their_candidates() {
    // Gathering starts while the description is being applied; a candidate polled before its
    // offer or answer would reach the other side first and be refused there.
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig::loopback();
    for _ in 0..20 {
        let a = Connection::new(&runtime, &config).unwrap();
        let b = Connection::new(&runtime, &config).unwrap();
        a.create_data_channel("x", &negotiated(1)).unwrap();
        b.create_data_channel("x", &negotiated(1)).unwrap();
        a.create_offer().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let offer = match a.poll_event() {
            Some(ConnectionEvent::SessionDescription { sdp_type, sdp }) => {
                assert_eq!(sdp_type, SdpType::Offer);
                sdp
            }
            other => panic!("first event after create_offer: {other:?}"),
        };
        b.set_remote_description("offer", &offer).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        match b.poll_event() {
            Some(ConnectionEvent::SessionDescription { sdp_type, .. }) => {
                assert_eq!(sdp_type, SdpType::Answer)
            }
            other => panic!("first event after a remote offer: {other:?}"),
        }
        a.close();
        b.close();
    }
}

/// The `a=fingerprint` line of the offer `connection` makes.
fn offer_fingerprint(connection: &Connection) -> String {
    connection.create_offer().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(ConnectionEvent::SessionDescription { sdp, .. }) = connection.poll_event() {
            let line = sdp.lines().find(|l| l.starts_with("a=fingerprint:"));
            return line.expect("the offer has a fingerprint").to_owned();
        }
        assert!(Instant::now() < deadline, "no offer");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn connections_of_a_runtime_share_one_certificate() {
    let runtime = Runtime::shared().unwrap();
    let config = ConnectionConfig::loopback();
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    let own = Runtime::new(&Default::default()).unwrap();
    let c = Connection::new(&own, &config).unwrap();
    let (fa, fb, fc) = (
        offer_fingerprint(&a),
        offer_fingerprint(&b),
        offer_fingerprint(&c),
    );
    assert_eq!(fa, fb, "same runtime, same certificate");
    assert_ne!(fa, fc, "another runtime has its own");
}
