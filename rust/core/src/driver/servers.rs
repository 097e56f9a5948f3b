//! A connection's STUN and TURN servers, sans-IO: the candidates they give, and the relays
//! that carry traffic for ICE.
//!
//! Every server is spoken to through `rtc`'s TURN client, one per local socket and server
//! address: a STUN server answers one Binding request (a server-reflexive candidate), a TURN
//! server makes an allocation (a relayed candidate) that the client keeps refreshed, with a
//! permission and a channel per peer. The session sees a relay as one more local
//! address: what ICE sends from it goes to [`Servers::send`], and what the relay forwards to
//! us comes back from [`Servers::poll_received`] addressed to it.
//!
//! ```text
//!   socket ──datagram──> claims()? ──yes──> TURN client ──> candidates, relayed data ──> pc
//!                           └──no──> pc
//!   pc ──datagram from a relay address──> send() ──> TURN client ──> poll_transmit() ──> socket
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::BytesMut;
use rtc::crypto::RTCCryptoProvider;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateRelayConfig, CandidateServerReflexiveConfig, RTCIceCandidate,
    RTCIceCandidateInit,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error as RtcError;
use rtc::shared::{TaggedBytesMut, TransportProtocol};
use rtc::stun::message::{TransactionId, is_stun_message};
use rtc::turn::client::{Client as TurnClient, ClientConfig, Event};
use rtc::turn::proto::chandata::ChannelData;

use crate::server_url::ServerKind;

/// Bytes ICE may send through relays to peers whose permission is still being asked for (a
/// round trip to the server). Only checks and handshakes travel before a permission exists.
const WAITING_BYTES: usize = 64 * 1024;

/// A server ready to be asked: its name resolved, or a stream (TCP or TLS) made for it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URL as configured, reported with the candidates it gives.
    pub(crate) url: String,
    pub(crate) kind: ServerKind,
    /// Every address the server's name resolved to; each local socket asks one of its family.
    pub(crate) addresses: Vec<SocketAddr>,
    pub(crate) username: String,
    pub(crate) password: String,
    /// Reached over one stream (TCP or TLS): a second allocation on it would be refused as a
    /// duplicate, so only the first local socket asks.
    pub(crate) one_stream: bool,
}

/// One local socket's conversation with one server.
struct Client {
    turn: TurnClient,
    url: String,
    local: SocketAddr,
    server: SocketAddr,
    // The Binding or Allocate request whose answer gives the candidate.
    request: TransactionId,
    relay: Option<SocketAddr>,
    finished: bool,
}

/// The servers of one connection: see the module documentation.
#[derive(Default)]
pub(crate) struct Servers {
    clients: Vec<Client>,
    // Relay address -> index of the client that owns the allocation.
    relays: HashMap<SocketAddr, usize>,
    // What ICE sent through a relay to a peer not yet permitted, by (relay, peer).
    waiting: HashMap<(SocketAddr, SocketAddr), VecDeque<BytesMut>>,
    waiting_bytes: usize,
    // Permission requests in flight -> (relay, peer).
    permissions: HashMap<TransactionId, (SocketAddr, SocketAddr)>,
    candidates: VecDeque<RTCIceCandidateInit>,
    received: VecDeque<TaggedBytesMut>,
    transmits: VecDeque<TaggedBytesMut>,
    // What went wrong, for the log: a server that refused us, or never answered.
    problems: VecDeque<String>,
}

/// The crypto provider TURN's message integrity uses; the same one DTLS uses, made once.
fn crypto() -> Option<Arc<dyn RTCCryptoProvider>> {
    static PROVIDER: OnceLock<Option<Arc<dyn RTCCryptoProvider>>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| rtc::crypto::default_provider().ok())
        .clone()
}

impl Servers {
    /// Asks every target from every local socket of its family: a Binding request to STUN
    /// servers (unless only relays may be used), an Allocate request to TURN servers.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        targets: &[Target],
        locals: &[SocketAddr],
        relay_only: bool,
    ) {
        for target in targets {
            if target.kind == ServerKind::Stun && relay_only {
                continue;
            }
            for &local in locals {
                let Some(&server) = target
                    .addresses
                    .iter()
                    .find(|a| a.is_ipv4() == local.is_ipv4())
                else {
                    continue;
                };
                match self.ask(now, target, local, server) {
                    Ok(client) => {
                        self.clients.push(client);
                        // The request goes out with this pass, not at its first retransmission.
                        self.collect(self.clients.len() - 1);
                    }
                    Err(e) => self
                        .problems
                        .push_back(format!("{}: cannot ask from {local}: {e}", target.url)),
                }
                if target.one_stream {
                    break;
                }
            }
        }
    }

    fn ask(
        &self,
        now: Instant,
        target: &Target,
        local: SocketAddr,
        server: SocketAddr,
    ) -> Result<Client, RtcError> {
        let crypto = crypto().ok_or_else(|| RtcError::Other("no crypto provider".into()))?;
        let (stun, turn) = match target.kind {
            ServerKind::Stun => (server.to_string(), String::new()),
            ServerKind::Turn => (String::new(), server.to_string()),
        };
        let mut turn = TurnClient::new(
            ClientConfig {
                stun_serv_addr: stun,
                turn_serv_addr: turn,
                local_addr: local,
                transport_protocol: TransportProtocol::UDP,
                username: target.username.clone(),
                password: target.password.clone(),
                ..ClientConfig::default()
            },
            crypto,
        )?;
        let request = match target.kind {
            ServerKind::Stun => turn.send_binding_request(now)?,
            ServerKind::Turn => turn.allocate(now)?,
        };
        Ok(Client {
            turn,
            url: target.url.clone(),
            local,
            server,
            request,
            relay: None,
            finished: false,
        })
    }

    /// Whether every server has answered, refused or timed out.
    pub(crate) fn finished(&self) -> bool {
        self.clients.iter().all(|c| c.finished)
    }

    /// Whether `address` is one of our relays (so a datagram from it goes through [`send`]).
    ///
    /// [`send`]: Servers::send
    pub(crate) fn is_relay(&self, address: SocketAddr) -> bool {
        !self.relays.is_empty() && self.relays.contains_key(&address)
    }

    /// The client a datagram read from a socket is for, if any: a response to one of its
    /// requests, or data its relay forwards. ICE's own checks (requests) are the peer
    /// connection's, even from a server's address.
    fn claims(&self, msg: &TaggedBytesMut) -> Option<usize> {
        if self.clients.is_empty() {
            return None;
        }
        let from = msg.transport.peer_addr;
        let local = msg.transport.local_addr;
        let mut ours = self
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.server == from && c.local == local);
        let data = &msg.message[..];
        if ChannelData::is_channel_data(data) {
            return ours.find(|(_, c)| c.relay.is_some()).map(|(i, _)| i);
        }
        if !is_stun_message(data) {
            return None;
        }
        let kind = u16::from_be_bytes([data[0], data[1]]);
        match ((kind >> 4) & 1) | ((kind >> 7) & 2) {
            // Indications carry no transaction: a Data indication is for the relay here.
            1 => ours.find(|(_, c)| c.relay.is_some()).map(|(i, _)| i),
            // Responses belong to whoever sent the request (a STUN and a TURN URL may name one
            // server, so the address alone cannot tell).
            2 | 3 => {
                let mut id = TransactionId::default();
                id.0.copy_from_slice(&data[8..20]);
                ours.find(|(_, c)| c.turn.has_transaction(&id))
                    .map(|(i, _)| i)
            }
            _ => None,
        }
    }

    /// Takes a datagram read from a socket if it is a server's; hands it back otherwise.
    pub(crate) fn handle_read(&mut self, msg: TaggedBytesMut) -> Option<TaggedBytesMut> {
        let Some(index) = self.claims(&msg) else {
            return Some(msg);
        };
        let client = &mut self.clients[index];
        if let Err(e) = client.turn.handle_read(msg) {
            self.problems
                .push_back(format!("{}: bad message: {e}", client.url));
        }
        self.process(index);
        None
    }

    /// Sends a datagram ICE addressed from one of our relays.
    pub(crate) fn send(&mut self, msg: TaggedBytesMut) {
        let relay = msg.transport.local_addr;
        let peer = msg.transport.peer_addr;
        let Some(&index) = self.relays.get(&relay) else {
            return;
        };
        let client = &mut self.clients[index];
        let Ok(mut allocation) = client.turn.relay(relay) else {
            return;
        };
        match allocation.send_to(msg.now, &msg.message, peer) {
            Ok(()) => {}
            Err(RtcError::ErrNoPermission) => {
                if !self.waiting.contains_key(&(relay, peer))
                    && let Ok(Some(id)) = allocation.create_permission(msg.now, peer)
                {
                    self.permissions.insert(id, (relay, peer));
                }
                // Bounded like a network queue: past it, what ICE sends is lost and resent.
                if self.waiting_bytes + msg.message.len() <= WAITING_BYTES {
                    self.waiting_bytes += msg.message.len();
                    self.waiting
                        .entry((relay, peer))
                        .or_default()
                        .push_back(msg.message);
                }
            }
            Err(e) => self
                .problems
                .push_back(format!("{}: cannot relay to {peer}: {e}", client.url)),
        }
        self.collect(index);
    }

    /// Runs the clients' retransmissions and refreshes.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for index in 0..self.clients.len() {
            if let Err(e) = self.clients[index].turn.handle_timeout(now) {
                let url = &self.clients[index].url;
                self.problems.push_back(format!("{url}: {e}"));
            }
            self.process(index);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        self.clients
            .iter_mut()
            .filter_map(|c| c.turn.poll_timeout())
            .min()
    }

    /// A datagram to send from a local socket.
    pub(crate) fn poll_transmit(&mut self) -> Option<TaggedBytesMut> {
        self.transmits.pop_front()
    }

    /// A candidate gathered from a server, for the session.
    pub(crate) fn poll_candidate(&mut self) -> Option<RTCIceCandidateInit> {
        self.candidates.pop_front()
    }

    /// A datagram a relay forwarded to us, addressed to the relay, for the session.
    pub(crate) fn poll_received(&mut self) -> Option<TaggedBytesMut> {
        self.received.pop_front()
    }

    /// Something that went wrong with a server, for the log.
    pub(crate) fn poll_problem(&mut self) -> Option<String> {
        self.problems.pop_front()
    }

    /// Releases every allocation (a Refresh with lifetime 0) rather than leaving it on the
    /// server until it expires, and forgets the servers.
    pub(crate) fn close(&mut self, now: Instant) {
        for client in &mut self.clients {
            let _ = client.turn.close();
            if let Some(relay) = client.relay
                && let Ok(mut allocation) = client.turn.relay(relay)
            {
                let _ = allocation.close(now);
            }
            while let Some(msg) = client.turn.poll_write() {
                self.transmits.push_back(msg);
            }
            client.finished = true;
        }
        self.relays.clear();
        self.waiting.clear();
        self.waiting_bytes = 0;
        self.permissions.clear();
    }

    /// Moves client `index`'s events and datagrams out.
    fn process(&mut self, index: usize) {
        while let Some(event) = self.clients[index].turn.poll_event() {
            self.on_event(index, event);
        }
        self.collect(index);
    }

    fn collect(&mut self, index: usize) {
        while let Some(msg) = self.clients[index].turn.poll_write() {
            self.transmits.push_back(msg);
        }
    }

    fn on_event(&mut self, index: usize, event: Event) {
        let client = &mut self.clients[index];
        match event {
            Event::BindingResponse(id, mapped) if id == client.request => {
                client.finished = true;
                let config = CandidateServerReflexiveConfig {
                    base_config: candidate_base(mapped),
                    rel_addr: client.local.ip().to_string(),
                    rel_port: client.local.port(),
                    url: Some(client.url.clone()),
                };
                match config.new_candidate_server_reflexive() {
                    Ok(candidate) => self.push_candidate(&candidate, index),
                    Err(e) => self.problems.push_back(format!("{}: {e}", client.url)),
                }
            }
            Event::AllocateResponse(id, relay) if id == client.request => {
                client.finished = true;
                client.relay = Some(relay);
                self.relays.insert(relay, index);
                let config = CandidateRelayConfig {
                    base_config: candidate_base(relay),
                    rel_addr: client.local.ip().to_string(),
                    rel_port: client.local.port(),
                    url: Some(client.url.clone()),
                };
                match config.new_candidate_relay() {
                    Ok(candidate) => self.push_candidate(&candidate, index),
                    Err(e) => self.problems.push_back(format!("{}: {e}", client.url)),
                }
            }
            Event::BindingError(id, e) | Event::AllocateError(id, e) if id == client.request => {
                client.finished = true;
                self.problems
                    .push_back(format!("{} refused {}: {e}", client.url, client.local));
            }
            Event::TransactionTimeout(id) if id == client.request => {
                client.finished = true;
                self.problems.push_back(format!(
                    "{} did not answer {} (no candidate from it)",
                    client.url, client.local
                ));
            }
            Event::CreatePermissionResponse(id, _) => {
                if let Some((relay, peer)) = self.permissions.remove(&id) {
                    self.release_waiting(index, relay, peer);
                }
            }
            Event::CreatePermissionError(id, _) | Event::TransactionTimeout(id) => {
                if let Some(key) = self.permissions.remove(&id)
                    && let Some(dropped) = self.waiting.remove(&key)
                {
                    self.waiting_bytes -= dropped.iter().map(BytesMut::len).sum::<usize>();
                }
            }
            Event::DataIndicationOrChannelData(_, peer, data) => {
                if let Some(relay) = client.relay {
                    let datagram = super::tagged(Instant::now(), relay, peer, data);
                    self.received.push_back(datagram);
                }
            }
            _ => {}
        }
    }

    fn push_candidate(&mut self, candidate: &rtc::ice::candidate::Candidate, index: usize) {
        match RTCIceCandidate::from(candidate).to_json() {
            Ok(mut init) => {
                init.url = Some(self.clients[index].url.clone());
                self.candidates.push_back(init);
            }
            Err(e) => self
                .problems
                .push_back(format!("{}: {e}", self.clients[index].url)),
        }
    }

    /// Sends what waited for the permission to `peer` through `relay`.
    fn release_waiting(&mut self, index: usize, relay: SocketAddr, peer: SocketAddr) {
        let Some(waiting) = self.waiting.remove(&(relay, peer)) else {
            return;
        };
        let now = Instant::now();
        for data in waiting {
            self.waiting_bytes -= data.len();
            if let Ok(mut allocation) = self.clients[index].turn.relay(relay) {
                let _ = allocation.send_to(now, &data, peer);
            }
        }
        self.collect(index);
    }
}

fn candidate_base(address: SocketAddr) -> CandidateConfig {
    CandidateConfig {
        network: "udp".to_owned(),
        address: address.ip().to_string(),
        port: address.port(),
        component: 1,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Message, Setter};
    use rtc::stun::xoraddr::XorMappedAddress;

    const LOCAL: &str = "10.0.0.2:5000";
    const SERVER: &str = "198.51.100.1:3478";
    const MAPPED: &str = "203.0.113.7:61000";

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn stun_target() -> Target {
        Target {
            url: format!("stun:{SERVER}"),
            kind: ServerKind::Stun,
            addresses: vec!["[2001:db8::1]:3478".parse().unwrap(), addr(SERVER)],
            username: String::new(),
            password: String::new(),
            one_stream: false,
        }
    }

    fn datagram(from: SocketAddr, to: SocketAddr, message: &[u8]) -> TaggedBytesMut {
        crate::driver::tagged(Instant::now(), to, from, BytesMut::from(message))
    }

    /// A STUN message of `kind` with transaction `id` and, if given, a mapped address.
    fn stun(
        kind: rtc::stun::message::MessageType,
        id: TransactionId,
        mapped: Option<&str>,
    ) -> Vec<u8> {
        let mut setters: Vec<Box<dyn Setter>> = vec![Box::new(id), Box::new(kind)];
        if let Some(mapped) = mapped {
            let mapped = addr(mapped);
            setters.push(Box::new(XorMappedAddress {
                ip: mapped.ip(),
                port: mapped.port(),
            }));
        }
        let mut message = Message::new();
        message.build(&setters).unwrap();
        message.raw
    }

    fn started() -> (Servers, TransactionId) {
        let mut servers = Servers::default();
        servers.start(Instant::now(), &[stun_target()], &[addr(LOCAL)], false);
        let request = servers
            .poll_transmit()
            .expect("the Binding request leaves at once");
        assert_eq!(request.transport.local_addr, addr(LOCAL));
        assert_eq!(
            request.transport.peer_addr,
            addr(SERVER),
            "the server of the socket's family"
        );
        let mut id = TransactionId::default();
        id.0.copy_from_slice(&request.message[8..20]);
        (servers, id)
    }

    #[test]
    fn a_binding_response_gives_a_server_reflexive_candidate_and_ends_the_server() {
        let (mut servers, id) = started();
        assert!(!servers.finished());
        let response = stun(BINDING_SUCCESS, id, Some(MAPPED));
        assert!(
            servers
                .handle_read(datagram(addr(SERVER), addr(LOCAL), &response))
                .is_none()
        );
        let candidate = servers.poll_candidate().expect("a candidate").candidate;
        assert!(
            candidate.contains("203.0.113.7 61000 typ srflx raddr 10.0.0.2 rport 5000"),
            "{candidate}"
        );
        assert!(servers.finished());
        assert!(servers.poll_candidate().is_none());
    }

    #[test]
    fn only_the_servers_own_answers_are_taken() {
        let (mut servers, id) = started();
        // An ICE check from the server's address, a response to a request it never sent, the
        // right response from another address, and DTLS: all the session's.
        let others = [
            datagram(addr(SERVER), addr(LOCAL), &stun(BINDING_REQUEST, id, None)),
            datagram(
                addr(SERVER),
                addr(LOCAL),
                &stun(BINDING_SUCCESS, TransactionId::new(), Some(MAPPED)),
            ),
            datagram(
                addr("192.0.2.9:3478"),
                addr(LOCAL),
                &stun(BINDING_SUCCESS, id, Some(MAPPED)),
            ),
            datagram(addr(SERVER), addr(LOCAL), &[22, 254, 253, 0, 0]),
        ];
        for other in others {
            assert!(servers.handle_read(other).is_some());
        }
        assert!(servers.poll_candidate().is_none());
        assert!(!servers.finished());
    }

    #[test]
    fn a_relay_only_policy_asks_no_stun_server() {
        let mut servers = Servers::default();
        servers.start(Instant::now(), &[stun_target()], &[addr(LOCAL)], true);
        assert!(servers.poll_transmit().is_none());
        assert!(servers.finished());
    }

    #[test]
    fn a_server_of_another_family_is_not_asked() {
        let mut servers = Servers::default();
        let target = Target {
            addresses: vec!["[2001:db8::1]:3478".parse().unwrap()],
            ..stun_target()
        };
        servers.start(Instant::now(), &[target], &[addr(LOCAL)], false);
        assert!(servers.poll_transmit().is_none());
        assert!(servers.finished());
    }

    #[test]
    fn a_server_that_never_answers_ends_after_its_retransmissions() {
        let (mut servers, _) = started();
        let mut sent = 1;
        while !servers.finished() {
            let now = servers.poll_timeout().expect("a retransmission is due");
            servers.handle_timeout(now);
            while servers.poll_transmit().is_some() {
                sent += 1;
            }
            assert!(sent <= 7, "retransmitted {sent} times");
        }
        assert_eq!(sent, 7, "the request and its six retransmissions");
        assert!(
            servers
                .poll_problem()
                .is_some_and(|p| p.contains("did not answer"))
        );
        assert!(servers.poll_candidate().is_none());
    }
}
