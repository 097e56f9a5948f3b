//! Hostile clients against a real server on loopback: floods of pings and relays, frames that
//! break the WebSocket protocol, and messages too large to relay. Raw TCP clients send what a
//! WebSocket library would refuse to, and read only when told.

mod common;

use std::io::Read;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use webrtc_mesh_signaling::{ClientEvent, Limits, Message, MessageType};

#[test]
fn a_ping_flood_closes_the_flooder() {
    let server = Server::start(Limits::default());
    let mut flooder = server.raw();
    let pings = frame(FIN | PING, &[b'p'; 125]).repeat(1000);
    let start = Instant::now();
    // 20,000 pings, none of their pongs read while sending.
    flooder.send_until_refused(&pings, 20);
    assert_eq!(
        flooder.close_frame(),
        Ok((1008, "Too many messages".to_string()))
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(server.wait_for_log("closed: Too many messages", WAIT));
}

#[test]
fn members_flooding_the_host_under_their_burst_leave_it_connected() {
    let server = Server::start(Limits::default());
    let host = server.client();
    let (_, lobby, _) = host.join("", true);
    let members: Vec<Raw> = (0..3)
        .map(|_| {
            let mut member = server.raw();
            member.join(&lobby);
            host.expect(MessageType::PeerConnect);
            member
        })
        .collect();
    // 450 candidates each, under the burst of 500, each member's in one write, all at once.
    let senders: Vec<JoinHandle<Raw>> = members
        .into_iter()
        .enumerate()
        .map(|(m, mut member)| {
            let burst: Vec<u8> = (0..450)
                .flat_map(|i| {
                    let candidate = format!(
                        "\n0\n0\ncandidate:{i} 1 udp 2130706431 192.168.{m}.{} {} typ host generation 0",
                        i % 250,
                        40000 + i
                    );
                    text_frame(&Message::new(MessageType::Candidate, 1, candidate))
                })
                .collect();
            std::thread::spawn(move || {
                member.send(&burst).unwrap();
                member
            })
        })
        .collect();
    let mut relayed = 0;
    while relayed < 3 * 450 {
        match host.next() {
            ClientEvent::Message(m) if m.kind == MessageType::Candidate => relayed += 1,
            other => panic!("host got {other:?} after {relayed} candidates"),
        }
    }
    let mut members: Vec<Raw> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    for member in &mut members {
        // Nothing but news of later members.
        member
            .stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        while let Ok((first, payload)) = member.read_frame() {
            assert_eq!(first & 0x0F, TEXT, "{}", String::from_utf8_lossy(&payload));
        }
    }
    assert_eq!(server.server.lobby_count(), 1, "{:#?}", server.log.lock());
    assert_eq!(
        server.server.connection_count(),
        4,
        "{:#?}",
        server.log.lock()
    );
}

#[test]
fn a_sender_flooding_a_slow_reader_is_closed_and_the_reader_stays() {
    let server = Server::start(Limits::default());
    let mut host = server.raw();
    let (_, lobby) = host.join("");
    let mut flooder = server.raw();
    let (flooder_id, _) = flooder.join(&lobby);
    assert_eq!(host.message().kind, MessageType::PeerConnect);

    // The host reads all the while, slower than the flooder sends: 60 KB every 2 ms.
    let mut reader = Raw {
        stream: host.stream.try_clone().unwrap(),
    };
    let reader = std::thread::spawn(move || {
        let mut offers = 0;
        loop {
            let m = reader.message();
            match m.kind {
                MessageType::Offer => offers += 1,
                MessageType::PeerDisconnect => return (offers, m.id),
                other => panic!("{other:?}"),
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    // 450 offers of 60 KB, under the burst of 500 messages.
    let offer = text_frame(&Message::new(MessageType::Offer, 1, "o".repeat(60_000)));
    flooder.send_until_refused(&offer, 450);
    assert_eq!(
        flooder.close_frame(),
        Ok((1008, "Too many messages waiting for a peer".to_string()))
    );
    let (offers, left) = reader.join().unwrap();
    assert_eq!(left, flooder_id, "the host saw the flooder leave");
    assert!(offers < 450, "{offers} offers relayed");
    // The host is still served.
    let mut late = server.raw();
    let (late_id, _) = late.join(&lobby);
    assert_eq!(host.message().id, late_id);
    late.send_message(MessageType::Offer, 1, "hello");
    let hello = host.message();
    assert_eq!((hello.id, hello.data.as_str()), (late_id, "hello"));
}

#[test]
fn protocol_violations_get_a_close_frame_with_a_code() {
    let server = Server::start(Limits::default());
    let cases: [(&str, Vec<u8>, (u16, &str)); 9] = [
        (
            "invalid UTF-8",
            frame(FIN | TEXT, &[b'{', 0xff, 0xfe, b'}']),
            (1007, "Text must be UTF-8"),
        ),
        (
            "invalid UTF-8 across fragments",
            [frame(TEXT, &[b'a', 0xe2]), frame(FIN, b"(a")].concat(),
            (1007, "Text must be UTF-8"),
        ),
        (
            "unmasked frame",
            encode(FIN | TEXT, b"{}", false),
            (1002, "Frames from clients must be masked"),
        ),
        (
            "reserved bit",
            frame(FIN | RSV1 | TEXT, b"{}"),
            (1002, "Reserved bits must be zero"),
        ),
        (
            "reserved data opcode",
            frame(FIN | 0x3, b"{}"),
            (1002, "Unknown opcode"),
        ),
        (
            "reserved control opcode",
            frame(FIN | 0xB, b""),
            (1002, "Unknown opcode"),
        ),
        (
            "fragmented ping",
            frame(PING, b"p"),
            (1002, "Control frames must not be fragmented"),
        ),
        (
            "continuation of nothing",
            frame(FIN | CONTINUATION, b"x"),
            (1002, "Invalid fragmentation"),
        ),
        (
            "ping over 125 bytes",
            frame(FIN | PING, &[b'p'; 126]),
            (1002, "Control frames must be 125 bytes or less"),
        ),
    ];
    for (what, bytes, (code, reason)) in cases {
        let mut raw = server.raw();
        raw.send(&bytes).unwrap();
        assert_eq!(raw.close_frame(), Ok((code, reason.to_string())), "{what}");
        // The server then closes its side, without a reset.
        let mut rest = Vec::new();
        assert!(raw.stream.read_to_end(&mut rest).is_ok(), "{what}: reset");
    }
    assert!(server.wait_for_log("closed: Frames from clients must be masked", WAIT));
}

#[test]
fn a_message_over_the_limit_gets_its_1009_close_frame() {
    let server = Server::start(Limits::default());
    let url = server.url();
    // A WebSocket library sending: it fails when the connection is reset while it still
    // sends, before it reads the close frame; so also a message larger than the sockets hold.
    for size in [70_000, 70_000, 70_000, 4 * MIB] {
        let closed = RUNTIME.block_on(async {
            use futures_util::{SinkExt, StreamExt};
            use tokio_tungstenite::tungstenite::Message as Frame;
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .unwrap();
            let big = Message::new(MessageType::Offer, 1, "x".repeat(size));
            if let Err(e) = ws.send(Frame::text(big.to_json())).await {
                return Err(format!("send: {e}"));
            }
            loop {
                match ws.next().await {
                    Some(Ok(Frame::Close(Some(f)))) => {
                        return Ok((u16::from(f.code), f.reason.to_string()));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    None => return Err("ended without a close frame".into()),
                }
            }
        });
        assert_eq!(
            closed,
            Ok((1009, "Message too large".to_string())),
            "{size} bytes"
        );
    }
    // Over raw TCP, the message's bytes all sent before reading.
    for size in [70_000, 4 * MIB] {
        let mut raw = server.raw();
        let big = text_frame(&Message::new(MessageType::Offer, 1, "x".repeat(size)));
        let sent = raw.send(&big);
        assert_eq!(
            raw.close_frame(),
            Ok((1009, "Message too large".to_string())),
            "{size} bytes, sent: {sent:?}"
        );
    }
}

#[test]
fn relays_must_fit_a_godot_peers_inbound_buffer() {
    // Godot's WebSocketPeer buffers 65,535 bytes of an incoming message by default.
    const GODOT: usize = 65_535;
    let server = Server::start(Limits::default());
    let mut host = server.raw();
    let (_, lobby) = host.join("");

    // As large as the relayed form allows: arrives, and fits.
    let mut fits = server.raw();
    let (fits_id, _) = fits.join(&lobby);
    assert_eq!(host.message().kind, MessageType::PeerConnect);
    let envelope = Message::new(MessageType::Offer, fits_id, "")
        .to_json()
        .len();
    let largest = "x".repeat(GODOT - envelope);
    fits.send_message(MessageType::Offer, 1, &largest);
    let (first, payload) = host.read_frame().unwrap();
    assert_eq!(first & 0x0F, TEXT);
    assert_eq!(payload.len(), GODOT);
    let m = Message::parse(std::str::from_utf8(&payload).unwrap()).unwrap();
    assert_eq!((m.id, m.data.len()), (fits_id, largest.len()));
    // One byte more does not fit: refused, and its sender closed.
    fits.send_message(MessageType::Offer, 1, &format!("{largest}x"));
    assert_eq!(
        fits.close_frame(),
        Ok((1009, "Message too large".to_string()))
    );
    assert_eq!(host.message().kind, MessageType::PeerDisconnect);

    // Escaping counts: quotes take two bytes each once relayed, and the sender's id is longer
    // than the 1 it wrote, so this message fits the limit while its relayed form does not.
    let mut quotes = server.raw();
    let (quotes_id, _) = quotes.join(&lobby);
    assert_eq!(host.message().kind, MessageType::PeerConnect);
    let data = "\"".repeat(32_754);
    let sent = Message::new(MessageType::Offer, 1, data.as_str()).to_json();
    assert!(sent.len() <= GODOT, "{}", sent.len());
    assert!(
        Message::new(MessageType::Offer, quotes_id, data.as_str())
            .to_json()
            .len()
            > GODOT
    );
    quotes.send_message(MessageType::Offer, 1, &data);
    assert_eq!(
        quotes.close_frame(),
        Ok((1009, "Message too large".to_string()))
    );
    assert_eq!(host.message().kind, MessageType::PeerDisconnect);
    assert_eq!(server.server.connection_count(), 1);
}
