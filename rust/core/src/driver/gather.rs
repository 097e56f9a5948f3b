//! Gathering: a host candidate per local socket at once, then the candidates of the STUN and
//! TURN servers once their names resolve (on the runtime, never the caller's thread) and they
//! answer. Gathering completes when every server has answered, refused or timed out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rustls::ClientConfig as TlsConfig;

use super::servers::Target;
use super::turn_stream::{self, Pending, Stream, StreamTarget};
use crate::config::{ConnectionConfig, IceTransportPolicy};
use crate::error::Result;
use crate::server_url::{self, ServerTransport, ServerUrl};

/// How long a server's name may take to resolve before it is given up (no candidate from it).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A server as configured, its name not yet resolved.
#[derive(Debug, Clone)]
pub(crate) struct Unresolved {
    url: String,
    parsed: ServerUrl,
    username: String,
    password: String,
}

/// What a connection's ICE servers come to when the connection is made.
#[derive(Default)]
pub(crate) struct Plan {
    /// Servers ready to ask: address literals, and stream servers (by their stream's address).
    pub(crate) ready: Vec<Target>,
    /// Servers whose names have to be resolved first.
    pub(crate) unresolved: Vec<Unresolved>,
    /// The streams to TCP and TLS servers: the driver's ends, and what runs each once the
    /// driver exists.
    pub(crate) streams: Vec<Stream>,
    pub(crate) pending_streams: Vec<Pending>,
    /// Only relayed candidates: `iceTransportPolicy: relay`.
    pub(crate) relay_only: bool,
}

impl Plan {
    /// Parses the configured servers and makes a stream per TCP or TLS server (opened, its
    /// name resolved, on the runtime once the driver starts).
    pub(crate) fn new(config: &ConnectionConfig) -> Result<Plan> {
        let mut plan = Plan {
            relay_only: config.ice_transport_policy == IceTransportPolicy::Relay,
            ..Plan::default()
        };
        let mut tls: Option<Arc<TlsConfig>> = None;
        for server in &config.ice_servers {
            for url in &server.urls {
                let Some(parsed) = server_url::parse(url)? else {
                    continue;
                };
                let unresolved = Unresolved {
                    url: url.clone(),
                    parsed,
                    username: server.username.clone(),
                    password: server.credential.clone(),
                };
                let stream_tls = match unresolved.parsed.transport {
                    ServerTransport::Udp => None,
                    ServerTransport::Tcp => Some(None),
                    ServerTransport::Tls => Some(Some(match &tls {
                        Some(tls) => tls.clone(),
                        None => tls
                            .insert(turn_stream::tls_config(&config.tls_ca_certificates)?)
                            .clone(),
                    })),
                };
                if let Some(stream_tls) = stream_tls {
                    let index = u16::try_from(plan.streams.len()).unwrap_or(u16::MAX);
                    let (stream, pending) = turn_stream::make(
                        index,
                        StreamTarget {
                            host: unresolved.parsed.host.clone(),
                            port: unresolved.parsed.port,
                            tls: stream_tls.is_some(),
                        },
                        stream_tls,
                    )?;
                    plan.ready
                        .push(unresolved.target(vec![stream.address], true));
                    plan.streams.push(stream);
                    plan.pending_streams.push(pending);
                } else if let Ok(ip) = unresolved.parsed.host.parse::<IpAddr>() {
                    let address = SocketAddr::new(ip, unresolved.parsed.port);
                    plan.ready.push(unresolved.target(vec![address], false));
                } else {
                    plan.unresolved.push(unresolved);
                }
            }
        }
        Ok(plan)
    }
}

impl Unresolved {
    fn target(&self, addresses: Vec<SocketAddr>, one_stream: bool) -> Target {
        Target {
            url: self.url.clone(),
            kind: self.parsed.kind,
            addresses,
            username: self.username.clone(),
            password: self.password.clone(),
            one_stream,
        }
    }
}

/// Resolves the servers' names, one after another; a name that does not resolve in time is
/// left out, with the reason among the problems returned.
pub(crate) async fn resolve(servers: Vec<Unresolved>) -> (Vec<Target>, Vec<String>) {
    let lookups = servers.into_iter().map(|server| async move {
        let name = (server.parsed.host.as_str(), server.parsed.port);
        let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(name)).await;
        match found {
            Ok(Ok(addresses)) => Ok(server.target(addresses.collect(), false)),
            Ok(Err(e)) => Err(format!("{}: cannot resolve: {e}", server.url)),
            Err(_) => Err(format!(
                "{}: the name did not resolve within {RESOLVE_TIMEOUT:?}",
                server.url
            )),
        }
    });
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for lookup in lookups {
        match lookup.await {
            Ok(target) => targets.push(target),
            Err(problem) => problems.push(problem),
        }
    }
    (targets, problems)
}

/// The host candidate of a local socket.
pub(crate) fn host_candidate(local: SocketAddr) -> Option<RTCIceCandidateInit> {
    let host = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: local.ip().to_string(),
            port: local.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let candidate = host.new_candidate_host().ok()?;
    RTCIceCandidate::from(&candidate).to_json().ok()
}
