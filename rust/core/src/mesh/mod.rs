//! Godot's multiplayer semantics over a set of connections: peers keyed by id, Godot's exact
//! channel layout, round-robin receive, and connect/disconnect detection in `poll`.

use std::time::Duration;

use bytes::BytesMut;

use crate::channel::DataChannel;
use crate::config::MAX_MESSAGE_SIZE;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::state::{ChannelState, ConnectionState, MeshStatus, TransferMode};

mod layout;

pub use layout::{ChannelSpec, godot_channel_layout, godot_channel_of_index};

/// Largest peer id Godot allows (2^31 - 1).
pub const MAX_PEER_ID: i32 = i32::MAX;

/// Id of the server in server/client mode.
pub const SERVER_ID: i32 = 1;

/// How long a connected peer may stay silent (nothing at all received from it) before it is
/// removed as timed out: a killed peer is reported within this, and an outage shorter than it is
/// survived. Keepalives arrive every second, so a few lost ones never reach it.
pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// How the mesh was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshMode {
    /// Id 1; clients connect to it (`create_server`).
    Server,
    /// Connects to the server, id 1, only (`create_client`).
    Client,
    /// Every peer connects to every other (`create_mesh`).
    Mesh,
}

/// A received packet with where it came from.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Sender's peer id.
    pub peer_id: i32,
    /// Index in the channel layout (0..3 default channels, 3+ extra ones).
    pub channel_index: usize,
    /// Transfer mode of that channel.
    pub mode: TransferMode,
    /// Payload.
    pub data: BytesMut,
}

impl Packet {
    /// Channel number as Godot reports it (`get_packet_channel`).
    pub fn godot_channel(&self) -> i32 {
        godot_channel_of_index(self.channel_index)
    }
}

/// Why a peer left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The remote end closed the connection or one of its channels.
    Closed,
    /// ICE failed.
    Failed,
    /// Nothing arrived from the peer for longer than the peer timeout.
    TimedOut,
    /// Closed locally with `disconnect_peer`.
    Local,
}

/// What `poll` noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshEvent {
    /// All channels of this peer are open; packets flow.
    PeerConnected(i32),
    /// This peer, which had been connected, is gone.
    PeerDisconnected {
        /// Its id.
        peer_id: i32,
        /// Why.
        reason: DisconnectReason,
    },
    /// This peer never connected and is gone: its connection failed (ICE, or not connected
    /// within its connect timeout). Godot has no signal for it; the peer is removed. A peer
    /// whose connection is closed before it connected goes without a report.
    PeerFailed {
        /// Its id.
        peer_id: i32,
        /// Why.
        reason: DisconnectReason,
    },
}

struct Peer {
    id: i32,
    connection: Connection,
    channels: Vec<DataChannel>,
    connected: bool,
    closed_locally: bool,
}

/// A set of peers with Godot's `WebRTCMultiplayerPeer` behaviour. Driven from one thread: the
/// game calls [`poll`](Mesh::poll) every frame and reads packets in between.
pub struct Mesh {
    mode: MeshMode,
    unique_id: i32,
    status: MeshStatus,
    layout_modes: Vec<TransferMode>,
    extra: Vec<TransferMode>,
    peers: Vec<Peer>,
    // Index of the peer whose packets are read first next time (round-robin).
    next_reader: usize,
    staged: Option<Packet>,
    current: Option<Packet>,
    refuse_new: bool,
    peer_timeout: Duration,
}

fn check_id(id: i64) -> Result<i32> {
    if (1..=i64::from(MAX_PEER_ID)).contains(&id) {
        Ok(id as i32)
    } else {
        Err(Error::InvalidParameter(format!(
            "peer id {id} is outside 1..={MAX_PEER_ID}"
        )))
    }
}

impl Mesh {
    fn new(mode: MeshMode, unique_id: i32, status: MeshStatus, extra: &[TransferMode]) -> Mesh {
        Mesh {
            mode,
            unique_id,
            status,
            layout_modes: godot_channel_layout(1, extra)
                .into_iter()
                .map(|s| s.mode)
                .collect(),
            extra: extra.to_vec(),
            peers: Vec::new(),
            next_reader: 0,
            staged: None,
            current: None,
            refuse_new: false,
            peer_timeout: DEFAULT_PEER_TIMEOUT,
        }
    }

    /// A server: id 1, connected at once (`create_server`).
    pub fn create_server(extra: &[TransferMode]) -> Mesh {
        Mesh::new(MeshMode::Server, SERVER_ID, MeshStatus::Connected, extra)
    }

    /// A client with this id, connecting until the server's channels are open (`create_client`).
    pub fn create_client(peer_id: i64, extra: &[TransferMode]) -> Result<Mesh> {
        let id = check_id(peer_id)?;
        if id == SERVER_ID {
            return Err(Error::InvalidParameter(
                "a client cannot take id 1, the server's".into(),
            ));
        }
        Ok(Mesh::new(
            MeshMode::Client,
            id,
            MeshStatus::Connecting,
            extra,
        ))
    }

    /// A full-mesh member with this id, connected at once (`create_mesh`).
    pub fn create_mesh(peer_id: i64, extra: &[TransferMode]) -> Result<Mesh> {
        let id = check_id(peer_id)?;
        Ok(Mesh::new(MeshMode::Mesh, id, MeshStatus::Connected, extra))
    }

    /// How the mesh was created.
    pub fn mode(&self) -> MeshMode {
        self.mode
    }

    /// Own id; 0 after [`close`](Self::close).
    pub fn unique_id(&self) -> i32 {
        self.unique_id
    }

    /// Connection status as `MultiplayerPeer.get_connection_status` reports it.
    pub fn status(&self) -> MeshStatus {
        self.status
    }

    /// Number of channels per peer: 3 plus the extra ones.
    pub fn channel_count(&self) -> usize {
        self.layout_modes.len()
    }

    /// Extra channels' modes, as given at creation.
    pub fn extra_channels(&self) -> &[TransferMode] {
        &self.extra
    }

    /// Largest packet `send` accepts.
    pub fn max_packet_size(&self) -> usize {
        MAX_MESSAGE_SIZE
    }

    /// Refuse (`true`) or accept new peers in [`add_peer`](Self::add_peer).
    pub fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.refuse_new = refuse;
    }

    /// Whether new peers are refused.
    pub fn is_refusing_new_connections(&self) -> bool {
        self.refuse_new
    }

    /// How long a connected peer may stay silent before it is removed as timed out (like
    /// ENet's peer timeout); [`DEFAULT_PEER_TIMEOUT`] by default. An ICE link that fails
    /// (`ConnectionConfig::ice_failed_timeout` after it went quiet) removes the peer sooner.
    pub fn set_peer_timeout(&mut self, timeout: Duration) {
        self.peer_timeout = timeout;
    }

    /// The timeout of [`set_peer_timeout`](Self::set_peer_timeout).
    pub fn peer_timeout(&self) -> Duration {
        self.peer_timeout
    }

    /// The checks of [`add_peer`](Self::add_peer) that do not need the connection, in Godot's
    /// order: mesh closed, client adding another id than 1, server adding id 1, id out of range,
    /// negative lifetime, new peers refused. Returns the id.
    pub fn check_new_peer(&self, peer_id: i64, unreliable_lifetime: i64) -> Result<i32> {
        if self.status == MeshStatus::Disconnected {
            return Err(Error::InvalidState("the mesh is closed".into()));
        }
        if self.mode == MeshMode::Client && peer_id != i64::from(SERVER_ID) {
            return Err(Error::InvalidParameter(
                "a client can only add the server, id 1".into(),
            ));
        }
        if self.mode == MeshMode::Server && peer_id == i64::from(SERVER_ID) {
            return Err(Error::InvalidParameter(
                "the server is id 1 itself; clients need other ids".into(),
            ));
        }
        let id = check_id(peer_id)?;
        if unreliable_lifetime < 0 {
            return Err(Error::InvalidParameter(format!(
                "unreliable_lifetime {unreliable_lifetime} is negative"
            )));
        }
        if self.refuse_new {
            return Err(Error::Refused);
        }
        Ok(id)
    }

    /// Adds a peer on a fresh connection and creates Godot's channels on it. It never creates an
    /// offer: the caller's signaling does. Checks in Godot's order, then refuses a duplicate id
    /// (where Godot's built-in silently replaces the old connection).
    pub fn add_peer(
        &mut self,
        peer_id: i64,
        connection: &Connection,
        unreliable_lifetime: i64,
    ) -> Result<()> {
        let id = self.check_new_peer(peer_id, unreliable_lifetime)?;
        if connection.connection_state() != ConnectionState::New {
            return Err(Error::InvalidParameter(
                "the connection must be new (not yet connecting)".into(),
            ));
        }
        if self.has_peer(id) {
            return Err(Error::PeerExists(id));
        }
        if self.peers.iter().any(|p| p.connection.same(connection)) {
            return Err(Error::InvalidParameter(
                "this connection already belongs to another peer".into(),
            ));
        }
        let lifetime = unreliable_lifetime.min(i64::from(u16::MAX)) as u16;
        let channels = godot_channel_layout(lifetime, &self.extra)
            .iter()
            .map(|spec| connection.create_data_channel(&spec.label, &spec.options))
            .collect::<Result<Vec<_>>>()?;
        // Every channel of the layout is negotiated; one the peer opens in-band is nobody's to
        // read and would only hold the connection's receive budget.
        connection.refuse_remote_channels();
        self.peers.push(Peer {
            id,
            connection: connection.clone(),
            channels,
            connected: false,
            closed_locally: false,
        });
        Ok(())
    }

    /// Removes a peer and closes its connection. Returns whether it had been connected, in which
    /// case the caller reports it as disconnected (Godot emits `peer_disconnected` at once).
    pub fn remove_peer(&mut self, peer_id: i32) -> Result<bool> {
        let index = self.index_of(peer_id).ok_or(Error::UnknownPeer(peer_id))?;
        let peer = self.detach(index);
        peer.connection.close();
        Ok(peer.connected)
    }

    /// Closes a peer's connection. Without `force` it is removed and reported disconnected by
    /// the next [`poll`](Self::poll); with `force` it is removed now, without a report.
    pub fn disconnect_peer(&mut self, peer_id: i32, force: bool) -> Result<()> {
        let index = self.index_of(peer_id).ok_or(Error::UnknownPeer(peer_id))?;
        if force {
            let peer = self.detach(index);
            peer.connection.close();
        } else {
            let peer = &mut self.peers[index];
            peer.closed_locally = true;
            peer.connection.close();
        }
        Ok(())
    }

    /// Closes every connection (the remote ends see it within about a second), forgets all
    /// peers and packets; id 0, status disconnected.
    pub fn close(&mut self) {
        for peer in self.peers.drain(..) {
            peer.connection.close();
        }
        self.staged = None;
        self.current = None;
        self.next_reader = 0;
        self.unique_id = 0;
        self.status = MeshStatus::Disconnected;
    }

    /// Whether a peer with this id was added and not yet removed.
    pub fn has_peer(&self, peer_id: i32) -> bool {
        self.index_of(peer_id).is_some()
    }

    /// Whether the peer's channels are all open.
    pub fn is_peer_connected(&self, peer_id: i32) -> bool {
        self.index_of(peer_id)
            .is_some_and(|i| self.peers[i].connected)
    }

    /// The peer's connection.
    pub fn peer_connection(&self, peer_id: i32) -> Option<&Connection> {
        self.index_of(peer_id).map(|i| &self.peers[i].connection)
    }

    /// The peer's channels in layout order.
    pub fn peer_channels(&self, peer_id: i32) -> Option<&[DataChannel]> {
        self.index_of(peer_id).map(|i| &self.peers[i].channels[..])
    }

    /// Peer ids in the order they were added.
    pub fn peer_ids(&self) -> impl Iterator<Item = i32> + '_ {
        self.peers.iter().map(|p| p.id)
    }

    fn index_of(&self, peer_id: i32) -> Option<usize> {
        self.peers.iter().position(|p| p.id == peer_id)
    }

    fn detach(&mut self, index: usize) -> Peer {
        let peer = self.peers.remove(index);
        if self.staged.as_ref().is_some_and(|p| p.peer_id == peer.id) {
            self.staged = None;
        }
        // Keep the round-robin position on the same next peer.
        if index < self.next_reader {
            self.next_reader -= 1;
        }
        if self.mode == MeshMode::Client && peer.id == SERVER_ID {
            self.status = MeshStatus::Disconnected;
        }
        peer
    }

    /// Notices peers whose channels all opened and peers that are gone.
    pub fn poll(&mut self) -> Vec<MeshEvent> {
        let mut events = Vec::new();
        let mut i = 0;
        while i < self.peers.len() {
            let peer = &mut self.peers[i];
            let state = peer.connection.connection_state();
            let reason = match state {
                ConnectionState::Failed => Some(DisconnectReason::Failed),
                ConnectionState::Closed => Some(DisconnectReason::Closed),
                _ if peer.connected && peer.connection.silence() >= self.peer_timeout => {
                    Some(DisconnectReason::TimedOut)
                }
                _ => None,
            }
            .or_else(|| {
                peer.channels
                    .iter()
                    .any(|c| {
                        matches!(
                            c.ready_state(),
                            ChannelState::Closing | ChannelState::Closed
                        )
                    })
                    .then_some(DisconnectReason::Closed)
            })
            .map(|r| {
                if peer.closed_locally {
                    DisconnectReason::Local
                } else {
                    r
                }
            });
            if let Some(reason) = reason {
                let peer = self.detach(i);
                peer.connection.close();
                let failed = matches!(
                    reason,
                    DisconnectReason::Failed | DisconnectReason::TimedOut
                );
                if peer.connected {
                    events.push(MeshEvent::PeerDisconnected {
                        peer_id: peer.id,
                        reason,
                    });
                } else if failed {
                    events.push(MeshEvent::PeerFailed {
                        peer_id: peer.id,
                        reason,
                    });
                }
                continue;
            }
            if !peer.connected
                && state == ConnectionState::Connected
                && peer.channels.iter().all(DataChannel::is_open)
            {
                peer.connected = true;
                events.push(MeshEvent::PeerConnected(peer.id));
                if self.mode == MeshMode::Client {
                    self.status = MeshStatus::Connected;
                }
            }
            i += 1;
        }
        events
    }

    /// Layout index for Godot's (channel, mode) pair: channel 0 picks the default channel of the
    /// mode, channel N > 0 is extra channel N whatever the mode.
    pub fn channel_index(&self, channel: i32, mode: TransferMode) -> Result<usize> {
        let index = match channel {
            0 => match mode {
                TransferMode::Reliable => 0,
                TransferMode::UnreliableOrdered => 1,
                TransferMode::Unreliable => 2,
            },
            c if c > 0 => c as usize + 2,
            c => return Err(Error::InvalidChannel(c.unsigned_abs() as usize)),
        };
        if index >= self.channel_count() {
            return Err(Error::InvalidChannel(index));
        }
        Ok(index)
    }

    /// Sends to `target`: a peer id, 0 for every connected peer, or -id for every connected peer
    /// but that one. Peers whose channels are not all open yet are skipped by broadcasts.
    pub fn send(
        &mut self,
        target: i32,
        channel: i32,
        mode: TransferMode,
        data: &[u8],
    ) -> Result<()> {
        if self.status == MeshStatus::Disconnected {
            return Err(Error::InvalidState("the mesh is not connected".into()));
        }
        let index = self.channel_index(channel, mode)?;
        if data.len() > MAX_MESSAGE_SIZE {
            return Err(Error::PacketTooLarge {
                size: data.len(),
                max: MAX_MESSAGE_SIZE,
            });
        }
        if target > 0 {
            let peer = &self.peers[self.index_of(target).ok_or(Error::UnknownPeer(target))?];
            if !peer.connected {
                return Err(Error::InvalidState(format!(
                    "peer {target} is not connected yet"
                )));
            }
            return send_or_drop(&peer.channels[index], data);
        }
        let excluded = target.checked_neg().unwrap_or(0);
        let mut first_error = None;
        for peer in self
            .peers
            .iter()
            .filter(|p| p.connected && p.id != excluded)
        {
            if let Err(e) = send_or_drop(&peer.channels[index], data) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Packets waiting from connected peers.
    pub fn available_packet_count(&self) -> usize {
        let queued: usize = self
            .peers
            .iter()
            .filter(|p| p.connected)
            .flat_map(|p| p.channels.iter())
            .map(DataChannel::available)
            .sum();
        queued + usize::from(self.staged.is_some())
    }

    /// The packet [`take_packet`](Self::take_packet) returns next, without taking it: Godot reads
    /// its peer, channel and mode first.
    pub fn peek_packet(&mut self) -> Option<&Packet> {
        if self.staged.is_none() {
            self.staged = self.next_packet();
        }
        self.staged.as_ref()
    }

    /// Takes the next packet: connected peers in turn (in the order they were added, starting
    /// after the last one read), within a peer the lowest channel first. The packet stays
    /// valid until the next call, so its bytes can be handed out without a copy.
    pub fn take_packet(&mut self) -> Option<&Packet> {
        self.current = match self.staged.take() {
            Some(packet) => Some(packet),
            None => self.next_packet(),
        };
        self.current.as_ref()
    }

    fn next_packet(&mut self) -> Option<Packet> {
        let n = self.peers.len();
        for k in 0..n {
            let i = (self.next_reader + k) % n;
            let peer = &self.peers[i];
            if !peer.connected {
                continue;
            }
            for (index, channel) in peer.channels.iter().enumerate() {
                if let Some(message) = channel.recv() {
                    self.next_reader = i + 1;
                    return Some(Packet {
                        peer_id: peer.id,
                        channel_index: index,
                        mode: self.layout_modes[index],
                        data: message.data,
                    });
                }
            }
        }
        None
    }
}

/// Sends on one channel. An unreliable packet that meets a full send buffer is dropped and
/// counted rather than reported: losing it is what its mode allows, and the game should not
/// hear an error for every frame while a peer catches up.
fn send_or_drop(channel: &DataChannel, data: &[u8]) -> Result<()> {
    match channel.send(data) {
        Err(Error::BufferFull) if !channel.options().is_reliable() => {
            channel.note_dropped();
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_zero_picks_the_mode_and_channel_n_the_nth_extra() {
        let mesh = Mesh::create_mesh(1, &[TransferMode::Reliable]).unwrap();
        let index = |channel, mode| mesh.channel_index(channel, mode);
        assert_eq!(index(0, TransferMode::Reliable), Ok(0));
        assert_eq!(index(0, TransferMode::UnreliableOrdered), Ok(1));
        assert_eq!(index(0, TransferMode::Unreliable), Ok(2));
        // An extra channel is itself whatever the mode asked.
        assert_eq!(index(1, TransferMode::Unreliable), Ok(3));
        assert_eq!(
            index(2, TransferMode::Reliable),
            Err(Error::InvalidChannel(4))
        );
        assert_eq!(
            index(-1, TransferMode::Reliable),
            Err(Error::InvalidChannel(1))
        );
        for i in 0..mesh.channel_count() {
            let expected = if i < 3 { 0 } else { i as i32 - 2 };
            assert_eq!(godot_channel_of_index(i), expected);
        }
    }
}
