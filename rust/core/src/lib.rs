//! The engine-free core of webrtc_mesh: WebRTC peer connections and data channels on a tokio
//! runtime of its own, and a [`Mesh`] with the semantics of Godot's `WebRTCMultiplayerPeer`.
//!
//! Everything is driven from the caller's thread (a game loop): calls return at once, and
//! what happens in the background waits in queues that `poll` methods drain. No Godot types
//! appear here; the Godot extension adapts this crate.
//!
//! ```no_run
//! use webrtc_mesh_core::{Connection, ConnectionConfig, Mesh, Runtime};
//!
//! let runtime = Runtime::shared()?;
//! let mut mesh = Mesh::create_mesh(2, &[])?;
//! let connection = Connection::new(&runtime, &ConnectionConfig::default())?;
//! mesh.add_peer(3, &connection, 1)?;
//! connection.create_offer()?; // the offer arrives through connection.poll_event()
//! # Ok::<(), webrtc_mesh_core::Error>(())
//! ```

#![warn(missing_docs)]

mod budget;
mod channel;
mod conditions;
mod config;
mod connection;
mod connection_shared;
mod driver;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod mesh;
mod runtime;
mod sctp;
mod server_url;
mod session;
mod state;
mod stats;

pub use channel::{ChannelOptions, ChannelTraffic, DataChannel, Message};
pub use conditions::{Datagram, LinkSimulator, NetworkConditions};
pub use config::{
    ConnectionConfig, IceServer, IceTransportPolicy, MAX_DESCRIPTION_SIZE, MAX_MESSAGE_SIZE,
    MAX_REMOTE_CANDIDATES, MIN_RECEIVE_BUDGET,
};
pub use connection::Connection;
pub use connection_shared::ConnectionEvent;
pub use error::{Error, Result};
pub use mesh::{
    ChannelSpec, DEFAULT_PEER_TIMEOUT, DisconnectReason, MAX_PEER_ID, Mesh, MeshEvent, MeshMode,
    Packet, SERVER_ID, godot_channel_layout, godot_channel_of_index,
};
pub use runtime::{Runtime, RuntimeConfig, THREAD_NAME};
pub use state::{
    ChannelState, ConnectionState, GatheringState, MeshStatus, SdpType, SignalingState,
    TransferMode,
};
pub use stats::{CandidateType, ConnectionStats};
