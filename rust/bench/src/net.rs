//! What every stack offers the scenarios: `n` nodes, each connected to every other, sending
//! messages reliably or not and handing over what arrived when polled.

/// A fully connected set of nodes of one stack, all in this process.
pub trait Net {
    /// Queues `data` from node `from` to node `to`. False when the stack refuses it for now
    /// (its send buffer is full); the caller polls and tries again.
    fn send(&mut self, from: usize, to: usize, data: &[u8], reliable: bool) -> bool;

    /// Hands every message that has arrived at `node` to `sink(source_node, data)`, and lets
    /// stacks driven by their caller (ENet, raw UDP) do their I/O.
    fn poll(&mut self, node: usize, sink: &mut dyn FnMut(usize, &[u8]));
}

/// Whether a stack is a product or a floor the products are compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A networking stack: ours or another.
    Stack,
    /// A floor: raw datagrams with no reliability.
    Baseline,
}

/// A stack under test.
pub struct Stack {
    /// Name in tables and the JSON report.
    pub name: &'static str,
    /// Product or floor.
    pub kind: Kind,
    /// Connects `n` nodes pairwise and returns once every node can send to every other.
    pub connect: fn(usize) -> Result<Box<dyn Net>, String>,
}

/// Name of our stack in reports.
pub const OURS: &str = "webrtc_mesh";
/// Our stack with a STUN server configured (coturn on loopback).
pub const OURS_STUN: &str = "webrtc_mesh STUN";
/// Our stack relayed through TURN (coturn on loopback, UDP).
pub const OURS_TURN: &str = "webrtc_mesh TURN";
/// Name of the raw UDP floor.
pub const RAW_UDP: &str = "raw UDP";
/// Name of the encrypted UDP floor.
pub const SEALED_UDP: &str = "AES-GCM UDP";
