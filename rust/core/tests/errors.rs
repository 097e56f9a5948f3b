//! Every bad input returns its error, and nothing already queued is lost.

mod common;

use std::time::Duration;

use common::{connect_all, mesh_nodes, run_until};
use webrtc_mesh_core::{
    ChannelOptions, Connection, ConnectionConfig, Error, IceServer, MAX_MESSAGE_SIZE, Mesh,
    Runtime, TransferMode,
};

fn loopback() -> (Runtime, Connection) {
    let runtime = Runtime::shared().unwrap();
    let connection = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    (runtime, connection)
}

#[test]
fn malformed_descriptions_are_refused() {
    let (_rt, c) = loopback();
    assert!(matches!(
        c.set_remote_description("offer", "not sdp"),
        Err(Error::InvalidSdp(_))
    ));
    assert!(matches!(
        c.set_remote_description("offer", ""),
        Err(Error::InvalidSdp(_))
    ));
    assert!(matches!(
        c.set_remote_description("bogus", "v=0"),
        Err(Error::InvalidSdp(_))
    ));
    assert!(matches!(
        c.set_local_description("answer", "v=0\r\nx"),
        Err(Error::InvalidSdp(_))
    ));
    // An answer with no offer out is a call in the wrong state.
    let (_rt2, other) = loopback();
    other
        .create_data_channel(
            "x",
            &ChannelOptions {
                negotiated_id: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    other.create_offer().unwrap();
    let offer = match other.poll_event() {
        Some(webrtc_mesh_core::ConnectionEvent::SessionDescription { sdp, .. }) => sdp,
        e => panic!("expected the offer, got {e:?}"),
    };
    assert!(matches!(
        c.set_remote_description("answer", &offer),
        Err(Error::InvalidState(_))
    ));
    // After all of that the connection still works: the offer applies.
    c.set_remote_description("offer", &offer).unwrap();
}

#[test]
fn malformed_candidates_are_refused() {
    let (_rt, c) = loopback();
    for bad in [
        "candidate:garbage",
        "candidate:1 1 udp",
        "candidate:1 1 udp 2130706431 not-an-ip 9 typ host",
        "candidate:1 1 udp 2130706431 127.0.0.1 99999999 typ host",
        "hello world",
    ] {
        assert!(
            matches!(
                c.add_ice_candidate("0", 0, bad),
                Err(Error::InvalidCandidate(_))
            ),
            "{bad:?} was accepted"
        );
    }
    assert!(matches!(
        c.add_ice_candidate("0", -1, "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"),
        Err(Error::InvalidCandidate(_))
    ));
    // Well-formed, before the remote description: kept for later, no error.
    c.add_ice_candidate("0", 0, "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host")
        .unwrap();
    c.add_ice_candidate(
        "0",
        0,
        "a=candidate:1 1 udp 2130706431 127.0.0.1 10 typ host",
    )
    .unwrap();
    c.add_ice_candidate("0", 0, "").unwrap(); // end of candidates
}

#[test]
fn bad_configuration_is_refused() {
    let runtime = Runtime::shared().unwrap();
    let with = |servers: Vec<IceServer>| ConnectionConfig {
        ice_servers: servers,
        ..ConnectionConfig::loopback()
    };
    let server = |url: &str, user: &str| IceServer {
        urls: vec![url.into()],
        username: user.into(),
        credential: user.into(),
    };
    for config in [
        with(vec![server("http://example.com", "")]),
        with(vec![server("turn:127.0.0.1:3478", "")]),
        with(vec![server("stun:", "")]),
        with(vec![IceServer::default()]),
        ConnectionConfig {
            port_range: Some(std::ops::RangeInclusive::new(5000, 4000)),
            ..ConnectionConfig::loopback()
        },
    ] {
        assert!(
            matches!(
                Connection::new(&runtime, &config),
                Err(Error::InvalidConfig(_))
            ),
            "{config:?} was accepted"
        );
    }
    // A port range is honoured.
    let config = ConnectionConfig {
        port_range: Some(41000..=41100),
        ..ConnectionConfig::loopback()
    };
    let c = Connection::new(&runtime, &config).unwrap();
    c.create_data_channel("x", &ChannelOptions::default())
        .unwrap();
    c.create_offer().unwrap();
    assert!(run_until_candidate(&c, |port| (41000..=41100).contains(&port)));
}

fn run_until_candidate(c: &Connection, ok: impl Fn(u16) -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        while let Some(event) = c.poll_event() {
            if let webrtc_mesh_core::ConnectionEvent::IceCandidate { name, .. } = event {
                let port: u16 = name.split_whitespace().nth(5).unwrap().parse().unwrap();
                return ok(port);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn bad_channel_options_and_late_channels_are_refused() {
    let (_rt, c) = loopback();
    let both = ChannelOptions {
        max_packet_life_time: Some(10),
        max_retransmits: Some(1),
        ..Default::default()
    };
    assert!(matches!(
        c.create_data_channel("x", &both),
        Err(Error::InvalidParameter(_))
    ));
    let id5 = ChannelOptions {
        negotiated_id: Some(5),
        ..Default::default()
    };
    c.create_data_channel("x", &id5).unwrap();
    assert!(matches!(
        c.create_data_channel("y", &id5),
        Err(Error::InvalidParameter(_))
    ));
    c.close();
    assert_eq!(
        c.create_data_channel("z", &ChannelOptions::default())
            .unwrap_err(),
        Error::Closed
    );
    assert_eq!(c.create_offer().unwrap_err(), Error::Closed);
}

#[test]
fn mesh_argument_checks_follow_godot() {
    let (runtime, c) = loopback();
    assert!(matches!(
        Mesh::create_client(1, &[]),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        Mesh::create_client(0, &[]),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        Mesh::create_mesh(1 << 31, &[]),
        Err(Error::InvalidParameter(_))
    ));
    assert!(Mesh::create_mesh((1 << 31) - 1, &[]).is_ok());

    let mut client = Mesh::create_client(7, &[]).unwrap();
    assert!(matches!(
        client.add_peer(2, &c, 1),
        Err(Error::InvalidParameter(_))
    ));
    let mut server = Mesh::create_server(&[]);
    assert!(matches!(
        server.add_peer(1, &c, 1),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        server.add_peer(0, &c, 1),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        server.add_peer(2, &c, -1),
        Err(Error::InvalidParameter(_))
    ));
    server.set_refuse_new_connections(true);
    assert_eq!(server.add_peer(2, &c, 1), Err(Error::Refused));
    server.set_refuse_new_connections(false);
    server.add_peer(2, &c, 1).unwrap();
    let other = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    assert_eq!(server.add_peer(2, &other, 1), Err(Error::PeerExists(2)));
    assert!(matches!(
        server.add_peer(3, &c, 1),
        Err(Error::InvalidParameter(_))
    ));

    assert_eq!(
        server.send(9, 0, TransferMode::Reliable, b"x"),
        Err(Error::UnknownPeer(9))
    );
    assert!(matches!(
        server.send(2, 0, TransferMode::Reliable, b"x"),
        Err(Error::InvalidState(_))
    ));
    assert_eq!(
        server.send(0, 1, TransferMode::Reliable, b"x"),
        Err(Error::InvalidChannel(3))
    );
    assert!(matches!(
        server.send(0, -1, TransferMode::Reliable, b"x"),
        Err(Error::InvalidChannel(_))
    ));
    assert_eq!(server.remove_peer(9), Err(Error::UnknownPeer(9)));
    assert_eq!(server.disconnect_peer(9, false), Err(Error::UnknownPeer(9)));
    server.close();
    assert!(matches!(
        server.send(0, 0, TransferMode::Reliable, b"x"),
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(
        server.add_peer(3, &other, 1),
        Err(Error::InvalidState(_))
    ));
}

#[test]
fn errors_lose_nothing_already_queued() {
    let runtime = Runtime::shared().unwrap();
    let mut nodes = mesh_nodes(&runtime, 2, &[]);
    connect_all(&mut nodes, Duration::from_secs(20));
    let sender = &mut nodes[1].mesh;
    sender.send(1, 0, TransferMode::Reliable, b"first").unwrap();
    let too_big = vec![0u8; MAX_MESSAGE_SIZE + 1];
    assert_eq!(
        sender.send(1, 0, TransferMode::Reliable, &too_big),
        Err(Error::PacketTooLarge {
            size: MAX_MESSAGE_SIZE + 1,
            max: MAX_MESSAGE_SIZE
        })
    );
    assert_eq!(
        sender.send(1, 5, TransferMode::Reliable, b"x"),
        Err(Error::InvalidChannel(7))
    );
    assert_eq!(
        sender.send(42, 0, TransferMode::Reliable, b"x"),
        Err(Error::UnknownPeer(42))
    );
    sender
        .send(1, 0, TransferMode::Reliable, &vec![9u8; MAX_MESSAGE_SIZE])
        .unwrap();
    sender.send(1, 0, TransferMode::Reliable, b"last").unwrap();
    assert!(run_until(&mut nodes, Duration::from_secs(5), |n| n[0]
        .mesh
        .available_packet_count()
        == 3));
    let got: Vec<Vec<u8>> =
        std::iter::from_fn(|| nodes[0].mesh.take_packet().map(|p| p.data.to_vec())).collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], b"first");
    assert_eq!(
        got[1].len(),
        MAX_MESSAGE_SIZE,
        "the largest allowed message arrives whole"
    );
    assert_eq!(got[2], b"last");
}
