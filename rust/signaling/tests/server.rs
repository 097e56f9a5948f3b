//! The signaling server over real WebSockets on loopback: the demo's protocol, and every limit
//! under abuse.

mod common;

use std::time::{Duration, Instant};

use common::*;
use webrtc_mesh_signaling::{ClientEvent, Limits, MessageType};

#[test]
fn mesh_lobby_joins_relays_and_leaves() {
    let server = Server::start(Limits::default());
    let host = server.client();
    let (host_id, lobby, peers) = host.join("", true);
    assert_eq!(host_id, 1, "the lobby's creator is 1");
    assert_eq!(lobby.len(), 16);
    assert!(peers.is_empty());

    let b = server.client();
    let (b_id, b_lobby, b_peers) = b.join(&lobby, true);
    assert!(b_id >= 2 && b_id <= i64::from(i32::MAX), "random id {b_id}");
    assert_eq!(b_lobby, lobby);
    assert_eq!(b_peers, vec![1]);
    assert_eq!(host.expect(MessageType::PeerConnect).id, b_id);

    let c = server.client();
    let (c_id, _, c_peers) = c.join(&lobby, true);
    assert_ne!(c_id, b_id);
    assert_eq!(c_peers, vec![1, b_id], "existing peers in join order");
    assert_eq!(host.expect(MessageType::PeerConnect).id, c_id);
    assert_eq!(b.expect(MessageType::PeerConnect).id, c_id);

    // Relay: the destination id is replaced by the source's.
    c.send(MessageType::Offer, b_id, "offer sdp");
    let offer = b.expect(MessageType::Offer);
    assert_eq!((offer.id, offer.data.as_str()), (c_id, "offer sdp"));
    b.send(MessageType::Answer, c_id, "answer sdp");
    assert_eq!(c.expect(MessageType::Answer).id, b_id);
    let candidate = "\n0\n0\ncandidate:1 1 udp 2130706431 127.0.0.1 5000 typ host";
    b.send(MessageType::Candidate, 1, candidate);
    let got = host.expect(MessageType::Candidate);
    assert_eq!((got.id, got.data.as_str()), (b_id, candidate));
    host.send(MessageType::Offer, c_id, "from host");
    assert_eq!(c.expect(MessageType::Offer).id, 1, "the host speaks as 1");

    // A member leaving is announced; the host leaving ends the lobby.
    drop(c);
    assert_eq!(host.expect(MessageType::PeerDisconnect).id, c_id);
    assert_eq!(b.expect(MessageType::PeerDisconnect).id, c_id);
    drop(host);
    assert_eq!(
        b.expect_closed(),
        (4000, "Room host has disconnected".into())
    );
    let log = server.log.lock().join("\n");
    assert!(
        log.contains(&format!("joined lobby {lobby} as {b_id} (mesh, 2 peers)")),
        "{log}"
    );
    assert!(log.contains("left lobby"), "{log}");
}

#[test]
fn client_server_lobby_links_clients_to_the_host_only() {
    let server = Server::start(Limits::default());
    let host = server.client();
    let (_, lobby, _) = host.join("", false);
    let a = server.client();
    let (a_id, _, a_peers) = a.join(&lobby, true); // the lobby's mode wins over the joiner's
    assert_eq!(a_peers, vec![1]);
    host.expect(MessageType::PeerConnect);
    let b = server.client();
    let (b_id, _, b_peers) = b.join(&lobby, false);
    assert_eq!(b_peers, vec![1], "clients are not told about each other");
    assert_eq!(host.expect(MessageType::PeerConnect).id, b_id);
    a.expect_quiet(Duration::from_millis(100));

    // Client to client is dropped; the sender stays connected.
    a.send(MessageType::Offer, b_id, "nope");
    b.expect_quiet(Duration::from_millis(200));
    a.send(MessageType::Offer, 1, "to host");
    assert_eq!(host.expect(MessageType::Offer).id, a_id);
    drop(b);
    assert_eq!(host.expect(MessageType::PeerDisconnect).id, b_id);
    a.expect_quiet(Duration::from_millis(100));
}

#[test]
fn nobody_speaks_as_another_or_reaches_another_lobby() {
    let server = Server::start(Limits::default());
    let host1 = server.client();
    let (_, lobby1, _) = host1.join("", true);
    let a = server.client();
    let (a_id, _, _) = a.join(&lobby1, true);
    host1.expect(MessageType::PeerConnect);
    let host2 = server.client();
    let (_, lobby2, _) = host2.join("", true);
    assert_ne!(lobby1, lobby2);
    let x = server.client();
    let (x_id, _, _) = x.join(&lobby2, true);
    host2.expect(MessageType::PeerConnect);

    // x addresses a (lobby 1) by id, and "1" reaches only its own lobby's host.
    x.send(MessageType::Offer, a_id, "cross");
    x.send(MessageType::Offer, 1, "own host");
    let got = host2.expect(MessageType::Offer);
    assert_eq!((got.id, got.data.as_str()), (x_id, "own host"));
    a.expect_quiet(Duration::from_millis(200));
    host1.expect_quiet(Duration::from_millis(1));

    // Whatever id a message carries, the receiver sees the sender's.
    for claimed in [1, a_id, x_id, 0, 999] {
        a.send(MessageType::Candidate, claimed, "spoof");
    }
    let got = host1.expect(MessageType::Candidate);
    assert_eq!(got.id, a_id, "relayed as the real sender");
    host1.expect_quiet(Duration::from_millis(200));
    x.expect_quiet(Duration::from_millis(1));
    host2.expect_quiet(Duration::from_millis(1));
}

#[test]
fn bad_messages_close_only_their_socket_with_a_reason() {
    let limits = Limits {
        max_message_bytes: 4096,
        ..Limits::default()
    };
    let server = Server::start(limits);
    let host = server.client();
    let (_, lobby, _) = host.join("", true);
    let cases: [(&str, (u16, &str)); 8] = [
        ("not json", (4000, "Invalid message format")),
        (r#"{"type": 4}"#, (4000, "Invalid message format")),
        (
            r#"{"type": "4", "id": 1}"#,
            (4000, "Invalid message format"),
        ),
        (
            r#"{"type": 4, "id": 1, "data": {}}"#,
            (4000, "Invalid message format"),
        ),
        (r#"{"type": 99, "id": 1}"#, (4000, "Invalid command")),
        (r#"{"type": 2, "id": 1}"#, (4000, "Invalid command")),
        (
            r#"{"type": 4, "id": 1, "data": "before joining"}"#,
            (4000, "Invalid message when not in a lobby"),
        ),
        (
            r#"{"type": 0, "id": 0, "data": "no-such-lobby"}"#,
            (4000, "Lobby does not exists"),
        ),
    ];
    for (text, (code, reason)) in cases {
        let c = server.client();
        c.raw(text);
        assert_eq!(c.expect_closed(), (code, reason.to_string()), "{text}");
    }
    // Oversized, in one frame the transport refuses to buffer.
    let big = server.client();
    big.join(&lobby, true);
    host.expect(MessageType::PeerConnect);
    big.send(MessageType::Offer, 1, &"x".repeat(8192));
    assert_eq!(big.expect_closed(), (1009, "Message too large".into()));
    assert!(
        matches!(host.next(), ClientEvent::Message(m) if m.kind == MessageType::PeerDisconnect)
    );
    // A second join, and a seal by a non-host.
    let twice = server.client();
    twice.join(&lobby, true);
    host.expect(MessageType::PeerConnect);
    twice.send(MessageType::Join, 0, "");
    assert_eq!(twice.expect_closed(), (4000, "Already in a lobby".into()));
    host.expect(MessageType::PeerDisconnect);
    let sealer = server.client();
    sealer.join(&lobby, true);
    host.expect(MessageType::PeerConnect);
    sealer.send(MessageType::Seal, 0, "");
    assert_eq!(
        sealer.expect_closed(),
        (4000, "Only host can seal the lobby".into())
    );
    host.expect(MessageType::PeerDisconnect);

    // The host saw only joins and leaves, and still works.
    let late = server.client();
    let (late_id, _, _) = late.join(&lobby, true);
    assert_eq!(host.expect(MessageType::PeerConnect).id, late_id);
    late.send(MessageType::Offer, 1, "still fine");
    assert_eq!(host.expect(MessageType::Offer).data, "still fine");
    assert_eq!(server.server.connection_count(), 2);
}

#[test]
fn a_binary_frame_is_refused() {
    let server = Server::start(Limits::default());
    // Our client only sends text; a raw tungstenite client sends the binary frame.
    let url = server.url();
    let (code, reason) = RUNTIME.block_on(async move {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message as Frame;
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws.send(Frame::binary(vec![1u8, 2, 3])).await.unwrap();
        while let Some(Ok(frame)) = ws.next().await {
            if let Frame::Close(Some(f)) = frame {
                return (u16::from(f.code), f.reason.to_string());
            }
        }
        (0, String::new())
    });
    assert_eq!(
        (code, reason.as_str()),
        (4000, "Invalid transfer mode, must be text")
    );
}

#[test]
fn a_flood_closes_the_flooder_and_nobody_else() {
    let limits = Limits {
        messages_per_second: 20.0,
        message_burst: 50.0,
        ..Limits::default()
    };
    let server = Server::start(limits);
    let host = server.client();
    let (_, lobby, _) = host.join("", true);
    let flooder = server.client();
    let (flooder_id, _, _) = flooder.join(&lobby, true);
    host.expect(MessageType::PeerConnect);
    for i in 0..200 {
        flooder.send(MessageType::Candidate, 1, &format!("\n0\n0\ncandidate {i}"));
    }
    assert_eq!(flooder.expect_closed(), (1008, "Too many messages".into()));
    // The burst (minus the join) got through, then the flooder left.
    let mut relayed = 0;
    loop {
        let m = match host.next() {
            ClientEvent::Message(m) => m,
            other => panic!("{other:?}"),
        };
        match m.kind {
            MessageType::Candidate => relayed += 1,
            MessageType::PeerDisconnect => {
                assert_eq!(m.id, flooder_id);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        (45..=52).contains(&relayed),
        "{relayed} relayed before the limit"
    );
    // Sustained traffic under the rate is fine.
    let steady = server.client();
    steady.join(&lobby, true);
    host.expect(MessageType::PeerConnect);
    for _ in 0..60 {
        steady.send(MessageType::Candidate, 1, "\n0\n0\nc");
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..60 {
        host.expect(MessageType::Candidate);
    }
}

#[test]
fn limits_on_lobbies_peers_connections_time_and_token() {
    let limits = Limits {
        max_connections: 4,
        max_lobbies: 2,
        max_peers_per_lobby: 2,
        join_deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = Server::start(limits);
    let h1 = server.client();
    let (_, lobby, _) = h1.join("", true);
    let h2 = server.client();
    h2.join("", true);
    let third = server.client();
    third.send(MessageType::Join, 0, "");
    assert_eq!(
        third.expect_closed(),
        (4000, "Too many lobbies open, disconnecting".into())
    );
    let member = server.client();
    member.join(&lobby, true);
    let full = server.client();
    full.send(MessageType::Join, 0, &lobby);
    assert_eq!(full.expect_closed(), (4000, "Lobby is full".into()));

    // Three joined, one idle: the idle one is closed at the join deadline.
    let idle = server.client();
    let start = Instant::now();
    assert_eq!(
        idle.expect_closed(),
        (4000, "Have not joined lobby yet".into())
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1000),
        "{waited:?}"
    );

    // Four open: the fifth is refused at once.
    let fourth = server.client();
    let fifth = server.client();
    assert_eq!(
        fifth.expect_closed(),
        (4000, "Too many peers connected".into())
    );
    drop(fourth);

    let guarded = Server::start(Limits {
        token: Some("s3cret".into()),
        ..Limits::default()
    });
    for url in [guarded.url(), format!("{}?token=wrong", guarded.url())] {
        assert_eq!(
            Client::open(&url).expect_closed(),
            (1008, "Invalid token".into())
        );
    }
    let ok = Client::open(&format!("{}?token=s3cret", guarded.url()));
    assert_eq!(ok.join("", true).0, 1);
}

#[test]
fn seal_refuses_joins_then_closes_the_lobby() {
    let limits = Limits {
        seal_close_after: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = Server::start(limits);
    let host = server.client();
    let (_, lobby, _) = host.join("", true);
    let member = server.client();
    member.join(&lobby, true);
    host.expect(MessageType::PeerConnect);
    host.send(MessageType::Seal, 0, "");
    host.expect(MessageType::Seal);
    member.expect(MessageType::Seal);
    let late = server.client();
    late.send(MessageType::Join, 0, &lobby);
    assert_eq!(late.expect_closed(), (4000, "Lobby is sealed".into()));
    assert_eq!(member.expect_closed(), (1000, "Seal complete".into()));
    assert_eq!(host.expect_closed(), (1000, "Seal complete".into()));
    assert_eq!(server.server.lobby_count(), 0);
}

#[test]
fn stopping_closes_every_connection() {
    let server = Server::start(Limits::default());
    let host = server.client();
    host.join("", true);
    server.server.stop();
    assert_eq!(host.expect_closed(), (1001, "Server shutting down".into()));
}

#[test]
fn a_sixteen_peer_mesh_signals_all_at_once_within_the_limits() {
    let server = Server::start(Limits::default());
    let host = server.client();
    let (_, lobby, _) = host.join("", true);
    let mut peers = vec![(1, host)];
    for _ in 1..16 {
        let peer = server.client();
        let (id, _, existing) = peer.join(&lobby, true);
        assert_eq!(existing.len(), peers.len());
        for (_, earlier) in &peers {
            assert_eq!(earlier.expect(MessageType::PeerConnect).id, id);
        }
        peers.push((id, peer));
    }
    // As a mesh forms: everyone sends everyone an offer (3 KB) and ten candidates, at once.
    let offer = "v=0\r\n".repeat(600);
    for (from, peer) in &peers {
        for (to, _) in peers.iter().filter(|(to, _)| to != from) {
            peer.send(MessageType::Offer, *to, &offer);
            for i in 0..10 {
                let candidate =
                    format!("\n0\n0\ncandidate:{i} 1 udp 2130706431 10.0.0.{i} 5000 typ host");
                peer.send(MessageType::Candidate, *to, &candidate);
            }
        }
    }
    for (id, peer) in &peers {
        let (mut offers, mut candidates) = (0, 0);
        while offers + candidates < 15 * 11 {
            match peer.next() {
                ClientEvent::Message(m) if m.kind == MessageType::Offer => offers += 1,
                ClientEvent::Message(m) if m.kind == MessageType::Candidate => candidates += 1,
                other => panic!("peer {id}: {other:?}"),
            }
        }
        assert_eq!((offers, candidates), (15, 150), "peer {id}");
    }
    assert_eq!(server.server.connection_count(), 16);
}
