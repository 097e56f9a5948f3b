//! How a connection is set up: ICE servers, transport policy, local sockets and limits.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::conditions::NetworkConditions;
use crate::error::{Error, Result};

/// A STUN or TURN server, as in the `iceServers` entries of a WebRTC configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs. `turn:host` relays over UDP,
    /// `turn:host?transport=tcp` over TCP, `turns:host` over TLS (default ports 3478 and 5349).
    pub urls: Vec<String>,
    /// TURN user name.
    pub username: String,
    /// TURN password.
    pub credential: String,
}

/// Which candidates ICE may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relay candidates.
    #[default]
    All,
    /// Only TURN relay candidates: hides the player's addresses from other players.
    Relay,
}

/// Largest message carried in one SCTP message: what libdatachannel (the stack of Godot's
/// official plugin) and Chromium advertise, so it interoperates in both directions.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024;

/// Smallest receive budget, of a connection or a runtime: two messages of the largest size, so
/// one can be read while the next arrives.
pub const MIN_RECEIVE_BUDGET: usize = 2 * MAX_MESSAGE_SIZE;

/// Largest session description accepted, in bytes. A real one is 1-5 KiB (a few dozen
/// candidates included); this also fits a signaling message of Godot's default 64 KiB buffer.
pub const MAX_DESCRIPTION_SIZE: usize = 48 * 1024;

/// Remote ICE candidates accepted per connection, trickled and in descriptions together. ICE
/// needs a few dozen (a host, a reflexive and a relayed one per interface and family); each
/// one more costs checks sent to an address the remote peer chose.
pub const MAX_REMOTE_CANDIDATES: usize = 64;

/// Everything needed to create a [`Connection`](crate::Connection).
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// STUN and TURN servers. Empty: host candidates only (LAN and loopback).
    pub ice_servers: Vec<IceServer>,
    /// Which candidates ICE may use.
    pub ice_transport_policy: IceTransportPolicy,
    /// Local address to bind. The unspecified address (the default) binds every non-loopback
    /// interface; `127.0.0.1` keeps a connection on this machine.
    pub bind_address: IpAddr,
    /// Local UDP ports to choose from (inclusive); `None` lets the system pick.
    pub port_range: Option<RangeInclusive<u16>>,
    /// Bytes that may wait unacknowledged on one channel before sends fail with
    /// [`Error::BufferFull`]. Keeps a slow peer from growing memory without bound.
    pub send_buffer_limit: usize,
    /// Messages that may wait unread on one channel. When it is full the channel stops reading,
    /// so SCTP flow control slows the sender instead of memory growing.
    pub receive_queue_limit: usize,
    /// Bytes of received messages that may wait unread on this connection, every channel
    /// together (in-band ones too); the runtime's budget
    /// ([`RuntimeConfig::receive_budget`](crate::RuntimeConfig::receive_budget)) bounds all
    /// connections together. When it is reached, reliable channels stop reading (SCTP holds the
    /// sender back, nothing is lost) and unreliable ones drop their oldest messages. 4 MiB by
    /// default: a game that reads every frame holds far less (60 frames a second of 4 MiB is
    /// 240 MiB/s, more than any player's link), and what a peer can make us hold stays small.
    pub receive_budget: usize,
    /// Channels the remote peer may open in-band (not negotiated) at once. More are closed as
    /// they arrive. Godot's multiplayer layout negotiates all of its channels.
    pub max_remote_channels: usize,
    /// Bytes of received data SCTP may hold that the application has not taken yet: the most
    /// a sender can have in flight. Capped at what the kernel's socket buffer can take in one
    /// burst (2 MiB with Linux's `net.core.rmem_max` at 4 MiB): a window larger than the
    /// socket can take lets a burst overflow it, and every datagram lost costs a retransmission.
    pub receive_window: usize,
    /// Time without traffic before ICE reports the connection as disconnected.
    pub ice_disconnected_timeout: Duration,
    /// Time after "disconnected" before ICE gives up ("failed").
    pub ice_failed_timeout: Duration,
    /// Interval of ICE keep-alives on an idle connection: 1 s, so a peer timeout of a few
    /// seconds (see `Mesh::set_peer_timeout`) survives a few lost ones.
    pub ice_keepalive_interval: Duration,
    /// How long a connection may take to connect once it has the remote description; past it
    /// the connection fails (and a mesh reports the peer) instead of staying connecting. 15 s
    /// by default: a handshake through 10% loss at 100 ms round trips takes under 5 s.
    pub connect_timeout: Duration,
    /// Pacing of ICE connectivity checks (RFC 8445's Ta). A pair found valid is nominated on
    /// the next of these ticks, and a check that reached the offerer before its answer did is
    /// repeated one tick later, so setup often waits one or two. 20 ms by default (the RFC
    /// allows down to 5 ms and suggests 50; webrtc-rs's own default is 200 ms): with 50, one
    /// 4-peer mesh in two took 55 ms instead of 10.
    pub ice_check_interval: Duration,
    /// Certificate authorities (PEM) that `turns:` servers may be signed by, besides the
    /// system's (`SSL_CERT_FILE`, else the usual bundle files). For relays with a private CA.
    pub tls_ca_certificates: String,
    /// Delay, loss and outages applied to what this connection sends, to try a game on a bad
    /// link. A perfect link (the default) leaves the runtime's
    /// ([`RuntimeConfig::network_conditions`](crate::RuntimeConfig::network_conditions)) in
    /// force.
    pub network_conditions: NetworkConditions,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_range: None,
            send_buffer_limit: 8 * 1024 * 1024,
            receive_queue_limit: 4096,
            receive_budget: 4 * 1024 * 1024,
            max_remote_channels: 16,
            receive_window: 8 * 1024 * 1024,
            ice_disconnected_timeout: Duration::from_secs(5),
            ice_failed_timeout: Duration::from_secs(25),
            ice_keepalive_interval: Duration::from_secs(1),
            ice_check_interval: Duration::from_millis(20),
            connect_timeout: Duration::from_secs(15),
            tls_ca_certificates: String::new(),
            network_conditions: NetworkConditions::default(),
        }
    }
}

impl ConnectionConfig {
    /// A configuration bound to 127.0.0.1 with no ICE servers: peers on this machine only.
    pub fn loopback() -> Self {
        ConnectionConfig {
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ..Default::default()
        }
    }

    /// Checks URLs, credentials and ranges; the same checks [`Connection::new`](crate::Connection::new)
    /// makes before touching the network.
    pub fn validate(&self) -> Result<()> {
        for server in &self.ice_servers {
            if server.urls.is_empty() {
                return Err(Error::InvalidConfig("an ICE server has no URL".into()));
            }
            for url in &server.urls {
                let scheme = url.split(':').next().unwrap_or_default();
                let host = url[scheme.len()..].trim_start_matches(':');
                match scheme {
                    "stun" | "stuns" => {}
                    "turn" | "turns" => {
                        crate::server_url::parse(url)?;
                        if server.username.is_empty() || server.credential.is_empty() {
                            return Err(Error::InvalidConfig(format!(
                                "TURN server {url} needs a username and a credential"
                            )));
                        }
                    }
                    _ => {
                        return Err(Error::InvalidConfig(format!(
                            "ICE server URL {url:?} must start with stun:, stuns:, turn: or turns:"
                        )));
                    }
                }
                if host.is_empty() || host.starts_with('?') {
                    return Err(Error::InvalidConfig(format!(
                        "ICE server URL {url:?} has no host"
                    )));
                }
            }
        }
        if let Some(range) = &self.port_range
            && (range.is_empty() || *range.start() == 0)
        {
            return Err(Error::InvalidConfig(format!(
                "port range {}..={} is empty or starts at 0",
                range.start(),
                range.end()
            )));
        }
        if self.receive_queue_limit == 0 || self.send_buffer_limit == 0 || self.receive_window == 0
        {
            return Err(Error::InvalidConfig(
                "queue limits must be above zero".into(),
            ));
        }
        self.network_conditions.validate()?;
        if self.receive_budget < MIN_RECEIVE_BUDGET {
            return Err(Error::InvalidConfig(format!(
                "a receive budget of {} bytes is below the minimum of {MIN_RECEIVE_BUDGET} \
                 (two messages of the largest size)",
                self.receive_budget
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_servers(urls: &[&str], username: &str) -> ConnectionConfig {
        ConnectionConfig {
            ice_servers: vec![IceServer {
                urls: urls.iter().map(|u| u.to_string()).collect(),
                username: username.into(),
                credential: if username.is_empty() { "" } else { "p" }.into(),
            }],
            ..ConnectionConfig::default()
        }
    }

    fn refused(config: &ConnectionConfig) -> String {
        match config.validate() {
            Err(Error::InvalidConfig(why)) => why,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn ice_server_urls_need_a_known_scheme_a_host_and_turn_credentials() {
        assert!(
            with_servers(&["stun:stun.example:3478"], "")
                .validate()
                .is_ok()
        );
        assert!(
            with_servers(&["turn:relay.example?transport=tcp"], "u")
                .validate()
                .is_ok()
        );
        assert!(
            with_servers(&["turns:relay.example"], "u")
                .validate()
                .is_ok()
        );
        assert!(refused(&with_servers(&["http://x"], "")).contains("must start with"));
        assert!(refused(&with_servers(&["stun:"], "")).contains("no host"));
        assert!(refused(&with_servers(&["turn:relay.example"], "")).contains("credential"));
        assert!(refused(&with_servers(&[], "")).contains("no URL"));
    }

    #[test]
    fn limits_and_ranges_must_leave_room_to_work() {
        let config = |f: fn(&mut ConnectionConfig)| {
            let mut config = ConnectionConfig::default();
            f(&mut config);
            config
        };
        assert!(ConnectionConfig::default().validate().is_ok());
        assert!(ConnectionConfig::loopback().validate().is_ok());
        assert!(refused(&config(|c| c.port_range = Some(0..=10))).contains("port range"));
        #[allow(clippy::reversed_empty_ranges)]
        let empty = config(|c| c.port_range = Some(10..=9));
        assert!(refused(&empty).contains("port range"));
        assert!(refused(&config(|c| c.receive_queue_limit = 0)).contains("above zero"));
        assert!(
            refused(&config(|c| c.receive_budget = MIN_RECEIVE_BUDGET - 1)).contains("minimum")
        );
        assert!(
            config(|c| c.receive_budget = MIN_RECEIVE_BUDGET)
                .validate()
                .is_ok()
        );
    }
}
