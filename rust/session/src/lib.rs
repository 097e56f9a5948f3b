//! A mesh session: joins a lobby on a signaling server and runs the WebRTC mesh (or
//! server/client star) that the lobby describes, as Godot's signaling demo client does:
//! the mode and id come from the server, every announced peer gets a connection, the higher
//! id of each pair makes the offer, descriptions and candidates go through the server.
//!
//! Driven by [`MeshSession::poll`] from one thread, like [`Mesh`] itself.

use std::collections::{BTreeMap, VecDeque};

use webrtc_mesh_core::{
    Connection, ConnectionConfig, ConnectionEvent, Mesh, MeshEvent, Runtime, TransferMode,
};
use webrtc_mesh_signaling::protocol::{decode_candidate, encode_candidate};
use webrtc_mesh_signaling::{ClientEvent, Message, MessageType, SignalingClient};

/// What to join and how to connect.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The signaling server, `ws://host:port/` (with `?token=...` if it wants one).
    pub url: String,
    /// The lobby to join; empty creates one (its name arrives in [`SessionEvent::Joined`]).
    pub lobby: String,
    /// For a new lobby: a full mesh (true) or a server/client star (false). Joining an
    /// existing lobby takes that lobby's mode.
    pub mesh: bool,
    /// ICE servers, policy and addresses of every peer connection.
    pub connection: ConnectionConfig,
    /// Channels after Godot's three default ones.
    pub extra_channels: Vec<TransferMode>,
    /// Milliseconds of `unreliable_lifetime` for each peer.
    pub unreliable_lifetime: i64,
}

impl SessionConfig {
    /// A session joining (or with an empty `lobby`, creating) a lobby at `url`.
    pub fn new(url: impl Into<String>, lobby: impl Into<String>) -> SessionConfig {
        SessionConfig {
            url: url.into(),
            lobby: lobby.into(),
            mesh: true,
            connection: ConnectionConfig::default(),
            extra_channels: Vec::new(),
            unreliable_lifetime: 1,
        }
    }
}

/// What [`MeshSession::poll`] noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// In the lobby, with this id (1 for the lobby's creator).
    Joined {
        /// The lobby's name: give it to the others.
        lobby: String,
        /// This peer's id.
        peer_id: i32,
        /// Full mesh (true) or server/client star (false).
        mesh: bool,
    },
    /// The peer's channels are open: packets flow.
    PeerConnected(i32),
    /// A connected peer is gone.
    PeerDisconnected(i32),
    /// The host sealed the lobby: nobody else will join.
    Sealed,
    /// The signaling connection ended; connected peers stay connected.
    SignalingClosed {
        /// WebSocket close code.
        code: u16,
        /// The server's reason.
        reason: String,
    },
    /// Something went wrong that the session skipped (a bad description from a peer, say).
    Error(String),
}

/// One peer's membership in a lobby and its mesh.
pub struct MeshSession {
    config: SessionConfig,
    runtime: Runtime,
    signaling: Option<SignalingClient>,
    mesh: Option<Mesh>,
    connections: BTreeMap<i32, Connection>,
    lobby: String,
    events: VecDeque<SessionEvent>,
}

impl MeshSession {
    /// Starts connecting to the signaling server; [`SessionEvent::Joined`] follows from `poll`.
    pub fn join(runtime: &Runtime, config: SessionConfig) -> MeshSession {
        let signaling = SignalingClient::connect(&config.url, runtime.tokio_handle());
        MeshSession {
            config,
            runtime: runtime.clone(),
            signaling: Some(signaling),
            mesh: None,
            connections: BTreeMap::new(),
            lobby: String::new(),
            events: VecDeque::new(),
        }
    }

    /// The mesh, once the server has given this peer its id.
    pub fn mesh(&self) -> Option<&Mesh> {
        self.mesh.as_ref()
    }

    /// The mesh, to send and take packets.
    pub fn mesh_mut(&mut self) -> Option<&mut Mesh> {
        self.mesh.as_mut()
    }

    /// The lobby's name, once joined.
    pub fn lobby(&self) -> &str {
        &self.lobby
    }

    /// The connection to a peer announced by the server.
    pub fn connection(&self, peer_id: i32) -> Option<&Connection> {
        self.connections.get(&peer_id)
    }

    /// Asks the server to seal the lobby (host only).
    pub fn seal(&self) {
        if let Some(s) = &self.signaling {
            s.send(&Message::new(MessageType::Seal, 0, ""));
        }
    }

    /// Leaves: closes the signaling connection and every peer connection.
    pub fn leave(&mut self) {
        self.signaling = None;
        if let Some(mesh) = &mut self.mesh {
            mesh.close();
        }
        self.connections.clear();
    }

    /// Moves signaling both ways, polls the mesh, and returns what happened.
    pub fn poll(&mut self) -> Vec<SessionEvent> {
        while let Some(event) = self.signaling.as_ref().and_then(SignalingClient::poll) {
            self.on_signaling(event);
        }
        self.send_local_signaling();
        if let Some(mesh) = &mut self.mesh {
            for event in mesh.poll() {
                match event {
                    MeshEvent::PeerConnected(id) => {
                        self.events.push_back(SessionEvent::PeerConnected(id))
                    }
                    MeshEvent::PeerDisconnected { peer_id, .. } => {
                        self.connections.remove(&peer_id);
                        self.events
                            .push_back(SessionEvent::PeerDisconnected(peer_id));
                    }
                    MeshEvent::PeerFailed { peer_id, reason } => {
                        self.connections.remove(&peer_id);
                        log::warn!("peer {peer_id} never connected ({reason:?}); removed");
                    }
                }
            }
        }
        self.events.drain(..).collect()
    }

    fn on_signaling(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Open => {
                let mode = if self.config.mesh { 0 } else { 1 };
                let join = Message::new(MessageType::Join, mode, self.config.lobby.clone());
                self.send(&join);
            }
            ClientEvent::Message(m) => self.on_message(m),
            ClientEvent::Invalid(text) => self.events.push_back(SessionEvent::Error(format!(
                "unreadable signaling frame {text:?}"
            ))),
            ClientEvent::Closed { code, reason } => {
                self.signaling = None;
                self.events
                    .push_back(SessionEvent::SignalingClosed { code, reason });
            }
        }
    }

    fn on_message(&mut self, m: Message) {
        let peer = i32::try_from(m.id).unwrap_or(0);
        let result = match m.kind {
            MessageType::Id => {
                let extra = &self.config.extra_channels;
                let mesh = if m.data == "true" {
                    Mesh::create_mesh(m.id, extra)
                } else if m.id == 1 {
                    Ok(Mesh::create_server(extra))
                } else {
                    Mesh::create_client(m.id, extra)
                };
                mesh.map(|mesh| self.mesh = Some(mesh))
            }
            MessageType::Join => {
                self.lobby = m.data;
                if let Some(mesh) = &self.mesh {
                    self.events.push_back(SessionEvent::Joined {
                        lobby: self.lobby.clone(),
                        peer_id: mesh.unique_id(),
                        mesh: mesh.mode() == webrtc_mesh_core::MeshMode::Mesh,
                    });
                }
                Ok(())
            }
            MessageType::PeerConnect => self.add_peer(peer),
            MessageType::PeerDisconnect => {
                self.connections.remove(&peer);
                if let Some(Ok(true)) = self.mesh.as_mut().map(|mesh| mesh.remove_peer(peer)) {
                    self.events.push_back(SessionEvent::PeerDisconnected(peer));
                }
                Ok(())
            }
            MessageType::Offer | MessageType::Answer => match self.connections.get(&peer) {
                Some(c) => {
                    let kind = if m.kind == MessageType::Offer {
                        "offer"
                    } else {
                        "answer"
                    };
                    c.set_remote_description(kind, &m.data)
                }
                None => Ok(()),
            },
            MessageType::Candidate => {
                match (self.connections.get(&peer), decode_candidate(&m.data)) {
                    (Some(c), Some((mid, index, sdp))) => {
                        c.add_ice_candidate(&mid, i32::try_from(index).unwrap_or(0), &sdp)
                    }
                    (Some(_), None) => Err(webrtc_mesh_core::Error::InvalidCandidate(
                        "not mid, index and candidate on three lines".into(),
                    )),
                    (None, _) => Ok(()),
                }
            }
            MessageType::Seal => {
                self.events.push_back(SessionEvent::Sealed);
                Ok(())
            }
        };
        if let Err(e) = result {
            self.events.push_back(SessionEvent::Error(format!(
                "{:?} from {}: {e}",
                m.kind, m.id
            )));
        }
    }

    fn add_peer(&mut self, peer: i32) -> webrtc_mesh_core::Result<()> {
        let Some(mesh) = &mut self.mesh else {
            return Ok(());
        };
        // In a star, a client only ever links to the server.
        if mesh.mode() == webrtc_mesh_core::MeshMode::Client && peer != 1 {
            return Ok(());
        }
        let connection = Connection::new(&self.runtime, &self.config.connection)?;
        mesh.add_peer(
            i64::from(peer),
            &connection,
            self.config.unreliable_lifetime,
        )?;
        // The higher id of each pair makes the offer, as in Godot's demo.
        if peer < mesh.unique_id() {
            connection.create_offer()?;
        }
        self.connections.insert(peer, connection);
        Ok(())
    }

    /// Sends each connection's new descriptions and candidates to its peer.
    fn send_local_signaling(&mut self) {
        let mut outgoing = Vec::new();
        for (&peer, connection) in &self.connections {
            while let Some(event) = connection.poll_event() {
                match event {
                    ConnectionEvent::SessionDescription { sdp_type, sdp } => {
                        let kind = if sdp_type.as_str() == "offer" {
                            MessageType::Offer
                        } else {
                            MessageType::Answer
                        };
                        outgoing.push(Message::new(kind, i64::from(peer), sdp));
                    }
                    ConnectionEvent::IceCandidate { media, index, name } => {
                        let data = encode_candidate(&media, i64::from(index), &name);
                        outgoing.push(Message::new(MessageType::Candidate, i64::from(peer), data));
                    }
                    ConnectionEvent::DataChannel(_) => {}
                }
            }
        }
        for message in outgoing {
            self.send(&message);
        }
    }

    fn send(&self, message: &Message) {
        if let Some(s) = &self.signaling {
            s.send(message);
        }
    }
}
