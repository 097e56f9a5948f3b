//! Connection statistics in plain numbers.

use std::time::Duration;

use rtc::peer_connection::transport::RTCIceCandidateType;
use rtc::statistics::report::{RTCStatsReport, RTCStatsReportEntry};

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

    fn from_rtc(t: RTCIceCandidateType) -> Option<Self> {
        match t {
            RTCIceCandidateType::Host => Some(CandidateType::Host),
            RTCIceCandidateType::Srflx => Some(CandidateType::ServerReflexive),
            RTCIceCandidateType::Prflx => Some(CandidateType::PeerReflexive),
            RTCIceCandidateType::Relay => Some(CandidateType::Relay),
            _ => None,
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

impl ConnectionStats {
    pub(crate) fn from_report(report: &RTCStatsReport, state: ConnectionState) -> Self {
        let selected = report
            .transport()
            .map(|t| t.selected_candidate_pair_id.as_str())
            .filter(|id| !id.is_empty());
        // Before the transport names a pair, the nominated one is the best guess.
        let pair = report
            .candidate_pairs()
            .find(|p| Some(p.stats.id.as_str()) == selected)
            .or_else(|| report.candidate_pairs().find(|p| p.nominated));
        // `rtc` names candidates differently in pairs ("candidate:X") and in their own entries
        // ("RTCLocalIceCandidate_candidate:X"), so match the suffix. A remote candidate the pair
        // names but the report does not list was learned from the peer's checks before its
        // signaled twin arrived: peer-reflexive, unless every candidate of that side is of one
        // kind (a relay-only peer's are all relayed), which it then shares.
        let candidate_type = |id: &str, local: bool| {
            let types: Vec<(&str, RTCIceCandidateType)> = report
                .iter()
                .filter_map(|entry| match entry {
                    RTCStatsReportEntry::LocalCandidate(c) if local => {
                        Some((c.stats.id.as_str(), c.candidate_type))
                    }
                    RTCStatsReportEntry::RemoteCandidate(c) if !local => {
                        Some((c.stats.id.as_str(), c.candidate_type))
                    }
                    _ => None,
                })
                .collect();
            let exact = types
                .iter()
                .find(|(cid, _)| !id.is_empty() && cid.ends_with(id));
            let shared = types
                .first()
                .filter(|first| types.iter().all(|t| t.1 == first.1));
            match exact.or(shared) {
                Some(t) => CandidateType::from_rtc(t.1),
                None if !local && !id.is_empty() => Some(CandidateType::PeerReflexive),
                None => None,
            }
        };
        match pair {
            Some(p) => ConnectionStats {
                state,
                round_trip_time: (p.current_round_trip_time > 0.0)
                    .then(|| Duration::from_secs_f64(p.current_round_trip_time)),
                bytes_sent: p.bytes_sent,
                bytes_received: p.bytes_received,
                packets_sent: p.packets_sent,
                packets_received: p.packets_received,
                local_candidate: candidate_type(&p.local_candidate_id, true),
                remote_candidate: candidate_type(&p.remote_candidate_id, false),
            },
            None => ConnectionStats {
                state,
                round_trip_time: None,
                bytes_sent: 0,
                bytes_received: 0,
                packets_sent: 0,
                packets_received: 0,
                local_candidate: None,
                remote_candidate: None,
            },
        }
    }
}
