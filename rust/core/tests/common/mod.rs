//! Test helpers: peers in one process whose signaling is relayed by hand, as a game's
//! signaling server would.
#![allow(dead_code)]

pub mod coturn;
pub mod skip;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use webrtc_mesh_core::{
    Connection, ConnectionConfig, ConnectionEvent, DataChannel, IceServer, IceTransportPolicy,
    Mesh, MeshEvent, Runtime, TransferMode,
};

/// The network path a suite runs over. Every connection runs on one driver, but what it
/// gathers and where its datagrams go differ: host candidates only, a STUN server's answer
/// arriving while ICE checks run, or every datagram through a TURN relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Loopback host candidates only.
    Host,
    /// A real STUN server (coturn) configured: server-reflexive candidates are gathered.
    Stun,
    /// Relay-only through coturn over UDP, TCP and TLS.
    TurnUdp,
    TurnTcp,
    TurnTls,
}

thread_local! {
    // The servers of the calling test, stopped when its thread ends.
    static SERVERS: RefCell<Vec<coturn::Coturn>> = const { RefCell::new(Vec::new()) };
}

impl Path {
    /// The configuration of a connection on this path, its server started and kept until the
    /// calling test ends. `None` (the test is skipped, and says so) when coturn is missing.
    pub fn config(self) -> Option<ConnectionConfig> {
        use coturn::Listen;
        let listen = match self {
            Path::Host => return Some(ConnectionConfig::loopback()),
            Path::Stun | Path::TurnUdp => Listen::UdpAndTcp,
            Path::TurnTcp => Listen::TcpOnly,
            Path::TurnTls => Listen::TlsOnly,
        };
        let server = coturn::start_coturn(listen)?;
        let port = server.port;
        let relay = |url: String| ConnectionConfig {
            ice_servers: vec![IceServer {
                urls: vec![url],
                username: coturn::USER.into(),
                credential: coturn::PASSWORD.into(),
            }],
            ice_transport_policy: IceTransportPolicy::Relay,
            ..ConnectionConfig::loopback()
        };
        let config = match self {
            Path::Host => unreachable!(),
            Path::Stun => ConnectionConfig {
                ice_servers: vec![IceServer {
                    urls: vec![format!("stun:127.0.0.1:{port}")],
                    ..Default::default()
                }],
                ..ConnectionConfig::loopback()
            },
            Path::TurnUdp => relay(format!("turn:127.0.0.1:{port}")),
            Path::TurnTcp => relay(format!("turn:127.0.0.1:{port}?transport=tcp")),
            Path::TurnTls => ConnectionConfig {
                tls_ca_certificates: server.ca_pem.clone(),
                ..relay(format!("turns:127.0.0.1:{port}"))
            },
        };
        SERVERS.with(|servers| servers.borrow_mut().push(server));
        Some(config)
    }
}

/// Runs test function `$test(path)` once per path named, as `$test::host`, `$test::stun`, ...
#[macro_export]
macro_rules! on_paths {
    ($test:ident: $($name:ident => $path:ident),+ $(,)?) => {
        mod $test {
            $(
                #[test]
                fn $name() {
                    super::$test($crate::common::Path::$path)
                }
            )+
        }
    };
}

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
    exchange_rewriting(a, b, seen, |_, name| name.to_owned());
}

/// [`exchange`], each candidate line of side `s` (0 for `a`, 1 for `b`) passed through
/// `rewrite(s, line)` on its way.
pub fn exchange_rewriting(
    a: &Connection,
    b: &Connection,
    seen: &mut Exchanged,
    rewrite: impl Fn(usize, &str) -> String,
) {
    for (from, to, side) in [(a, b, 0), (b, a, 1)] {
        while let Some(event) = from.poll_event() {
            match event {
                ConnectionEvent::SessionDescription { sdp_type, sdp } => to
                    .set_remote_description(sdp_type.as_str(), &sdp)
                    .expect("remote description applies"),
                ConnectionEvent::IceCandidate { media, index, name } => {
                    let name = rewrite(side, &name);
                    to.add_ice_candidate(&media, index, &name)
                        .expect("remote candidate applies");
                    seen.candidates.push(name);
                }
                // Reported by `from` about its own side.
                ConnectionEvent::DataChannel(channel) => seen.announced[side].push(channel),
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
    mesh_nodes_on(
        &ConnectionConfig::loopback(),
        runtime,
        n,
        extra,
        unreliable_lifetime,
    )
}

/// [`mesh_nodes_with`] whose connections are made with `config`.
pub fn mesh_nodes_on(
    config: &ConnectionConfig,
    runtime: &Runtime,
    n: i32,
    extra: &[TransferMode],
    unreliable_lifetime: i64,
) -> Vec<Node> {
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

/// A UDP relay on loopback that two connections talk through instead of directly, dropping,
/// delaying or (during an outage) swallowing their datagrams: a bad network for ICE, DTLS and
/// SCTP alike. Each side is told the other's candidate is the relay's socket facing it.
/// Picks datagrams for a [`LossyRelay`] to drop: (side it came from, datagram) -> drop.
pub type DropFilter = Box<dyn FnMut(usize, &[u8]) -> bool + Send>;

pub struct LossyRelay {
    facing: [std::net::SocketAddr; 2],
    real: Arc<Mutex<[Option<std::net::SocketAddr>; 2]>>,
    /// While set, nothing gets through.
    pub outage: Arc<AtomicBool>,
    /// Datagrams dropped per thousand, each way; may change while the relay runs.
    pub loss_per_mille: Arc<AtomicU32>,
    /// Drops, besides, each datagram for which it returns true (given the side it came from).
    pub drop_if: Arc<Mutex<DropFilter>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LossyRelay {
    /// Drops `loss_per_mille` of the datagrams each way (seeded, so runs repeat) and delays the
    /// rest by `delay`.
    pub fn start(loss_per_mille: u32, delay: Duration, seed: u64) -> LossyRelay {
        let sockets = [0, 1].map(|_| UdpSocket::bind("127.0.0.1:0").unwrap());
        for socket in &sockets {
            socket.set_nonblocking(true).unwrap();
        }
        let facing = [0, 1].map(|i| sockets[i].local_addr().unwrap());
        let real = Arc::new(Mutex::new([None, None]));
        let outage = Arc::new(AtomicBool::new(false));
        let loss = Arc::new(AtomicU32::new(loss_per_mille));
        let stop = Arc::new(AtomicBool::new(false));
        let drop_if: Arc<Mutex<DropFilter>> = Arc::new(Mutex::new(Box::new(|_, _| false)));
        let thread = {
            let (real, outage, stop) = (real.clone(), outage.clone(), stop.clone());
            let (loss, drop_if) = (loss.clone(), drop_if.clone());
            std::thread::spawn(move || {
                let mut rng = seed | 1;
                let mut in_flight: VecDeque<(Instant, usize, Vec<u8>)> = VecDeque::new();
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Acquire) {
                    let mut idle = true;
                    for (side, socket) in sockets.iter().enumerate() {
                        while let Ok((n, _)) = socket.recv_from(&mut buf) {
                            idle = false;
                            // xorshift: enough randomness for loss, and repeatable.
                            rng ^= rng << 13;
                            rng ^= rng >> 7;
                            rng ^= rng << 17;
                            let lost = (rng % 1000) < u64::from(loss.load(Ordering::Relaxed))
                                || (drop_if.lock().unwrap())(side, &buf[..n]);
                            if !lost && !outage.load(Ordering::Acquire) {
                                // Came in facing `side`: goes out of the other socket to the
                                // other side's real address.
                                in_flight.push_back((
                                    Instant::now() + delay,
                                    1 - side,
                                    buf[..n].to_vec(),
                                ));
                            }
                        }
                    }
                    let now = Instant::now();
                    while in_flight.front().is_some_and(|(due, _, _)| *due <= now) {
                        let (_, to, datagram) = in_flight.pop_front().unwrap();
                        // From the socket facing the receiver: the address it was told.
                        if let Some(address) = real.lock().unwrap()[to] {
                            let _ = sockets[to].send_to(&datagram, address);
                        }
                    }
                    if idle {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        };
        LossyRelay {
            facing,
            real,
            outage,
            loss_per_mille: loss,
            drop_if,
            stop,
            thread: Some(thread),
        }
    }

    /// Relays signaling between `a` (side 0) and `b` (side 1) like [`exchange`], with each
    /// candidate rewritten to the relay's socket facing its receiver.
    pub fn exchange(&self, a: &Connection, b: &Connection, seen: &mut Exchanged) {
        exchange_rewriting(a, b, seen, |side, name| self.rewrite(side, name));
    }

    /// Notes the real address in `side`'s candidate and puts the relay's socket facing the
    /// other side in its place.
    fn rewrite(&self, side: usize, candidate: &str) -> String {
        let mut fields: Vec<String> = candidate.split(' ').map(str::to_owned).collect();
        if let (Some(ip), Some(port)) = (fields.get(4), fields.get(5))
            && let Ok(address) = format!("{ip}:{port}").parse()
        {
            self.real.lock().unwrap()[side] = Some(address);
            let relay = self.facing[1 - side];
            fields[4] = relay.ip().to_string();
            fields[5] = relay.port().to_string();
        }
        fields.join(" ")
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
