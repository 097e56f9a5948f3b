//! Signaling for WebRTC meshes: a WebSocket server and client speaking the protocol of Godot's
//! WebRTC signaling demo (lobbies, host id 1, offer/answer/candidate relay, seal), with limits
//! that hold under abuse.
//!
//! - [`protocol`]: the messages.
//! - [`Hub`]: the server's rules, without sockets.
//! - [`SignalingServer`]: the hub on a WebSocket listener.
//! - [`SignalingClient`]: a client whose events are taken with `poll()`.

pub mod client;
pub mod hub;
mod outbox;
pub mod protocol;
pub mod server;

pub use client::{ClientEvent, SignalingClient};
pub use hub::{Close, ConnId, Hub, Limits, Output};
pub use protocol::{Message, MessageType};
pub use server::{LogSink, SignalingServer};
