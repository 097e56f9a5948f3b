use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use godot::classes::{INode, MultiplayerPeer, Node, OfflineMultiplayerPeer, WebRtcPeerConnection};
use godot::global::Error as GdError;
use godot::prelude::*;
use webrtc_mesh_core::Runtime;
use webrtc_mesh_signaling::protocol::{decode_candidate, encode_candidate};
use webrtc_mesh_signaling::{ClientEvent, Message, MessageType, SignalingClient};

use crate::errors;
use crate::multiplayer_peer::WebRtcMultiplayerPeerExtension;
use crate::peer_connection::MeshPeerConnection;

/// Descriptions and candidates created by the connections, waiting to go to the server.
type Outbox = Rc<RefCell<VecDeque<(i32, Message)>>>;

/// Joins a lobby on a signaling server and runs the multiplayer mesh it describes.
///
/// It connects to a server speaking the protocol of Godot's WebRTC signaling demo (such as
/// [code]WebRTCSignalingServer[/code] or the [code]webrtc-mesh-signaling[/code] program),
/// creates a [code]WebRTCMultiplayerPeerExtension[/code] in the lobby's mode (full mesh, or
/// server/client with the lobby's creator as server), makes a connection for every peer the
/// server announces, exchanges offers, answers and candidates, and removes peers that leave.
/// With [member assign_multiplayer] (the default) the peer becomes this node's
/// [code]multiplayer.multiplayer_peer[/code] as soon as the server assigns the id.
/// [codeblock]
/// var session := WebRTCMeshSession.new()
/// add_child(session)
/// session.joined.connect(func(lobby, id): print("lobby ", lobby, ", id ", id))
/// session.join("ws://localhost:9080")          # creates a lobby
/// # others: session.join("ws://localhost:9080", lobby_name)
/// [/codeblock]
/// Works while in the scene tree: it polls the signaling connection every frame.
#[derive(GodotClass)]
#[class(base = Node, rename = WebRTCMeshSession)]
pub struct MeshSession {
    base: Base<Node>,
    /// ICE servers for every connection, as in [code]WebRTCPeerConnection.initialize[/code]:
    /// [code][{"urls": ["stun:stun.l.google.com:19302"]}, {"urls": ["turn:host"], "username": "u", "credential": "p"}][/code].
    /// TURN relays over UDP ([code]turn:host[/code]), TCP ([code]turn:host?transport=tcp[/code])
    /// and TLS ([code]turns:host[/code]).
    #[var]
    ice_servers: VarArray,
    /// [code]"all"[/code], or [code]"relay"[/code] to use TURN relays only.
    #[var]
    ice_transport_policy: GString,
    /// Local address for the connections' sockets; empty for every interface.
    #[var]
    bind_address: GString,
    /// Certificate authorities (PEM text) a [code]turns:[/code] relay may be signed by, besides
    /// the system's: for relays with a private CA, e.g.
    /// [code]FileAccess.get_file_as_string("res://relay_ca.crt")[/code].
    #[var]
    tls_ca_certificates: GString,
    /// Extra channels after the three default ones, as in [code]create_mesh[/code].
    #[var]
    channels_config: VarArray,
    /// Whether the multiplayer peer is set as this node's [code]multiplayer.multiplayer_peer[/code]
    /// once the server assigns the id.
    #[var]
    assign_multiplayer: bool,
    client: Option<SignalingClient>,
    runtime: Option<Runtime>,
    peer: Option<Gd<WebRtcMultiplayerPeerExtension>>,
    connections: HashMap<i32, Gd<WebRtcPeerConnection>>,
    outbox: Outbox,
    lobby: GString,
    unique_id: i32,
    create_mesh: bool,
    lobby_to_join: String,
}

#[godot_api]
impl INode for MeshSession {
    fn init(base: Base<Node>) -> Self {
        MeshSession {
            base,
            ice_servers: VarArray::new(),
            ice_transport_policy: "all".into(),
            bind_address: GString::new(),
            tls_ca_certificates: GString::new(),
            channels_config: VarArray::new(),
            assign_multiplayer: true,
            client: None,
            runtime: None,
            peer: None,
            connections: HashMap::new(),
            outbox: Rc::new(RefCell::new(VecDeque::new())),
            lobby: GString::new(),
            unique_id: 0,
            create_mesh: true,
            lobby_to_join: String::new(),
        }
    }

    fn process(&mut self, _delta: f64) {
        self.poll();
    }

    fn exit_tree(&mut self) {
        self.leave();
    }
}

#[godot_api]
impl MeshSession {
    /// In the lobby [code]lobby[/code] with id [code]peer_id[/code] (1 for the lobby's creator).
    /// [member multiplayer_peer] is ready.
    #[signal]
    fn joined(lobby: GString, peer_id: i64);
    /// The server announced a peer; its connection is being set up
    /// ([code]multiplayer.peer_connected[/code] follows once it is open).
    #[signal]
    fn peer_joined(peer_id: i64);
    /// The server reported that a peer left the lobby.
    #[signal]
    fn peer_left(peer_id: i64);
    /// The lobby's host sealed it: nobody else will join.
    #[signal]
    fn sealed();
    /// Something failed: the message says what.
    #[signal]
    fn error(message: GString);
    /// The signaling connection ended with this WebSocket code and reason (for instance
    /// 1000 "Seal complete"). Peers already connected stay connected.
    #[signal]
    fn closed(code: i64, reason: GString);

    /// Connects to the signaling server at [code]url[/code] and joins [code]lobby[/code], or
    /// creates a new lobby when it is empty ([code]mesh[/code] picks its mode: a full mesh, or
    /// a server/client star). [signal joined] follows. Returns [code]ERR_ALREADY_IN_USE[/code]
    /// while a session is active.
    #[func]
    fn join(
        &mut self,
        url: GString,
        #[opt(default = "")] lobby: GString,
        #[opt(default = true)] mesh: bool,
    ) -> GdError {
        const CALL: &str = "WebRTCMeshSession.join";
        if self.client.is_some() || self.peer.is_some() {
            return errors::refuse(
                CALL,
                GdError::ERR_ALREADY_IN_USE,
                "already in a session; call leave() first",
            );
        }
        let url = url.to_string();
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return errors::refuse(
                CALL,
                GdError::ERR_INVALID_PARAMETER,
                &format!("{url:?} is not a ws:// URL"),
            );
        }
        let runtime = match Runtime::shared() {
            Ok(runtime) => runtime,
            Err(e) => return errors::report(CALL, &e),
        };
        self.client = Some(SignalingClient::connect(&url, runtime.tokio_handle()));
        self.runtime = Some(runtime);
        self.lobby_to_join = lobby.to_string();
        self.create_mesh = mesh;
        GdError::OK
    }

    /// Leaves: closes the signaling connection and the multiplayer peer (the others see
    /// [code]peer_disconnected[/code]). When this session had assigned the peer to the
    /// branch's multiplayer, the multiplayer gets an [OfflineMultiplayerPeer] instead, so the
    /// game can keep running (and join again) without sending into a closed peer.
    #[func]
    fn leave(&mut self) {
        self.client = None;
        if let Some(mut peer) = self.peer.take() {
            peer.upcast_mut::<MultiplayerPeer>().close();
            if self.assign_multiplayer
                && let Some(mut multiplayer) = self.base().get_multiplayer()
                && multiplayer
                    .get_multiplayer_peer()
                    .is_some_and(|current| current == peer.clone().upcast::<MultiplayerPeer>())
            {
                multiplayer.set_multiplayer_peer(&OfflineMultiplayerPeer::new_gd());
            }
        }
        self.connections.clear();
        self.outbox.borrow_mut().clear();
        self.lobby = GString::new();
        self.unique_id = 0;
        self.runtime = None;
    }

    /// Asks the server to seal the lobby (host only): no more joins, and the server closes the
    /// signaling connections a few seconds later.
    #[func]
    fn seal(&mut self) {
        if let Some(client) = &self.client {
            client.send(&Message::new(MessageType::Seal, 0, ""));
        }
    }

    /// The multiplayer peer; null until [signal joined].
    #[func]
    fn get_multiplayer_peer(&self) -> Option<Gd<WebRtcMultiplayerPeerExtension>> {
        self.peer.clone()
    }

    /// The lobby's name once joined (give it to the players who should join), else empty.
    #[func]
    fn get_lobby(&self) -> GString {
        self.lobby.clone()
    }

    /// This peer's id once joined, else 0.
    #[func]
    fn get_unique_id(&self) -> i64 {
        i64::from(self.unique_id)
    }

    /// Handles signaling now. Called every frame while in the tree.
    #[func]
    fn poll(&mut self) {
        crate::warnings::show();
        let outgoing: Vec<(i32, Message)> = self.outbox.borrow_mut().drain(..).collect();
        for (_, message) in outgoing {
            self.send(&message);
        }
        while let Some(event) = self.client.as_ref().and_then(SignalingClient::poll) {
            self.on_event(event);
        }
    }
}

impl MeshSession {
    fn send(&self, message: &Message) {
        if let Some(client) = &self.client {
            client.send(message);
        }
    }

    fn fail(&mut self, message: String) {
        godot_error!("WebRTCMeshSession: {message}");
        self.base_mut()
            .emit_signal("error", &[GString::from(message.as_str()).to_variant()]);
    }

    fn on_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Open => {
                let mode = if self.create_mesh { 0 } else { 1 };
                self.send(&Message::new(
                    MessageType::Join,
                    mode,
                    self.lobby_to_join.clone(),
                ));
            }
            ClientEvent::Message(message) => self.on_message(message),
            ClientEvent::Invalid(text) => {
                self.fail(format!("unreadable signaling message {text:?}"))
            }
            ClientEvent::Closed { code, reason } => {
                self.client = None;
                self.base_mut().emit_signal(
                    "closed",
                    &[
                        i64::from(code).to_variant(),
                        GString::from(reason.as_str()).to_variant(),
                    ],
                );
            }
        }
    }

    fn on_message(&mut self, m: Message) {
        let id = i32::try_from(m.id).unwrap_or(0);
        match m.kind {
            MessageType::Id => self.start_peer(id, m.data == "true"),
            MessageType::Join => {
                self.lobby = m.data.as_str().into();
                let args = [
                    self.lobby.to_variant(),
                    i64::from(self.unique_id).to_variant(),
                ];
                self.base_mut().emit_signal("joined", &args);
            }
            MessageType::PeerConnect => self.add_peer(id),
            MessageType::PeerDisconnect => {
                self.connections.remove(&id);
                if let Some(mut peer) = self.peer.clone()
                    && peer.bind().has_peer_id(id)
                {
                    peer.call("remove_peer", &[i64::from(id).to_variant()]);
                }
                self.base_mut()
                    .emit_signal("peer_left", &[i64::from(id).to_variant()]);
            }
            MessageType::Offer | MessageType::Answer => {
                let kind = if m.kind == MessageType::Offer {
                    "offer"
                } else {
                    "answer"
                };
                if let Some(connection) = self.connections.get_mut(&id) {
                    connection.set_remote_description(kind, &m.data);
                }
            }
            MessageType::Candidate => {
                let Some(connection) = self.connections.get_mut(&id) else {
                    return;
                };
                match decode_candidate(&m.data) {
                    Some((mid, index, sdp)) => {
                        connection.add_ice_candidate(&mid, i32::try_from(index).unwrap_or(0), &sdp);
                    }
                    None => self.fail(format!("peer {id} sent a malformed candidate")),
                }
            }
            MessageType::Seal => {
                self.base_mut().emit_signal("sealed", &[]);
            }
        }
    }

    /// The server gave this peer its id: create the multiplayer peer in the lobby's mode.
    fn start_peer(&mut self, id: i32, mesh: bool) {
        let mut peer = WebRtcMultiplayerPeerExtension::new_gd();
        let channels = self.channels_config.to_variant();
        let result = if mesh {
            peer.call("create_mesh", &[i64::from(id).to_variant(), channels])
        } else if id == 1 {
            peer.call("create_server", &[channels])
        } else {
            peer.call("create_client", &[i64::from(id).to_variant(), channels])
        };
        if result.try_to::<GdError>().ok() != Some(GdError::OK) {
            self.fail(format!("could not start the multiplayer peer as {id}"));
            return;
        }
        self.unique_id = id;
        self.peer = Some(peer.clone());
        if self.assign_multiplayer
            && let Some(mut multiplayer) = self.base().get_multiplayer()
        {
            multiplayer.set_multiplayer_peer(&peer.upcast::<MultiplayerPeer>());
        }
    }

    /// The server announced a peer: connect to it (in a star, clients only to the server).
    fn add_peer(&mut self, id: i32) {
        let Some(mut peer) = self.peer.clone() else {
            return;
        };
        if self.unique_id != 1 && id != 1 && !peer.bind().is_mesh() {
            return;
        }
        let mut connection = MeshPeerConnection::new_gd().upcast::<WebRtcPeerConnection>();
        let mut config = VarDictionary::new();
        config.set("iceServers", &self.ice_servers);
        config.set("iceTransportPolicy", &self.ice_transport_policy);
        if !self.bind_address.is_empty() {
            config.set("bindAddress", &self.bind_address);
        }
        if !self.tls_ca_certificates.is_empty() {
            config.set("tlsCaCertificates", &self.tls_ca_certificates);
        }
        if connection.initialize_ex().configuration(&config).done() != GdError::OK {
            self.fail(format!("could not create the connection to peer {id}"));
            return;
        }
        let outbox = self.outbox.clone();
        connection.connect(
            "session_description_created",
            &Callable::from_fn("send_description", move |args: &[&Variant]| {
                let kind = args.first().map(|v| v.to_string()).unwrap_or_default();
                let sdp = args.get(1).map(|v| v.to_string()).unwrap_or_default();
                let kind = if kind == "offer" {
                    MessageType::Offer
                } else {
                    MessageType::Answer
                };
                outbox
                    .borrow_mut()
                    .push_back((id, Message::new(kind, i64::from(id), sdp)));
            }),
        );
        let outbox = self.outbox.clone();
        connection.connect(
            "ice_candidate_created",
            &Callable::from_fn("send_candidate", move |args: &[&Variant]| {
                let mid = args.first().map(|v| v.to_string()).unwrap_or_default();
                let index = args
                    .get(1)
                    .and_then(|v| v.try_to::<i64>().ok())
                    .unwrap_or(0);
                let name = args.get(2).map(|v| v.to_string()).unwrap_or_default();
                let data = encode_candidate(&mid, index, &name);
                outbox.borrow_mut().push_back((
                    id,
                    Message::new(MessageType::Candidate, i64::from(id), data),
                ));
            }),
        );
        let added = peer.call(
            "add_peer",
            &[connection.to_variant(), i64::from(id).to_variant()],
        );
        if added.try_to::<GdError>().ok() != Some(GdError::OK) {
            self.fail(format!("could not add peer {id}"));
            return;
        }
        // The higher id of each pair makes the offer, as in Godot's demo.
        if id < self.unique_id {
            let made = connection.create_offer();
            if made != GdError::OK {
                // The peer would wait for an offer that never comes; the backend has already
                // said why.
                self.fail(format!("could not make an offer for peer {id}: {made:?}"));
            }
        }
        self.connections.insert(id, connection);
        self.base_mut()
            .emit_signal("peer_joined", &[i64::from(id).to_variant()]);
    }
}
