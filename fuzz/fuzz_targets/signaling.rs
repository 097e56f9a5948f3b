//! The signaling server's inputs: `Message::parse` on arbitrary text, and the `Hub` (the
//! server without sockets) driven through opens, messages, control and binary frames, closes
//! and ticks with time moving on, under small limits so every limit is reached.
//!
//! Besides panics, the outputs are checked against a model of which connections are open:
//! nothing is sent to, relayed to or closed on a connection that is not open, relays are
//! within the size limit, and the hub's counts agree with the model.
//!
//! Input: byte 0 even parses the rest as one message; odd drives a hub from the rest.

#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use webrtc_mesh_signaling::hub::reasons;
use webrtc_mesh_signaling::protocol::{decode_candidate, encode_candidate};
use webrtc_mesh_signaling::{ConnId, Hub, Limits, Message, MessageType, Output};

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    if mode & 1 == 0 {
        parse(&String::from_utf8_lossy(rest));
    } else {
        let _ = drive(&mut Unstructured::new(rest));
    }
});

/// Parsing never panics, and what parses survives a round trip through `to_json`.
fn parse(text: &str) {
    if let Ok(message) = Message::parse(text) {
        assert_eq!(
            Message::parse(&message.to_json()).as_ref(),
            Ok(&message),
            "{text:?}"
        );
        candidate_round_trip(&message.data);
    }
    candidate_round_trip(text);
}

fn candidate_round_trip(data: &str) {
    if let Some((mid, index, sdp)) = decode_candidate(data) {
        assert_eq!(
            decode_candidate(&encode_candidate(&mid, index, &sdp)),
            Some((mid, index, sdp)),
            "{data:?}"
        );
    }
}

/// What the target knows of the hub: which connections are open, and the names and ids the
/// hub handed out, so structured messages can use them (both are random).
struct Model {
    limits: Limits,
    open: BTreeSet<ConnId>,
    ever: BTreeSet<ConnId>,
    lobbies: Vec<String>,
    peer_ids: Vec<i64>,
    now: Instant,
}

const TOKEN: &str = "secret";

fn limits(u: &mut Unstructured) -> Result<Limits> {
    let ms = |u: &mut Unstructured, max: u64| -> Result<Duration> {
        Ok(Duration::from_millis(u.int_in_range(0..=max)?))
    };
    Ok(Limits {
        max_connections: u.int_in_range(1..=8)?,
        // Few lobbies with short names: the hub draws names until it finds a free one.
        max_lobbies: u.int_in_range(1..=3)?,
        max_peers_per_lobby: u.int_in_range(1..=5)?,
        max_message_bytes: u.int_in_range(16..=1024)?,
        join_deadline: ms(u, 2000)?,
        messages_per_second: f64::from(u.int_in_range(0u8..=20)?),
        message_burst: f64::from(u.int_in_range(1u8..=30)?),
        seal_close_after: ms(u, 3000)?,
        lobby_name_length: u.int_in_range(1..=6)?,
        token: u.ratio(1, 8)?.then(|| TOKEN.to_owned()),
        ..Limits::default()
    })
}

fn text(u: &mut Unstructured, max: usize) -> Result<String> {
    let len = u.int_in_range(0..=max)?;
    Ok(String::from_utf8_lossy(u.bytes(len.min(u.len()))?).into_owned())
}

/// A connection to act on: mostly one that was opened (open or since closed), sometimes one
/// the hub never handed out.
fn pick_conn(u: &mut Unstructured, model: &Model) -> Result<ConnId> {
    if model.ever.is_empty() || u.ratio(1, 16)? {
        return Ok(u.int_in_range(0..=3)? + model.ever.last().copied().unwrap_or(0));
    }
    let i = u.choose_index(model.ever.len())?;
    Ok(*model.ever.iter().nth(i).expect("index in range"))
}

/// A message of the demo's shape with plausible fields, so it gets past parsing to the rules.
fn structured(u: &mut Unstructured, model: &Model) -> Result<String> {
    let kind = *u.choose(&[
        MessageType::Join,
        MessageType::Id,
        MessageType::PeerConnect,
        MessageType::PeerDisconnect,
        MessageType::Offer,
        MessageType::Answer,
        MessageType::Candidate,
        MessageType::Seal,
    ])?;
    let id = if kind == MessageType::Join {
        u.int_in_range(0..=2)?
    } else if !model.peer_ids.is_empty() && u.ratio(3, 4)? {
        *u.choose(&model.peer_ids)?
    } else {
        u.int_in_range(0..=i64::MAX)?
    };
    let data = match kind {
        MessageType::Join if !model.lobbies.is_empty() && u.ratio(2, 3)? => {
            u.choose(&model.lobbies)?.clone()
        }
        MessageType::Join if u.ratio(1, 2)? => String::new(),
        MessageType::Candidate if u.ratio(1, 2)? => {
            encode_candidate(&text(u, 4)?, u.int_in_range(0..=2)?, &text(u, 64)?)
        }
        // Up to past the largest limit, with characters JSON escapes, which lengthen relays.
        _ => text(u, 1100)?,
    };
    Ok(Message::new(kind, id, data).to_json())
}

fn drive(u: &mut Unstructured) -> Result<()> {
    let limits = limits(u)?;
    let mut hub = Hub::new(limits.clone());
    let mut model = Model {
        limits,
        open: BTreeSet::new(),
        ever: BTreeSet::new(),
        lobbies: Vec::new(),
        peer_ids: vec![1],
        now: Instant::now(),
    };
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=10)? {
            0 | 1 => {
                let token = match u.int_in_range(0..=2)? {
                    0 => None,
                    1 => Some(TOKEN),
                    _ => Some("secreT"),
                };
                let full = model.open.len() >= model.limits.max_connections;
                let refused_token = model.limits.token.is_some() && token != Some(TOKEN);
                match hub.open(model.now, token) {
                    Ok(conn) => {
                        assert!(!full && !refused_token, "open allowed past a limit");
                        assert!(model.ever.insert(conn), "connection id {conn} reused");
                        model.open.insert(conn);
                    }
                    Err(close) => {
                        assert!(full || refused_token, "open refused: {close:?}");
                    }
                }
            }
            2 => {
                let conn = pick_conn(u, &model)?;
                let text = text(u, 1100)?;
                let out = hub.receive(conn, &text, model.now);
                check(&mut model, &hub, Some(conn), out);
            }
            3 | 4 => {
                let conn = pick_conn(u, &model)?;
                let text = structured(u, &model)?;
                let out = hub.receive(conn, &text, model.now);
                check(&mut model, &hub, Some(conn), out);
            }
            5 => {
                let conn = pick_conn(u, &model)?;
                let out = match u.int_in_range(0..=2)? {
                    0 => hub.receive_control(conn, model.now),
                    1 => hub.receive_binary(conn),
                    _ => hub.receive_oversized(conn),
                };
                check(&mut model, &hub, Some(conn), out);
            }
            6 => {
                let conn = pick_conn(u, &model)?;
                let close = u
                    .choose(&[
                        reasons::NOT_READING,
                        reasons::PEER_BACKLOG,
                        reasons::SHUTDOWN,
                    ])?
                    .clone();
                let out = hub.disconnect(conn, close);
                check(&mut model, &hub, Some(conn), out);
            }
            7 => {
                let conn = pick_conn(u, &model)?;
                // The socket is gone: the connection is no longer open, whatever the outputs.
                let was_open = model.open.remove(&conn);
                let out = hub.closed(conn);
                if !was_open {
                    assert!(out.is_empty(), "closing unknown {conn}: {out:?}");
                }
                check(&mut model, &hub, None, out);
            }
            8 | 9 => {
                model.now += Duration::from_millis(u.int_in_range(0..=4000)?);
                let out = hub.tick(model.now);
                check(&mut model, &hub, None, out);
            }
            _ => {
                let out = hub.close_all();
                check(&mut model, &hub, None, out);
                assert_eq!(hub.connection_count(), 0);
            }
        }
    }
    Ok(())
}

/// Checks one call's outputs against the model and updates it. `acting` is the connection
/// the call was about: if it was not open, the hub must have nothing to say about it.
fn check(model: &mut Model, hub: &Hub, acting: Option<ConnId>, out: Vec<Output>) {
    if let Some(conn) = acting
        && !model.open.contains(&conn)
    {
        assert!(out.is_empty(), "{conn} is not open, yet: {out:?}");
    }
    for output in &out {
        match output {
            Output::Send(to, text) => {
                assert!(model.open.contains(to), "send to closed {to}: {out:?}");
                let message = Message::parse(text).expect("the hub sends valid messages");
                match message.kind {
                    MessageType::Join => model.lobbies.push(message.data),
                    MessageType::Id | MessageType::PeerConnect => model.peer_ids.push(message.id),
                    _ => {}
                }
            }
            Output::Relay { from, to, text } => {
                assert!(
                    model.open.contains(from),
                    "relay from closed {from}: {out:?}"
                );
                assert!(model.open.contains(to), "relay to closed {to}: {out:?}");
                assert_ne!(from, to, "relay to oneself");
                assert!(
                    text.len() <= model.limits.max_message_bytes,
                    "relay of {} bytes",
                    text.len()
                );
                let message = Message::parse(text).expect("the hub relays valid messages");
                assert!(matches!(
                    message.kind,
                    MessageType::Offer | MessageType::Answer | MessageType::Candidate
                ));
            }
            Output::Close(conn, _) => {
                assert!(model.open.remove(conn), "close of closed {conn}: {out:?}");
            }
            Output::Log(_) => {}
        }
    }
    // Names and ids of lobbies long gone only make structured messages miss; keep few.
    if model.lobbies.len() > 16 {
        model.lobbies.drain(..8);
    }
    if model.peer_ids.len() > 32 {
        model.peer_ids.drain(1..17);
    }
    assert_eq!(hub.connection_count(), model.open.len());
    assert!(hub.connection_count() <= model.limits.max_connections);
    assert!(hub.lobby_count() <= model.limits.max_lobbies);
}
