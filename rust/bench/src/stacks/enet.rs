//! ENet (the protocol of Godot's `ENetMultiplayerPeer`): one host per node, a peer to every
//! other node, channel 0 reliable and channel 1 unreliable unsequenced, as Godot maps them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rusty_enet::{
    Event, Host, HostSettings, MTU_MAX, Packet, PacketReceived, PeerID, Socket, SocketOptions,
};
use socket2::SockRef;
use webrtc_mesh_core::{Datagram, LinkSimulator, NetworkConditions};

use crate::net::Net;

const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// A UDP socket whose sends meet network conditions: the same simulator, at the same place
/// (the socket), as webrtc_mesh's connections. Held datagrams leave when ENet next services
/// the host, as its own sends do.
pub struct ConditionedSocket {
    inner: UdpSocket,
    local: SocketAddr,
    simulator: LinkSimulator,
}

impl ConditionedSocket {
    fn release(&mut self) {
        let now = Instant::now();
        while let Some(due) = self.simulator.poll_due(now) {
            let _ = self.inner.send_to(&due.bytes, due.to);
        }
    }
}

impl Socket for ConditionedSocket {
    type Address = SocketAddr;
    type Error = std::io::Error;

    fn init(&mut self, options: SocketOptions) -> Result<(), std::io::Error> {
        self.inner.init(options)
    }

    fn send(&mut self, address: SocketAddr, buffer: &[u8]) -> Result<usize, std::io::Error> {
        let datagram = Datagram {
            from: self.local,
            to: address,
            bytes: buffer.to_vec(),
        };
        self.simulator.send(Instant::now(), datagram);
        self.release();
        Ok(buffer.len())
    }

    fn receive(
        &mut self,
        buffer: &mut [u8; MTU_MAX],
    ) -> Result<Option<(SocketAddr, PacketReceived)>, std::io::Error> {
        self.release();
        self.inner.receive(buffer)
    }
}

struct Enet<S: Socket<Address = SocketAddr>> {
    hosts: Vec<Host<S>>,
    // peer_of[i][j]: node i's peer for node j.
    peer_of: Vec<Vec<Option<PeerID>>>,
    node_of: Vec<HashMap<PeerID, usize>>,
}

/// Connects `n` ENet hosts pairwise over loopback.
pub fn connect(n: usize) -> Result<Box<dyn Net>, String> {
    connect_on(n, Ok)
}

/// Connects `n` ENet hosts pairwise over loopback, every send meeting `conditions`.
pub fn connect_conditioned(
    n: usize,
    conditions: &NetworkConditions,
) -> Result<Box<dyn Net>, String> {
    let mut seed = conditions.seed;
    connect_on(n, |inner| {
        seed += 1;
        let local = inner.local_addr().map_err(|e| e.to_string())?;
        let conditions = NetworkConditions {
            seed,
            ..conditions.clone()
        };
        Ok(ConditionedSocket {
            inner,
            local,
            simulator: LinkSimulator::new(conditions, Instant::now()),
        })
    })
}

fn connect_on<S: Socket<Address = SocketAddr> + 'static>(
    n: usize,
    mut wrap: impl FnMut(UdpSocket) -> Result<S, String>,
) -> Result<Box<dyn Net>, String> {
    let mut hosts = Vec::new();
    let mut addresses: Vec<SocketAddr> = Vec::new();
    for _ in 0..n {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let sock = SockRef::from(&socket);
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
        addresses.push(socket.local_addr().map_err(|e| e.to_string())?);
        let socket = wrap(socket)?;
        let host = Host::new(
            socket,
            HostSettings {
                peer_limit: n.max(2),
                channel_limit: 2,
                ..Default::default()
            },
        )
        .map_err(|e| format!("{e:?}"))?;
        hosts.push(host);
    }
    let mut net = Enet {
        hosts,
        peer_of: vec![vec![None; n]; n],
        node_of: vec![HashMap::new(); n],
    };
    for i in 0..n {
        for (j, &address) in addresses.iter().enumerate().skip(i + 1) {
            let peer = net.hosts[i]
                .connect(address, 2, i as u32)
                .map_err(|e| format!("{e:?}"))?
                .id();
            net.peer_of[i][j] = Some(peer);
            net.node_of[i].insert(peer, j);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut connected = vec![0usize; n];
    while connected.iter().any(|&c| c < n - 1) {
        for (i, count) in connected.iter_mut().enumerate() {
            while let Ok(Some(event)) = net.hosts[i].service() {
                if let Event::Connect { peer, data } = event {
                    *count += 1;
                    // An incoming peer: the connector sent its node number along.
                    if let Entry::Vacant(entry) = net.node_of[i].entry(peer.id()) {
                        let from = data as usize;
                        entry.insert(from);
                        net.peer_of[i][from] = Some(peer.id());
                    }
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{n} ENet hosts did not connect within 60 s"));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(Box::new(net))
}

impl<S: Socket<Address = SocketAddr>> Net for Enet<S> {
    fn send(&mut self, from: usize, to: usize, data: &[u8], reliable: bool) -> bool {
        let Some(peer) = self.peer_of[from][to] else {
            return false;
        };
        let (channel, packet) = if reliable {
            (0, Packet::reliable(data))
        } else {
            (1, Packet::unreliable_unsequenced(data))
        };
        self.hosts[from]
            .peer_mut(peer)
            .send(channel, &packet)
            .is_ok()
    }

    fn poll(&mut self, node: usize, sink: &mut dyn FnMut(usize, &[u8])) {
        // service() sends what is queued and receives what arrived, one event at a time.
        while let Ok(Some(event)) = self.hosts[node].service() {
            if let Event::Receive { peer, packet, .. } = event
                && let Some(&from) = self.node_of[node].get(&peer.id())
            {
                sink(from, packet.data());
            }
        }
    }
}
