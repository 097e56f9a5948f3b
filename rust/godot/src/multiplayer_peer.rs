use std::cell::RefCell;
use std::time::Duration;

use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode as GdTransferMode};
use godot::classes::{
    IMultiplayerPeerExtension, MultiplayerPeerExtension, WebRtcDataChannel, WebRtcPeerConnection,
};
use godot::global::{Error as GdError, godot_warn};
use godot::meta::GodotImmutable;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use webrtc_mesh_core::{
    DisconnectReason, Error, MAX_MESSAGE_SIZE, Mesh, MeshEvent, MeshMode, MeshStatus, TransferMode,
};

use crate::data_channel::MeshDataChannel;
use crate::errors;
use crate::peer_connection::MeshPeerConnection;
use crate::raw_packet;

/// The Godot objects that stand for one peer.
struct PeerObjects {
    connection: Gd<WebRtcPeerConnection>,
    channels: Array<Gd<WebRtcDataChannel>>,
}

/// A `MultiplayerPeer` that connects players with WebRTC: a full mesh (`create_mesh`) or a
/// server/client star (`create_server`, `create_client`).
///
/// Its API is that of Godot's `WebRTCMultiplayerPeer`, so existing code switches by changing the
/// class name; peers come from `WebRTCPeerConnection.new()` and your signaling exchanges their
/// offers, answers and ICE candidates. Beyond the built-in peer it:
/// - really applies `unreliable_lifetime` to the unreliable channels;
/// - refuses a second `add_peer` with an id already in use (`ERR_ALREADY_EXISTS`);
/// - skips peers whose channels are not open yet when broadcasting;
/// - drops a peer after `peer_timeout` seconds of silence (5 by default, like ENet's peer
///   timeout), so a killed peer is reported quickly and a shorter outage is survived;
/// - makes a client whose link to the server fails before opening go to `CONNECTION_DISCONNECTED`,
///   so `connection_failed` fires;
/// - closes every connection on `close()`, so the other players see `peer_disconnected` at once;
/// - reports link statistics with `get_peer_stats`;
/// - bounds what a peer can make it hold: unread packets count against a receive budget
///   (project settings `network/webrtc_mesh/receive_budget_kib`, 4 MiB per peer, and
///   `total_receive_budget_kib`, 64 MiB in all), past which reliable channels hold the sender
///   back and unreliable ones drop their oldest packets; channels a peer opens in-band are
///   closed at once.
#[derive(GodotClass)]
#[class(tool, base = MultiplayerPeerExtension, rename = WebRTCMultiplayerPeerExtension)]
pub struct WebRtcMultiplayerPeerExtension {
    base: Base<MultiplayerPeerExtension>,
    // In a cell because Godot asks for the next packet's peer, channel and mode through `&self`
    // methods, and answering means taking the packet out of its queue.
    mesh: RefCell<Option<Mesh>>,
    peers: Vec<(i32, PeerObjects)>,
    transfer_mode: GdTransferMode,
    transfer_channel: i32,
    target_peer: i32,
    refuse_new: bool,
    /// Seconds a connected peer may stay silent (nothing received from it, keepalives included)
    /// before it is removed and `peer_disconnected` fires: a killed peer is reported within this,
    /// and an outage shorter than it is survived. Keepalives arrive every second.
    #[var(get = get_peer_timeout, set = set_peer_timeout)]
    peer_timeout: f64,
    /// Network conditions applied to what every peer's connection sends, to play the game on a
    /// bad link without another plugin: `{"delay_ms": 75, "jitter_ms": 10, "loss": 0.03,
    /// "loss_burst": 1, "duplicate": 0.0, "bandwidth": 0, "outages": [[start_s, length_s]],
    /// "seed": 0}` (every key optional; `loss` and `duplicate` are shares from 0 to 1,
    /// `bandwidth` bytes a second, 0 for no cap). They apply to one direction: each instance
    /// delays what it sends, so two instances at 75 ms make a 150 ms round trip. Setting it
    /// changes current peers at once and applies to peers added later; `{}` turns it off.
    /// The project settings under `network/webrtc_mesh/simulate/` set every connection's
    /// default.
    #[var(get = get_network_conditions, set = set_network_conditions)]
    network_conditions: VarDictionary,
}

fn transfer_mode(mode: GdTransferMode) -> TransferMode {
    TransferMode::from_i32(mode.ord()).unwrap_or(TransferMode::Reliable)
}

/// `channels_config` as GDScript passes it: an untyped `Array`, as in Godot's own
/// `WebRTCMultiplayerPeer`, so entries are checked here rather than by a typed conversion.
#[derive(GodotConvert, Clone, Debug)]
#[godot(transparent)]
pub struct ChannelsConfig(VarArray);

// SAFETY: the only value used as a default is an empty array made read-only below; cloning it
// only bumps Godot's atomic reference count.
unsafe impl GodotImmutable for ChannelsConfig {
    fn into_runtime_immutable(self) -> Self {
        ChannelsConfig(self.0.into_read_only())
    }
}

fn no_channels() -> ChannelsConfig {
    ChannelsConfig(VarArray::new())
}

/// `channels_config` as transfer modes; any entry that is not a valid mode is refused.
fn channel_modes(config: &ChannelsConfig) -> Result<Vec<TransferMode>, String> {
    config
        .0
        .iter_shared()
        .enumerate()
        .map(|(i, v)| {
            v.try_to::<i64>()
                .ok()
                .and_then(|m| i32::try_from(m).ok())
                .and_then(TransferMode::from_i32)
                .ok_or_else(|| {
                    format!("channels_config[{i}] is {v}; each entry must be a MultiplayerPeer.TransferMode")
                })
        })
        .collect()
}

#[godot_api]
impl IMultiplayerPeerExtension for WebRtcMultiplayerPeerExtension {
    fn init(base: Base<MultiplayerPeerExtension>) -> Self {
        WebRtcMultiplayerPeerExtension {
            base,
            mesh: RefCell::new(None),
            peers: Vec::new(),
            transfer_mode: GdTransferMode::RELIABLE,
            transfer_channel: 0,
            target_peer: 0,
            refuse_new: false,
            peer_timeout: webrtc_mesh_core::DEFAULT_PEER_TIMEOUT.as_secs_f64(),
            network_conditions: VarDictionary::new(),
        }
    }

    fn get_available_packet_count(&self) -> i32 {
        self.mesh
            .borrow()
            .as_ref()
            .map_or(0, |m| m.available_packet_count() as i32)
    }

    fn get_max_packet_size(&self) -> i32 {
        MAX_MESSAGE_SIZE as i32
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> GdError {
        let mut mesh = self.mesh.borrow_mut();
        let Some(packet) = mesh.as_mut().and_then(Mesh::take_packet) else {
            return errors::refuse(
                "MultiplayerPeer.get_packet",
                GdError::ERR_UNAVAILABLE,
                "no packet is waiting",
            );
        };
        // SAFETY: Godot's own out-pointers; the bytes stay put until the next `get_packet`.
        unsafe { raw_packet::hand_out(r_buffer, r_buffer_size, &packet.data) };
        GdError::OK
    }

    unsafe fn put_packet_rawptr(
        &mut self,
        p_buffer: RawPtr<*const u8>,
        p_buffer_size: i32,
    ) -> GdError {
        const CALL: &str = "MultiplayerPeer.put_packet";
        let mut mesh = self.mesh.borrow_mut();
        let Some(mesh) = mesh
            .as_mut()
            .filter(|m| m.status() != MeshStatus::Disconnected)
        else {
            return errors::refuse(CALL, GdError::ERR_UNCONFIGURED, "the peer is not connected");
        };
        // SAFETY: Godot's own buffer, used only during this call.
        let data = unsafe { raw_packet::taken_in(p_buffer, p_buffer_size) };
        let mode = transfer_mode(self.transfer_mode);
        match mesh.send(self.target_peer, self.transfer_channel, mode, data) {
            Ok(()) => GdError::OK,
            // Godot's contract: a target that cannot take the packet is an invalid parameter.
            Err(e @ (Error::InvalidChannel(_) | Error::UnknownPeer(_))) => {
                errors::report(CALL, &e);
                GdError::ERR_INVALID_PARAMETER
            }
            Err(e) => errors::report(CALL, &e),
        }
    }

    fn get_packet_channel(&self) -> i32 {
        self.peek(|p| p.godot_channel()).unwrap_or(0)
    }

    fn get_packet_mode(&self) -> GdTransferMode {
        self.peek(|p| GdTransferMode::from_ord(p.mode as i32))
            .unwrap_or(GdTransferMode::RELIABLE)
    }

    fn get_packet_peer(&self) -> i32 {
        self.peek(|p| p.peer_id).unwrap_or(0)
    }

    fn set_transfer_channel(&mut self, p_channel: i32) {
        self.transfer_channel = p_channel;
    }

    fn get_transfer_channel(&self) -> i32 {
        self.transfer_channel
    }

    fn set_transfer_mode(&mut self, p_mode: GdTransferMode) {
        self.transfer_mode = p_mode;
    }

    fn get_transfer_mode(&self) -> GdTransferMode {
        self.transfer_mode
    }

    fn set_target_peer(&mut self, p_peer: i32) {
        self.target_peer = p_peer;
    }

    fn is_server(&self) -> bool {
        self.get_unique_id() == webrtc_mesh_core::SERVER_ID
    }

    fn poll(&mut self) {
        crate::warnings::show();
        // Connections first: their signals (descriptions, candidates) fire here, on this thread.
        // The guard lets those handlers call back into this object.
        let connections: Vec<Gd<WebRtcPeerConnection>> = self
            .peers
            .iter()
            .map(|(_, p)| p.connection.clone())
            .collect();
        {
            let _reentrant = self.base_mut();
            for mut connection in connections {
                connection.poll();
            }
        }
        let events = match self.mesh.borrow_mut().as_mut() {
            Some(mesh) => mesh.poll(),
            None => return,
        };
        for event in events {
            match event {
                MeshEvent::PeerConnected(id) => {
                    self.base_mut()
                        .emit_signal("peer_connected", &[i64::from(id).to_variant()]);
                }
                MeshEvent::PeerDisconnected { peer_id, .. } => {
                    self.forget(peer_id);
                    self.base_mut()
                        .emit_signal("peer_disconnected", &[i64::from(peer_id).to_variant()]);
                }
                MeshEvent::PeerFailed { peer_id, reason } => {
                    self.forget(peer_id);
                    godot_warn!(
                        "webrtc_mesh: peer {peer_id} never connected ({}); it was removed",
                        match reason {
                            DisconnectReason::Failed => "its connection failed or timed out",
                            DisconnectReason::TimedOut => "its link stayed disconnected",
                            DisconnectReason::Closed => "its connection closed",
                            DisconnectReason::Local => "disconnected here",
                        }
                    );
                }
            }
        }
        // Peers the mesh dropped without a report (never connected) go too.
        let known: Vec<i32> = self.peers.iter().map(|(id, _)| *id).collect();
        for id in known {
            if !self.mesh.borrow().as_ref().is_some_and(|m| m.has_peer(id)) {
                self.forget(id);
            }
        }
    }

    fn close(&mut self) {
        if let Some(mesh) = self.mesh.borrow_mut().as_mut() {
            mesh.close();
        }
        self.peers.clear();
    }

    fn disconnect_peer(&mut self, p_peer: i32, p_force: bool) {
        let result = match self.mesh.borrow_mut().as_mut() {
            Some(mesh) => mesh.disconnect_peer(p_peer, p_force),
            None => Err(Error::UnknownPeer(p_peer)),
        };
        match result {
            Ok(()) if p_force => self.forget(p_peer),
            Ok(()) => {}
            Err(e) => {
                errors::report("MultiplayerPeer.disconnect_peer", &e);
            }
        }
    }

    fn get_unique_id(&self) -> i32 {
        self.mesh.borrow().as_ref().map_or(0, Mesh::unique_id)
    }

    fn set_refuse_new_connections(&mut self, p_enable: bool) {
        self.refuse_new = p_enable;
        if let Some(mesh) = self.mesh.borrow_mut().as_mut() {
            mesh.set_refuse_new_connections(p_enable);
        }
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.refuse_new
    }

    fn is_server_relay_supported(&self) -> bool {
        self.mesh
            .borrow()
            .as_ref()
            .is_some_and(|m| m.mode() != MeshMode::Mesh)
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        let status = self
            .mesh
            .borrow()
            .as_ref()
            .map_or(MeshStatus::Disconnected, Mesh::status);
        ConnectionStatus::from_ord(status as i32)
    }
}

#[godot_api]
impl WebRtcMultiplayerPeerExtension {
    /// Starts as the server (id 1) of a server/client star; connected at once.
    /// `channels_config` adds channels after the three default ones, one
    /// `MultiplayerPeer.TransferMode` each; use them with `transfer_channel` 1, 2, ...
    #[func]
    fn create_server(
        &mut self,
        #[opt(default = &no_channels())] channels_config: ChannelsConfig,
    ) -> GdError {
        self.create("create_server", &channels_config, |extra| {
            Ok(Mesh::create_server(extra))
        })
    }

    /// Starts as a client with id `peer_id` (2 to 2147483647) of a server/client star.
    /// The status stays `CONNECTION_CONNECTING` until the server's channels are open.
    #[func]
    fn create_client(
        &mut self,
        peer_id: i64,
        #[opt(default = &no_channels())] channels_config: ChannelsConfig,
    ) -> GdError {
        self.create("create_client", &channels_config, |extra| {
            Mesh::create_client(peer_id, extra)
        })
    }

    /// Starts as a member of a full mesh with id `peer_id` (1 to 2147483647); connected at once.
    #[func]
    fn create_mesh(
        &mut self,
        peer_id: i64,
        #[opt(default = &no_channels())] channels_config: ChannelsConfig,
    ) -> GdError {
        self.create("create_mesh", &channels_config, |extra| {
            Mesh::create_mesh(peer_id, extra)
        })
    }

    /// Adds the remote peer `peer_id` on `peer`, a new `WebRTCPeerConnection` of this backend,
    /// and creates the channels on it. Your signaling then exchanges the offer, answer and
    /// candidates; the peer is reported by `peer_connected` once all its channels are open.
    /// `unreliable_lifetime` is the time, in milliseconds, unreliable packets are retried.
    #[func]
    fn add_peer(
        &mut self,
        peer: Option<Gd<WebRtcPeerConnection>>,
        peer_id: i64,
        #[opt(default = 1)] unreliable_lifetime: i64,
    ) -> GdError {
        const CALL: &str = "WebRTCMultiplayerPeerExtension.add_peer";
        let mut mesh_cell = self.mesh.borrow_mut();
        let Some(mesh) = mesh_cell.as_mut() else {
            return errors::refuse(
                CALL,
                GdError::ERR_UNCONFIGURED,
                "call create_server, create_client or create_mesh first",
            );
        };
        let id = match mesh.check_new_peer(peer_id, unreliable_lifetime) {
            Ok(id) => id,
            Err(e @ Error::InvalidState(_)) => {
                errors::report(CALL, &e);
                return GdError::ERR_UNCONFIGURED;
            }
            Err(e) => return errors::report(CALL, &e),
        };
        let Some(peer) = peer else {
            return errors::refuse(CALL, GdError::ERR_INVALID_PARAMETER, "peer is null");
        };
        let Ok(mut ours) = peer.clone().try_cast::<MeshPeerConnection>() else {
            return errors::refuse(
                CALL,
                GdError::ERR_INVALID_PARAMETER,
                "peer comes from another WebRTC backend; create it with WebRTCPeerConnection.new() while webrtc_mesh is the default backend",
            );
        };
        let connection = match ours.bind_mut().core() {
            Ok(connection) => connection,
            Err(Error::Closed) => {
                return errors::refuse(
                    CALL,
                    GdError::ERR_INVALID_PARAMETER,
                    "the connection is closed; add_peer needs a new one",
                );
            }
            Err(e) => return errors::report(CALL, &e),
        };
        if !self.network_conditions.is_empty() {
            let applied = crate::config::network_conditions(&self.network_conditions)
                .and_then(|conditions| connection.set_network_conditions(&conditions));
            if let Err(e) = applied {
                return errors::report(CALL, &e);
            }
        }
        if let Err(e) = mesh.add_peer(i64::from(id), &connection, unreliable_lifetime) {
            return errors::report(CALL, &e);
        }
        let mut channels = Array::new();
        for channel in mesh.peer_channels(id).unwrap_or_default() {
            channels.push(&MeshDataChannel::wrap(channel.clone()).upcast::<WebRtcDataChannel>());
        }
        drop(mesh_cell);
        self.peers.push((
            id,
            PeerObjects {
                connection: peer,
                channels,
            },
        ));
        GdError::OK
    }

    /// Removes a peer and closes its connection; emits `peer_disconnected` if it was connected.
    #[func]
    fn remove_peer(&mut self, peer_id: i64) {
        let id = i32::try_from(peer_id).unwrap_or(0);
        let result = match self.mesh.borrow_mut().as_mut() {
            Some(mesh) => mesh.remove_peer(id),
            None => Err(Error::UnknownPeer(id)),
        };
        match result {
            Ok(was_connected) => {
                self.forget(id);
                if was_connected {
                    self.base_mut()
                        .emit_signal("peer_disconnected", &[peer_id.to_variant()]);
                }
            }
            Err(e) => {
                errors::report("WebRTCMultiplayerPeerExtension.remove_peer", &e);
            }
        }
    }

    /// Whether a peer with this id was added and not removed.
    #[func]
    fn has_peer(&self, peer_id: i64) -> bool {
        self.find(peer_id).is_some()
    }

    /// `{"connection": WebRTCPeerConnection, "channels": [WebRTCDataChannel, ...], "connected": bool}`
    /// for this peer; an empty Dictionary (and an error) for an unknown id.
    #[func]
    fn get_peer(&self, peer_id: i64) -> VarDictionary {
        match self.find(peer_id) {
            Some((id, objects)) => self.peer_dictionary(*id, objects),
            None => {
                errors::report(
                    "WebRTCMultiplayerPeerExtension.get_peer",
                    &Error::UnknownPeer(peer_id as i32),
                );
                VarDictionary::new()
            }
        }
    }

    /// Every peer, id -> the Dictionary `get_peer` returns.
    #[func]
    fn get_peers(&self) -> VarDictionary {
        let mut peers = VarDictionary::new();
        for (id, objects) in &self.peers {
            peers.set(i64::from(*id), &self.peer_dictionary(*id, objects));
        }
        peers
    }

    /// Link statistics of a peer: `round_trip_time` (seconds, -1 until measured),
    /// `bytes_sent`, `bytes_received`, `packets_sent`, `packets_received` (datagrams on the
    /// selected ICE candidate pair), `messages_sent`, `messages_received` (packets of all
    /// channels), `unreliable_packets_dropped` (unreliable packets this side discarded: sends
    /// that met a full send buffer and received packets pushed out of a full receive queue;
    /// packets SCTP abandons in flight when their lifetime runs out are not counted),
    /// `buffered_amount` (bytes not yet acknowledged), `local_candidate_type` and
    /// `remote_candidate_type` (`"host"`, `"srflx"`, `"prflx"`, `"relay"` or `""`) and
    /// `connection_state` (a `WebRTCPeerConnection.ConnectionState`).
    #[func]
    fn get_peer_stats(&self, peer_id: i64) -> VarDictionary {
        const CALL: &str = "WebRTCMultiplayerPeerExtension.get_peer_stats";
        let id = i32::try_from(peer_id).unwrap_or(0);
        let mesh = self.mesh.borrow();
        let Some((connection, channels)) = mesh
            .as_ref()
            .and_then(|m| Some((m.peer_connection(id)?, m.peer_channels(id)?)))
        else {
            errors::report(CALL, &Error::UnknownPeer(id));
            return VarDictionary::new();
        };
        let stats = match connection.stats() {
            Ok(stats) => stats,
            Err(e) => {
                errors::report(CALL, &e);
                return VarDictionary::new();
            }
        };
        let (mut messages_sent, mut messages_received, mut buffered) = (0u64, 0u64, 0usize);
        let mut dropped = 0u64;
        for channel in channels {
            let traffic = channel.traffic();
            messages_sent += traffic.messages_sent;
            messages_received += traffic.messages_received;
            dropped += channel.dropped();
            buffered += channel.buffered_amount();
        }
        let kind = |c: Option<webrtc_mesh_core::CandidateType>| c.map_or("", |c| c.as_str());
        let mut d = VarDictionary::new();
        d.set(
            "round_trip_time",
            stats.round_trip_time.map_or(-1.0, |t| t.as_secs_f64()),
        );
        d.set("bytes_sent", stats.bytes_sent as i64);
        d.set("bytes_received", stats.bytes_received as i64);
        d.set("packets_sent", stats.packets_sent as i64);
        d.set("packets_received", stats.packets_received as i64);
        d.set("messages_sent", messages_sent as i64);
        d.set("messages_received", messages_received as i64);
        d.set("unreliable_packets_dropped", dropped as i64);
        d.set("buffered_amount", buffered as i64);
        d.set("local_candidate_type", kind(stats.local_candidate));
        d.set("remote_candidate_type", kind(stats.remote_candidate));
        d.set("connection_state", stats.state as i64);
        d
    }

    /// Getter of [member network_conditions].
    #[func]
    fn get_network_conditions(&self) -> VarDictionary {
        self.network_conditions.clone()
    }

    /// Setter of [member network_conditions]. Unknown keys or values out of range are refused
    /// with an error, and the conditions in force stay.
    #[func]
    fn set_network_conditions(&mut self, conditions: VarDictionary) {
        const CALL: &str = "WebRTCMultiplayerPeerExtension.network_conditions";
        let parsed = match crate::config::network_conditions(&conditions) {
            Ok(parsed) => parsed,
            Err(e) => {
                errors::report(CALL, &e);
                return;
            }
        };
        if let Some(mesh) = self.mesh.borrow().as_ref() {
            for id in mesh.peer_ids().collect::<Vec<_>>() {
                if let Some(connection) = mesh.peer_connection(id)
                    && let Err(e) = connection.set_network_conditions(&parsed)
                {
                    errors::report(CALL, &e);
                    return;
                }
            }
        }
        self.network_conditions = conditions;
    }

    /// Getter of [member peer_timeout].
    #[func]
    fn get_peer_timeout(&self) -> f64 {
        self.peer_timeout
    }

    /// Setter of [member peer_timeout]; values below 0.1 s (or not finite) are raised to it.
    #[func]
    fn set_peer_timeout(&mut self, seconds: f64) {
        self.peer_timeout = if seconds.is_finite() {
            seconds.clamp(0.1, 86_400.0)
        } else {
            0.1
        };
        if let Some(mesh) = self.mesh.borrow_mut().as_mut() {
            mesh.set_peer_timeout(Duration::from_secs_f64(self.peer_timeout));
        }
    }
}

impl WebRtcMultiplayerPeerExtension {
    fn create(
        &mut self,
        call: &str,
        channels_config: &ChannelsConfig,
        make: impl FnOnce(&[TransferMode]) -> webrtc_mesh_core::Result<Mesh>,
    ) -> GdError {
        let call = format!("WebRTCMultiplayerPeerExtension.{call}");
        let extra = match channel_modes(channels_config) {
            Ok(extra) => extra,
            Err(why) => return errors::refuse(&call, GdError::ERR_INVALID_PARAMETER, &why),
        };
        let mut mesh = match make(&extra) {
            Ok(mesh) => mesh,
            Err(e) => return errors::report(&call, &e),
        };
        mesh.set_refuse_new_connections(self.refuse_new);
        mesh.set_peer_timeout(Duration::from_secs_f64(self.peer_timeout));
        // Starting again replaces the previous session, closing its connections.
        if let Some(mut old) = self.mesh.replace(Some(mesh)) {
            old.close();
        }
        self.peers.clear();
        GdError::OK
    }

    fn peek<T>(&self, f: impl FnOnce(&webrtc_mesh_core::Packet) -> T) -> Option<T> {
        self.mesh.borrow_mut().as_mut()?.peek_packet().map(f)
    }

    /// Whether a peer with this id was added (for the session, without a Godot call).
    pub(crate) fn has_peer_id(&self, peer_id: i32) -> bool {
        self.find(i64::from(peer_id)).is_some()
    }

    /// Whether it runs as a full mesh.
    pub(crate) fn is_mesh(&self) -> bool {
        self.mesh
            .borrow()
            .as_ref()
            .is_some_and(|m| m.mode() == MeshMode::Mesh)
    }

    fn find(&self, peer_id: i64) -> Option<&(i32, PeerObjects)> {
        self.peers.iter().find(|(id, _)| i64::from(*id) == peer_id)
    }

    fn forget(&mut self, peer_id: i32) {
        self.peers.retain(|(id, _)| *id != peer_id);
    }

    fn peer_dictionary(&self, id: i32, objects: &PeerObjects) -> VarDictionary {
        let connected = self
            .mesh
            .borrow()
            .as_ref()
            .is_some_and(|m| m.is_peer_connected(id));
        let mut d = VarDictionary::new();
        d.set("connection", &objects.connection);
        d.set("channels", &objects.channels);
        d.set("connected", connected);
        d
    }
}
