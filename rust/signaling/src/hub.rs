//! The signaling server's state: connections, lobbies and who may talk to whom. No sockets:
//! inputs are calls, outputs are [`Output`] values the caller delivers, so every rule can be
//! checked directly.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::RngExt;
use rand::distr::{Alphanumeric, SampleString};

use crate::protocol::{Message, MessageType, ParseError};

/// Limits that hold under abuse. Defaults suit a public server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open WebSocket connections, joined or not.
    pub max_connections: usize,
    /// Lobbies open at once.
    pub max_lobbies: usize,
    /// Peers in one lobby, host included.
    pub max_peers_per_lobby: usize,
    /// Largest text message in bytes, received or relayed. A relay adds the sender's id and
    /// may escape characters, so it is measured as sent. Godot's `WebSocketPeer` takes 65,535
    /// bytes at most by default (`inbound_buffer_size`); SDP offers are a few KiB.
    pub max_message_bytes: usize,
    /// A connection that has not joined a lobby by then is closed.
    pub join_deadline: Duration,
    /// Sustained messages per second per connection. Pings, pongs and every other frame count
    /// as messages.
    pub messages_per_second: f64,
    /// Messages a connection may send at once before the rate applies.
    pub message_burst: f64,
    /// A sealed lobby's connections are closed this long after the seal.
    pub seal_close_after: Duration,
    /// Bytes waiting to be sent to one connection, shared equally by the peers that may send
    /// to it and the server itself, each share at least `max_message_bytes`: a connection
    /// holds at most the larger of this and (linked peers + 1) × `max_message_bytes`. A peer
    /// whose relay does not fit its share is closed, not the connection it writes to.
    pub max_queued_bytes: usize,
    /// A connection whose socket does not take the messages waiting for it (64 KiB at a time)
    /// within this long is not reading them, and is closed.
    pub unread_timeout: Duration,
    /// Characters of a generated lobby name (letters and digits).
    pub lobby_name_length: usize,
    /// When set, clients must connect with `?token=<this>` in the URL.
    pub token: Option<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_lobbies: 1024,
            max_peers_per_lobby: 64,
            max_message_bytes: 65_535,
            join_deadline: Duration::from_secs(1),
            messages_per_second: 100.0,
            message_burst: 500.0,
            seal_close_after: Duration::from_secs(10),
            max_queued_bytes: 1024 * 1024,
            unread_timeout: Duration::from_secs(10),
            lobby_name_length: 16,
            token: None,
        }
    }
}

/// A connection, numbered by the hub.
pub type ConnId = u64;

/// A WebSocket close code and the reason sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// 4000 for errors of the signaling protocol (as the demo's server), 1002 for errors of the
    /// WebSocket protocol, 1007 text that is not UTF-8, 1008 policy, 1009 too large, 1000 done.
    pub code: u16,
    /// A sentence for the client's log.
    pub reason: &'static str,
}

impl Close {
    const fn new(code: u16, reason: &'static str) -> Close {
        Close { code, reason }
    }
}

/// Close reasons. Those of the demo's server keep its wording.
pub mod reasons {
    use super::Close;
    /// Not joined within the deadline.
    pub const NO_LOBBY: Close = Close::new(4000, "Have not joined lobby yet");
    /// The lobby's host left, so the lobby is gone.
    pub const HOST_DISCONNECTED: Close = Close::new(4000, "Room host has disconnected");
    /// A seal from someone other than the host.
    pub const ONLY_HOST_CAN_SEAL: Close = Close::new(4000, "Only host can seal the lobby");
    /// The sealed lobby's grace period is over.
    pub const SEAL_COMPLETE: Close = Close::new(1000, "Seal complete");
    /// `max_lobbies` reached.
    pub const TOO_MANY_LOBBIES: Close = Close::new(4000, "Too many lobbies open, disconnecting");
    /// A second join.
    pub const ALREADY_IN_LOBBY: Close = Close::new(4000, "Already in a lobby");
    /// A join naming no open lobby.
    pub const NO_SUCH_LOBBY: Close = Close::new(4000, "Lobby does not exists");
    /// A join to a sealed lobby.
    pub const LOBBY_SEALED: Close = Close::new(4000, "Lobby is sealed");
    /// `max_peers_per_lobby` reached.
    pub const LOBBY_FULL: Close = Close::new(4000, "Lobby is full");
    /// Not JSON of the demo's shape.
    pub const INVALID_FORMAT: Close = Close::new(4000, "Invalid message format");
    /// Relay or seal before joining.
    pub const NEED_LOBBY: Close = Close::new(4000, "Invalid message when not in a lobby");
    /// A type only the server sends, or no type at all.
    pub const INVALID_COMMAND: Close = Close::new(4000, "Invalid command");
    /// `max_connections` reached.
    pub const TOO_MANY_PEERS: Close = Close::new(4000, "Too many peers connected");
    /// A binary frame.
    pub const TEXT_ONLY: Close = Close::new(4000, "Invalid transfer mode, must be text");
    /// Over `max_message_bytes`, received or as it would be relayed.
    pub const TOO_LARGE: Close = Close::new(1009, "Message too large");
    /// Over the message rate.
    pub const TOO_FAST: Close = Close::new(1008, "Too many messages");
    /// Relays to one peer, waiting for it to read them, over the sender's share.
    pub const PEER_BACKLOG: Close = Close::new(1008, "Too many messages waiting for a peer");
    /// Its socket took nothing for `unread_timeout` while messages waited, or the server's own
    /// messages piled up.
    pub const NOT_READING: Close = Close::new(1008, "Not reading messages");
    /// A text frame that is not UTF-8.
    pub const NOT_UTF8: Close = Close::new(1007, "Text must be UTF-8");
    /// A frame without the mask clients must apply.
    pub const UNMASKED: Close = Close::new(1002, "Frames from clients must be masked");
    /// A frame with RSV1-3 set: no extension is negotiated.
    pub const RESERVED_BITS: Close = Close::new(1002, "Reserved bits must be zero");
    /// An opcode WebSocket does not define.
    pub const UNKNOWN_OPCODE: Close = Close::new(1002, "Unknown opcode");
    /// A ping, pong or close frame not in one piece.
    pub const FRAGMENTED_CONTROL: Close = Close::new(1002, "Control frames must not be fragmented");
    /// A ping, pong or close frame over 125 bytes.
    pub const CONTROL_TOO_LARGE: Close =
        Close::new(1002, "Control frames must be 125 bytes or less");
    /// A continuation with nothing to continue, or a new message before the last one ended.
    pub const BAD_FRAGMENTS: Close = Close::new(1002, "Invalid fragmentation");
    /// Any other violation of the WebSocket protocol.
    pub const PROTOCOL_ERROR: Close = Close::new(1002, "WebSocket protocol error");
    /// Missing or wrong token.
    pub const BAD_TOKEN: Close = Close::new(1008, "Invalid token");
    /// The server stops.
    pub const SHUTDOWN: Close = Close::new(1001, "Server shutting down");
}

/// What the hub asks its caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this text frame of the server's to a connection.
    Send(ConnId, String),
    /// Relay this text frame from one connection to another.
    Relay {
        /// The sender.
        from: ConnId,
        /// The receiver.
        to: ConnId,
        /// The message as relayed, at most `max_message_bytes`.
        text: String,
    },
    /// Close a connection with this code and reason. The hub has already forgotten it.
    Close(ConnId, Close),
    /// A line for the server's log (joins, leaves, refusals).
    Log(String),
}

struct Conn {
    /// Random, unique on this server; a lobby's host is known to its lobby as 1 instead.
    peer_id: i32,
    lobby: Option<String>,
    opened: Instant,
    tokens: f64,
    refilled: Instant,
}

struct Lobby {
    host: ConnId,
    mesh: bool,
    /// In join order.
    members: Vec<ConnId>,
    sealed_at: Option<Instant>,
}

impl Lobby {
    /// Whether `a` and `b` are told about each other and may exchange messages: everyone in a
    /// mesh, only host and client in a client/server lobby.
    fn linked(&self, a: ConnId, b: ConnId) -> bool {
        a != b && (self.mesh || a == self.host || b == self.host)
    }
}

/// Connections and lobbies of one signaling server.
pub struct Hub {
    limits: Limits,
    conns: HashMap<ConnId, Conn>,
    lobbies: HashMap<String, Lobby>,
    ids: HashSet<i32>,
    next_conn: ConnId,
}

impl Hub {
    /// An empty hub.
    pub fn new(limits: Limits) -> Hub {
        Hub {
            limits,
            conns: HashMap::new(),
            lobbies: HashMap::new(),
            ids: HashSet::new(),
            next_conn: 1,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Open lobbies.
    pub fn lobby_count(&self) -> usize {
        self.lobbies.len()
    }

    /// A new WebSocket connection, with the `token` of its URL if any. Refused (the caller
    /// closes it with the reason) over `max_connections` or with a wrong token.
    pub fn open(&mut self, now: Instant, token: Option<&str>) -> Result<ConnId, Close> {
        if let Some(expected) = &self.limits.token
            && !token.is_some_and(|t| same_secret(t, expected))
        {
            return Err(reasons::BAD_TOKEN);
        }
        if self.conns.len() >= self.limits.max_connections {
            return Err(reasons::TOO_MANY_PEERS);
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        let peer_id = loop {
            let id = rand::rng().random_range(2..=i32::MAX);
            if self.ids.insert(id) {
                break id;
            }
        };
        self.conns.insert(
            conn,
            Conn {
                peer_id,
                lobby: None,
                opened: now,
                tokens: self.limits.message_burst,
                refilled: now,
            },
        );
        Ok(conn)
    }

    /// How many peers may send messages to a connection: those it is linked with in its lobby.
    pub fn senders_to(&self, conn: ConnId) -> usize {
        let Some(lobby) = self
            .conns
            .get(&conn)
            .and_then(|c| c.lobby.as_ref())
            .and_then(|name| self.lobbies.get(name))
        else {
            return 0;
        };
        if lobby.mesh || lobby.host == conn {
            lobby.members.len().saturating_sub(1)
        } else {
            1
        }
    }

    /// Takes a message's token from the connection's bucket: `message_burst` at once,
    /// `messages_per_second` sustained. False, with the connection closed, when none is left.
    fn spend(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Output>) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let elapsed = now.saturating_duration_since(c.refilled).as_secs_f64();
        c.tokens =
            (c.tokens + elapsed * self.limits.messages_per_second).min(self.limits.message_burst);
        c.refilled = now;
        if c.tokens < 1.0 {
            self.kick(conn, reasons::TOO_FAST, out);
            return false;
        }
        c.tokens -= 1.0;
        true
    }

    /// A text frame from a connection.
    pub fn receive(&mut self, conn: ConnId, text: &str, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if !self.spend(conn, now, &mut out) {
            return out;
        }
        if text.len() > self.limits.max_message_bytes {
            self.kick(conn, reasons::TOO_LARGE, &mut out);
            return out;
        }
        let message = match Message::parse(text) {
            Ok(m) => m,
            Err(ParseError::Format) => {
                self.kick(conn, reasons::INVALID_FORMAT, &mut out);
                return out;
            }
            Err(ParseError::UnknownType) => {
                self.kick(conn, reasons::INVALID_COMMAND, &mut out);
                return out;
            }
        };
        match message.kind {
            MessageType::Join => self.join(conn, &message.data, message.id == 0, &mut out),
            MessageType::Seal => self.seal(conn, now, &mut out),
            MessageType::Offer | MessageType::Answer | MessageType::Candidate => {
                self.relay(conn, message, &mut out)
            }
            MessageType::Id | MessageType::PeerConnect | MessageType::PeerDisconnect => {
                self.kick(conn, reasons::INVALID_COMMAND, &mut out)
            }
        }
        out
    }

    /// A ping, pong or other frame that is not a message. It counts against the rate all the
    /// same: each ping costs a pong, and a flood of them costs as much as one of messages.
    pub fn receive_control(&mut self, conn: ConnId, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        self.spend(conn, now, &mut out);
        out
    }

    /// A binary frame from a connection: the protocol is text only.
    pub fn receive_binary(&mut self, conn: ConnId) -> Vec<Output> {
        let mut out = Vec::new();
        if self.conns.contains_key(&conn) {
            self.kick(conn, reasons::TEXT_ONLY, &mut out);
        }
        out
    }

    /// A frame over the transport's size limit, which the transport did not buffer.
    pub fn receive_oversized(&mut self, conn: ConnId) -> Vec<Output> {
        self.disconnect(conn, reasons::TOO_LARGE)
    }

    /// Closes a connection for a reason found outside the hub: a violation of the WebSocket
    /// protocol, a client that does not read, a sender flooding a peer.
    pub fn disconnect(&mut self, conn: ConnId, close: Close) -> Vec<Output> {
        let mut out = Vec::new();
        self.kick(conn, close, &mut out);
        out
    }

    /// The connection is gone (closed by the client, or broken).
    pub fn closed(&mut self, conn: ConnId) -> Vec<Output> {
        let mut out = Vec::new();
        self.forget(conn, &mut out);
        out
    }

    /// Applies deadlines: connections that never joined, sealed lobbies past their grace.
    pub fn tick(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let late: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.lobby.is_none()
                    && now.saturating_duration_since(c.opened) >= self.limits.join_deadline
            })
            .map(|(&id, _)| id)
            .collect();
        for conn in late {
            self.kick(conn, reasons::NO_LOBBY, &mut out);
        }
        let done: Vec<String> = self
            .lobbies
            .iter()
            .filter(|(_, l)| {
                l.sealed_at.is_some_and(|t| {
                    now.saturating_duration_since(t) >= self.limits.seal_close_after
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in done {
            if let Some(lobby) = self.lobbies.remove(&name) {
                out.push(Output::Log(format!(
                    "lobby {name} closed after its seal ({} peers)",
                    lobby.members.len()
                )));
                for member in lobby.members {
                    if let Some(c) = self.conns.get_mut(&member) {
                        c.lobby = None;
                    }
                    self.kick(member, reasons::SEAL_COMPLETE, &mut out);
                }
            }
        }
        out
    }

    /// Closes every connection: the server stops.
    pub fn close_all(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        let all: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in all {
            self.kick(conn, reasons::SHUTDOWN, &mut out);
        }
        out
    }

    fn join(&mut self, conn: ConnId, name: &str, mesh: bool, out: &mut Vec<Output>) {
        if self.conns[&conn].lobby.is_some() {
            return self.kick(conn, reasons::ALREADY_IN_LOBBY, out);
        }
        let name = if name.is_empty() {
            if self.lobbies.len() >= self.limits.max_lobbies {
                return self.kick(conn, reasons::TOO_MANY_LOBBIES, out);
            }
            let name = loop {
                let length = self.limits.lobby_name_length.max(1);
                let name = Alphanumeric.sample_string(&mut rand::rng(), length);
                if !self.lobbies.contains_key(&name) {
                    break name;
                }
            };
            self.lobbies.insert(
                name.clone(),
                Lobby {
                    host: conn,
                    mesh,
                    members: Vec::new(),
                    sealed_at: None,
                },
            );
            name
        } else {
            name.to_string()
        };
        let Some(lobby) = self.lobbies.get(&name) else {
            return self.kick(conn, reasons::NO_SUCH_LOBBY, out);
        };
        if lobby.sealed_at.is_some() {
            return self.kick(conn, reasons::LOBBY_SEALED, out);
        }
        if lobby.members.len() >= self.limits.max_peers_per_lobby {
            return self.kick(conn, reasons::LOBBY_FULL, out);
        }
        let assigned = self.assigned_id(lobby, conn);
        let data = if lobby.mesh { "true" } else { "" };
        out.push(send(conn, MessageType::Id, assigned, data));
        for &member in &lobby.members {
            if lobby.linked(conn, member) {
                out.push(send(member, MessageType::PeerConnect, assigned, ""));
                let theirs = self.assigned_id(lobby, member);
                out.push(send(conn, MessageType::PeerConnect, theirs, ""));
            }
        }
        let mode = if lobby.mesh { "mesh" } else { "client/server" };
        let count = lobby.members.len() + 1;
        if let Some(lobby) = self.lobbies.get_mut(&name) {
            lobby.members.push(conn);
        }
        out.push(send(conn, MessageType::Join, 0, name.as_str()));
        out.push(Output::Log(format!(
            "peer {} joined lobby {name} as {assigned} ({mode}, {count} peers)",
            self.conns[&conn].peer_id
        )));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.lobby = Some(name);
        }
    }

    fn seal(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Output>) {
        let Some(name) = self.conns[&conn].lobby.clone() else {
            return self.kick(conn, reasons::NEED_LOBBY, out);
        };
        let Some(lobby) = self.lobbies.get_mut(&name) else {
            return;
        };
        if lobby.host != conn {
            return self.kick(conn, reasons::ONLY_HOST_CAN_SEAL, out);
        }
        if lobby.sealed_at.is_some() {
            return;
        }
        lobby.sealed_at = Some(now);
        for &member in &lobby.members {
            out.push(send(member, MessageType::Seal, 0, ""));
        }
        out.push(Output::Log(format!(
            "lobby {name} sealed with {} peers",
            lobby.members.len()
        )));
    }

    /// Offers, answers and candidates go to a peer of the sender's lobby that the sender is
    /// linked with, marked with the sender's id. Anything else (a peer that already left, an
    /// id of another lobby, oneself) is dropped: such races are normal while peers come and
    /// go, and a dropped message tells nothing about other lobbies.
    fn relay(&mut self, conn: ConnId, message: Message, out: &mut Vec<Output>) {
        let Some(name) = self.conns[&conn].lobby.as_ref() else {
            return self.kick(conn, reasons::NEED_LOBBY, out);
        };
        let Some(lobby) = self.lobbies.get(name) else {
            return;
        };
        let target = lobby
            .members
            .iter()
            .copied()
            .find(|&m| i64::from(self.assigned_id(lobby, m)) == message.id);
        if let Some(target) = target.filter(|&t| lobby.linked(conn, t)) {
            let source = self.assigned_id(lobby, conn);
            let text = Message::new(message.kind, i64::from(source), message.data).to_json();
            // Measured as sent: the sender's id may be longer than the one it wrote, and
            // escaping may lengthen the data.
            if text.len() > self.limits.max_message_bytes {
                return self.kick(conn, reasons::TOO_LARGE, out);
            }
            out.push(Output::Relay {
                from: conn,
                to: target,
                text,
            });
        }
    }

    fn assigned_id(&self, lobby: &Lobby, conn: ConnId) -> i32 {
        if lobby.host == conn {
            1
        } else {
            self.conns.get(&conn).map_or(0, |c| c.peer_id)
        }
    }

    /// Closes a connection with a reason, and forgets it at once so nothing more reaches it.
    fn kick(&mut self, conn: ConnId, close: Close, out: &mut Vec<Output>) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if close.code != 1000 && close.code != 1001 {
            out.push(Output::Log(format!(
                "peer {} closed: {}",
                self.conns[&conn].peer_id, close.reason
            )));
        }
        out.push(Output::Close(conn, close));
        self.forget(conn, out);
    }

    fn forget(&mut self, conn: ConnId, out: &mut Vec<Output>) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        self.ids.remove(&c.peer_id);
        let Some(name) = c.lobby else {
            return;
        };
        let Some(lobby) = self.lobbies.get_mut(&name) else {
            return;
        };
        lobby.members.retain(|&m| m != conn);
        if lobby.host == conn {
            // The host is the lobby: without it nobody can be admitted or relayed to 1.
            let lobby = self.lobbies.remove(&name).expect("lobby present");
            out.push(Output::Log(format!(
                "peer {} (host) left lobby {name}; lobby closed",
                c.peer_id
            )));
            for member in lobby.members {
                if let Some(m) = self.conns.get_mut(&member) {
                    m.lobby = None;
                }
                self.kick(member, reasons::HOST_DISCONNECTED, out);
            }
            return;
        }
        for &member in &lobby.members {
            if lobby.linked(conn, member) {
                out.push(send(member, MessageType::PeerDisconnect, c.peer_id, ""));
            }
        }
        out.push(Output::Log(format!(
            "peer {} left lobby {name} ({} peers)",
            c.peer_id,
            lobby.members.len()
        )));
    }
}

fn send(conn: ConnId, kind: MessageType, id: i32, data: impl Into<String>) -> Output {
    Output::Send(conn, Message::new(kind, i64::from(id), data).to_json())
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens a connection and joins `lobby` ("" creates a mesh lobby); the connection and the
    /// lobby's name.
    fn joined(hub: &mut Hub, lobby: &str, mesh: bool, now: Instant) -> (ConnId, String) {
        let conn = hub.open(now, None).unwrap();
        let join = Message::new(MessageType::Join, if mesh { 0 } else { 1 }, lobby).to_json();
        let name = hub
            .receive(conn, &join, now)
            .into_iter()
            .find_map(|o| match o {
                Output::Send(to, text) if to == conn => Message::parse(&text)
                    .ok()
                    .filter(|m| m.kind == MessageType::Join)
                    .map(|m| m.data),
                _ => None,
            })
            .expect("joined");
        (conn, name)
    }

    #[test]
    fn pings_and_other_frames_count_against_the_rate() {
        let now = Instant::now();
        let mut hub = Hub::new(Limits {
            messages_per_second: 0.0,
            message_burst: 3.0,
            ..Limits::default()
        });
        let conn = hub.open(now, None).unwrap();
        for _ in 0..3 {
            assert_eq!(hub.receive_control(conn, now), []);
        }
        let out = hub.receive_control(conn, now);
        assert_eq!(out.last(), Some(&Output::Close(conn, reasons::TOO_FAST)));
        assert_eq!(hub.connection_count(), 0);
    }

    #[test]
    fn relays_are_measured_as_sent() {
        let now = Instant::now();
        let mut hub = Hub::new(Limits {
            max_message_bytes: 200,
            ..Limits::default()
        });
        let (host, lobby) = joined(&mut hub, "", true, now);
        let (member, _) = joined(&mut hub, &lobby, true, now);
        let id = i64::from(hub.conns[&member].peer_id);
        let envelope = Message::new(MessageType::Offer, id, "").to_json().len();
        let relay = |hub: &mut Hub, data: &str| {
            let text = Message::new(MessageType::Offer, 1, data).to_json();
            assert!(text.len() <= 200, "the message itself fits");
            hub.receive(member, &text, now)
        };
        // Exactly the limit once relayed: delivered at that size.
        let fits = "x".repeat(200 - envelope);
        let out = relay(&mut hub, &fits);
        assert!(
            matches!(&out[..], [Output::Relay { from, to, text }]
                if *from == member && *to == host && text.len() == 200),
            "{out:?}"
        );
        // Quotes are escaped when relayed, and the sender's id is longer than "1": the
        // message fits, its relay does not.
        let quotes = "\"".repeat((200 - envelope) / 2 + 1);
        let out = relay(&mut hub, &quotes);
        assert!(
            out.contains(&Output::Close(member, reasons::TOO_LARGE)),
            "{out:?}"
        );
        assert!(!out.iter().any(|o| matches!(o, Output::Relay { .. })));
    }

    #[test]
    fn senders_are_the_linked_peers() {
        let now = Instant::now();
        let mut hub = Hub::new(Limits::default());
        let alone = hub.open(now, None).unwrap();
        assert_eq!(hub.senders_to(alone), 0);
        let (host, mesh) = joined(&mut hub, "", true, now);
        let (a, _) = joined(&mut hub, &mesh, true, now);
        let (b, _) = joined(&mut hub, &mesh, true, now);
        assert_eq!(
            [hub.senders_to(host), hub.senders_to(a), hub.senders_to(b)],
            [2, 2, 2]
        );
        let (server, star) = joined(&mut hub, "", false, now);
        let (c, _) = joined(&mut hub, &star, false, now);
        let (d, _) = joined(&mut hub, &star, false, now);
        assert_eq!(
            [hub.senders_to(server), hub.senders_to(c), hub.senders_to(d)],
            [2, 1, 1]
        );
    }
}
