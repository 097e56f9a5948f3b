//! Our stack: the engine-free core, one peer connection per pair of nodes with a reliable
//! ordered channel and an unreliable unordered one (negotiated, as Godot's layout uses).

use std::time::{Duration, Instant};

use webrtc_mesh_core::{
    ChannelOptions, Connection, ConnectionConfig, ConnectionEvent, DataChannel, IceServer,
    IceTransportPolicy, NetworkConditions, Runtime,
};

use crate::coturn;
use crate::net::Net;

struct Link {
    connection: Connection,
    reliable: DataChannel,
    unreliable: DataChannel,
}

impl Link {
    fn new(runtime: &Runtime, config: &ConnectionConfig) -> Result<Link, String> {
        let connection = Connection::new(runtime, config).map_err(|e| e.to_string())?;
        let reliable = ChannelOptions {
            negotiated_id: Some(1),
            ..Default::default()
        };
        let unreliable = ChannelOptions {
            negotiated_id: Some(2),
            ordered: false,
            max_retransmits: Some(0),
            ..Default::default()
        };
        let open = |label: &str, options: &ChannelOptions| {
            connection
                .create_data_channel(label, options)
                .map_err(|e| e.to_string())
        };
        Ok(Link {
            reliable: open("reliable", &reliable)?,
            unreliable: open("unreliable", &unreliable)?,
            connection,
        })
    }

    fn is_open(&self) -> bool {
        self.reliable.is_open() && self.unreliable.is_open()
    }
}

/// Hands descriptions and candidates from `from` to `to`, as a signaling server would.
fn relay(from: &Connection, to: &Connection) -> Result<(), String> {
    while let Some(event) = from.poll_event() {
        let done = match event {
            ConnectionEvent::SessionDescription { sdp_type, sdp } => {
                to.set_remote_description(sdp_type.as_str(), &sdp)
            }
            ConnectionEvent::IceCandidate { media, index, name } => {
                to.add_ice_candidate(&media, index, &name)
            }
            ConnectionEvent::DataChannel(_) => Ok(()),
        };
        done.map_err(|e| e.to_string())?;
    }
    Ok(())
}

struct Ours {
    n: usize,
    // links[i * n + j]: node i's end of the connection to node j.
    links: Vec<Option<Link>>,
    _runtime: Runtime,
}

/// Connects `n` nodes pairwise over loopback, host candidates only.
pub fn connect(n: usize) -> Result<Box<dyn Net>, String> {
    connect_with(n, &ConnectionConfig::loopback())
}

/// As a game over the internet is set up: a STUN server configured (coturn on loopback), whose
/// server-reflexive candidates are gathered; the host pair still wins.
pub fn connect_stun(n: usize) -> Result<Box<dyn Net>, String> {
    let port = coturn::port()?;
    let config = ConnectionConfig {
        ice_servers: vec![IceServer {
            urls: vec![format!("stun:127.0.0.1:{port}")],
            ..Default::default()
        }],
        ..ConnectionConfig::loopback()
    };
    connect_with(n, &config)
}

/// Every datagram through a TURN relay (coturn on loopback, over UDP): relay-only policy.
pub fn connect_turn(n: usize) -> Result<Box<dyn Net>, String> {
    let port = coturn::port()?;
    let config = ConnectionConfig {
        ice_servers: vec![IceServer {
            urls: vec![format!("turn:127.0.0.1:{port}")],
            username: coturn::USER.into(),
            credential: coturn::PASSWORD.into(),
        }],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..ConnectionConfig::loopback()
    };
    connect_with(n, &config)
}

/// Connects `n` nodes pairwise over loopback, every send meeting `conditions`.
pub fn connect_conditioned(
    n: usize,
    conditions: &NetworkConditions,
) -> Result<Box<dyn Net>, String> {
    let config = ConnectionConfig {
        network_conditions: conditions.clone(),
        ..ConnectionConfig::loopback()
    };
    connect_with(n, &config)
}

fn connect_with(n: usize, config: &ConnectionConfig) -> Result<Box<dyn Net>, String> {
    let runtime = Runtime::shared().map_err(|e| e.to_string())?;
    let mut links: Vec<Option<Link>> = (0..n * n).map(|_| None).collect();
    let mut pairs = Vec::new();
    // Each connection draws its own losses (with one seed, every link lost the same datagrams).
    let mut seed = config.network_conditions.seed;
    let mut next_config = || {
        seed += 1;
        let mut config = config.clone();
        config.network_conditions.seed = seed;
        config
    };
    for i in 0..n {
        for j in i + 1..n {
            let offerer = Link::new(&runtime, &next_config())?;
            let answerer = Link::new(&runtime, &next_config())?;
            offerer
                .connection
                .create_offer()
                .map_err(|e| e.to_string())?;
            links[i * n + j] = Some(offerer);
            links[j * n + i] = Some(answerer);
            pairs.push((i * n + j, j * n + i));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut open = true;
        for &(a, b) in &pairs {
            let (a, b) = (links[a].as_ref().unwrap(), links[b].as_ref().unwrap());
            relay(&a.connection, &b.connection)?;
            relay(&b.connection, &a.connection)?;
            open &= a.is_open() && b.is_open();
        }
        if open {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{n} nodes did not connect within 60 s"));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(Box::new(Ours {
        n,
        links,
        _runtime: runtime,
    }))
}

impl Net for Ours {
    fn send(&mut self, from: usize, to: usize, data: &[u8], reliable: bool) -> bool {
        let Some(link) = &self.links[from * self.n + to] else {
            return false;
        };
        let channel = if reliable {
            &link.reliable
        } else {
            &link.unreliable
        };
        channel.send(data).is_ok()
    }

    fn poll(&mut self, node: usize, sink: &mut dyn FnMut(usize, &[u8])) {
        for peer in 0..self.n {
            if let Some(link) = &self.links[node * self.n + peer] {
                for channel in [&link.reliable, &link.unreliable] {
                    while let Some(message) = channel.recv() {
                        sink(peer, &message.data);
                    }
                }
            }
        }
    }
}
