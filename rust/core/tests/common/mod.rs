//! Test helpers: peers in one process whose signaling is relayed by hand, as a game's
//! signaling server would.
#![allow(dead_code)]

pub mod skip;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use webrtc_mesh_core::{
    Connection, ConnectionConfig, ConnectionEvent, DataChannel, Mesh, MeshEvent, Runtime,
    TransferMode,
};

/// One mesh member and its connections, keyed by the remote peer's id.
pub struct Node {
    pub id: i32,
    pub mesh: Mesh,
    pub connections: BTreeMap<i32, Connection>,
    pub events: Vec<MeshEvent>,
}

/// Moves every pending description and candidate to the connection it is meant for.
/// Returns how many signaling messages were delivered.
pub fn relay(nodes: &mut [Node]) -> usize {
    let mut outbox = Vec::new();
    for node in nodes.iter() {
        for (&to, connection) in &node.connections {
            while let Some(event) = connection.poll_event() {
                outbox.push((node.id, to, event));
            }
        }
    }
    let delivered = outbox.len();
    for (from, to, event) in outbox {
        let Some(target) = nodes
            .iter()
            .find(|n| n.id == to)
            .and_then(|n| n.connections.get(&from))
        else {
            continue;
        };
        match event {
            ConnectionEvent::SessionDescription { sdp_type, sdp } => target
                .set_remote_description(sdp_type.as_str(), &sdp)
                .expect("remote description applies"),
            ConnectionEvent::IceCandidate { media, index, name } => target
                .add_ice_candidate(&media, index, &name)
                .expect("remote candidate applies"),
            ConnectionEvent::DataChannel(_) => {}
        }
    }
    delivered
}

/// What [`exchange`] saw besides relaying: the candidate lines it passed on, and the channels
/// announced in-band to `a` (index 0) and to `b` (index 1).
#[derive(Default)]
pub struct Exchanged {
    pub candidates: Vec<String>,
    pub announced: [Vec<DataChannel>; 2],
}

/// Moves every pending description and candidate between two connections, both ways.
pub fn exchange(a: &Connection, b: &Connection, seen: &mut Exchanged) {
    for (from, to, side) in [(a, b, 1), (b, a, 0)] {
        while let Some(event) = from.poll_event() {
            match event {
                ConnectionEvent::SessionDescription { sdp_type, sdp } => to
                    .set_remote_description(sdp_type.as_str(), &sdp)
                    .expect("remote description applies"),
                ConnectionEvent::IceCandidate { media, index, name } => {
                    to.add_ice_candidate(&media, index, &name)
                        .expect("remote candidate applies");
                    seen.candidates.push(name);
                }
                // Reported by `from` about its own side.
                ConnectionEvent::DataChannel(channel) => seen.announced[1 - side].push(channel),
            }
        }
    }
}

/// Relays signaling and polls every mesh once; mesh events are appended to each node.
pub fn step(nodes: &mut [Node]) {
    relay(nodes);
    for node in nodes.iter_mut() {
        let events = node.mesh.poll();
        node.events.extend(events);
    }
}

/// Runs [`step`] until `done` holds or `timeout` passes; returns whether it held.
pub fn run_until(
    nodes: &mut [Node],
    timeout: Duration,
    mut done: impl FnMut(&mut [Node]) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        step(nodes);
        if done(nodes) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Nodes with ids 1..=n, each pair joined by a connection; the higher id makes the offer,
/// as in Godot's signaling demo. Not yet connected: run [`connect_all`].
pub fn mesh_nodes(runtime: &Runtime, n: i32, extra: &[TransferMode]) -> Vec<Node> {
    mesh_nodes_with(runtime, n, extra, 1)
}

/// [`mesh_nodes`] with the `unreliable_lifetime` (ms) given to `add_peer`.
pub fn mesh_nodes_with(
    runtime: &Runtime,
    n: i32,
    extra: &[TransferMode],
    unreliable_lifetime: i64,
) -> Vec<Node> {
    let config = &ConnectionConfig::loopback();
    let mut nodes: Vec<Node> = (1..=n)
        .map(|id| Node {
            id,
            mesh: Mesh::create_mesh(i64::from(id), extra).unwrap(),
            connections: BTreeMap::new(),
            events: Vec::new(),
        })
        .collect();
    for a in 0..nodes.len() {
        for b in 0..nodes.len() {
            if a == b {
                continue;
            }
            let remote = nodes[b].id;
            let connection = Connection::new(runtime, config).unwrap();
            nodes[a]
                .mesh
                .add_peer(i64::from(remote), &connection, unreliable_lifetime)
                .unwrap();
            nodes[a].connections.insert(remote, connection);
        }
    }
    for node in &nodes {
        for (&remote, connection) in &node.connections {
            if node.id > remote {
                connection.create_offer().unwrap();
            }
        }
    }
    nodes
}

/// Steps until every node sees every other as connected; panics after `timeout`.
pub fn connect_all(nodes: &mut [Node], timeout: Duration) -> Duration {
    let start = Instant::now();
    let n = nodes.len();
    let ok = run_until(nodes, timeout, |nodes| {
        nodes.iter().all(|node| {
            node.mesh
                .peer_ids()
                .filter(|&p| node.mesh.is_peer_connected(p))
                .count()
                == n - 1
        })
    });
    assert!(ok, "mesh of {n} did not connect within {timeout:?}");
    start.elapsed()
}

/// Reads every packet waiting at `node`.
pub fn drain(node: &mut Node) -> Vec<(i32, usize, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(p) = node.mesh.take_packet() {
        out.push((p.peer_id, p.channel_index, p.data.to_vec()));
    }
    out
}
