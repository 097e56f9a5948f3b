//! Connection statistics in plain numbers.

use std::time::Duration;

use crate::state::ConnectionState;

/// How a candidate reaches the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateType {
    /// A local interface address.
    Host,
    /// The public address a STUN server saw.
    ServerReflexive,
    /// An address learned from the remote peer's checks.
    PeerReflexive,
    /// A TURN relay address.
    Relay,
}

impl CandidateType {
    /// `"host"`, `"srflx"`, `"prflx"` or `"relay"`, as in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relay => "relay",
        }
    }
}

/// A snapshot of one connection's transport.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStats {
    /// Connection state when the snapshot was taken.
    pub state: ConnectionState,
    /// Latest ICE round-trip time of the selected candidate pair.
    pub round_trip_time: Option<Duration>,
    /// Bytes sent over the selected candidate pair.
    pub bytes_sent: u64,
    /// Bytes received over the selected candidate pair.
    pub bytes_received: u64,
    /// Datagrams sent over the selected candidate pair.
    pub packets_sent: u64,
    /// Datagrams received over the selected candidate pair.
    pub packets_received: u64,
    /// Type of the local candidate in use.
    pub local_candidate: Option<CandidateType>,
    /// Type of the remote candidate in use.
    pub remote_candidate: Option<CandidateType>,
}
