//! The relay path through a real TURN server: Debian's coturn, started on loopback by the test.
//!
//! Skipped with a line saying so when `turnserver` is not installed, unless
//! `WEBRTC_MESH_REQUIRE_TURN` is set (CI sets it, so there a missing server fails).

mod common;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use webrtc_mesh_core::{
    ChannelOptions, Connection, ConnectionConfig, ConnectionEvent, ConnectionState, IceServer,
    IceTransportPolicy, Runtime,
};

const USER: &str = "mesh";
const PASSWORD: &str = "relay-secret";

/// A coturn process on 127.0.0.1, killed when dropped.
struct Coturn {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn turnserver_path() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join("turnserver"))
        .find(|p| p.is_file())
}

/// A port free on loopback for both UDP and TCP (coturn listens on both).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn start_coturn() -> Option<Coturn> {
    let Some(binary) = turnserver_path() else {
        assert!(
            std::env::var_os("WEBRTC_MESH_REQUIRE_TURN").is_none(),
            "WEBRTC_MESH_REQUIRE_TURN is set but coturn's turnserver is not on PATH"
        );
        eprintln!("SKIP: coturn's turnserver not found; the TURN relay tests did not run");
        return None;
    };
    let port = free_port();
    let log = std::env::temp_dir().join(format!("webrtc-mesh-coturn-{port}.log"));
    let child = Command::new(binary)
        .args([
            "-n",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            "--allow-loopback-peers",
            "--lt-cred-mech",
            "--realm=webrtc-mesh",
            "--simple-log",
            "-v",
        ])
        .arg(format!("--listening-port={port}"))
        .arg(format!("--user={USER}:{PASSWORD}"))
        .arg(format!("--log-file={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver starts");
    let server = Coturn { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "coturn did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

fn relay_only(url: String, password: &str) -> ConnectionConfig {
    ConnectionConfig {
        ice_servers: vec![IceServer {
            urls: vec![url],
            username: USER.into(),
            credential: password.into(),
        }],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..ConnectionConfig::loopback()
    }
}

/// Relays descriptions and candidates both ways until `done`; returns the candidate lines seen.
fn negotiate(
    a: &Connection,
    b: &Connection,
    timeout: Duration,
    done: impl Fn() -> bool,
) -> (bool, Vec<String>) {
    let mut candidates = Vec::new();
    let deadline = Instant::now() + timeout;
    while !done() {
        for (from, to) in [(a, b), (b, a)] {
            while let Some(event) = from.poll_event() {
                match event {
                    ConnectionEvent::SessionDescription { sdp_type, sdp } => {
                        to.set_remote_description(sdp_type.as_str(), &sdp).unwrap()
                    }
                    ConnectionEvent::IceCandidate { media, index, name } => {
                        to.add_ice_candidate(&media, index, &name).unwrap();
                        candidates.push(name);
                    }
                    ConnectionEvent::DataChannel(_) => {}
                }
            }
        }
        if Instant::now() > deadline {
            return (false, candidates);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (true, candidates)
}

fn channel(id: u16) -> ChannelOptions {
    ChannelOptions {
        negotiated_id: Some(id),
        ..Default::default()
    }
}

#[test]
fn relay_only_peers_connect_through_coturn() {
    let Some(turn) = start_coturn() else { return };
    let runtime = Runtime::shared().unwrap();
    let config = relay_only(format!("turn:127.0.0.1:{}", turn.port), PASSWORD);
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    let ca = a.create_data_channel("game", &channel(1)).unwrap();
    let cb = b.create_data_channel("game", &channel(1)).unwrap();

    let started = Instant::now();
    a.create_offer().unwrap();
    let (opened, candidates) = negotiate(&a, &b, Duration::from_secs(15), || {
        ca.is_open() && cb.is_open()
    });
    let log = std::fs::read_to_string(&turn.log).unwrap_or_default();
    assert!(
        opened,
        "channels did not open through the relay; coturn log:\n{log}"
    );
    // Nothing better than a relay can turn up, so nothing should wait for one (webrtc-rs's
    // default holds a relay pair 2 s before nominating it).
    let setup = started.elapsed();
    eprintln!("relay-only channels open in {setup:?}");
    assert!(setup < Duration::from_secs(1), "relay setup took {setup:?}");
    assert!(!candidates.is_empty());
    for candidate in &candidates {
        assert!(
            candidate.contains(" typ relay"),
            "relay-only policy leaked a non-relay candidate: {candidate}"
        );
    }

    for i in 0..50u32 {
        ca.send(&i.to_be_bytes()).unwrap();
        cb.send(&(1000 + i).to_be_bytes()).unwrap();
    }
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(5);
    while at_a.len() < 50 || at_b.len() < 50 {
        while let Some(m) = ca.recv() {
            at_a.push(u32::from_be_bytes(m.data[..4].try_into().unwrap()));
        }
        while let Some(m) = cb.recv() {
            at_b.push(u32::from_be_bytes(m.data[..4].try_into().unwrap()));
        }
        assert!(Instant::now() < deadline, "data did not cross the relay");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(at_b, (0..50).collect::<Vec<_>>());
    assert_eq!(at_a, (1000..1050).collect::<Vec<_>>());

    // Round trips through the relay: on loopback they take well under a millisecond of the
    // relay's own time, so anything near webrtc-rs's timer ticks (50-250 ms) means relayed
    // packets wait for a wake-up.
    let mut rtts = Vec::new();
    for i in 0..20u32 {
        let sent = Instant::now();
        ca.send(&i.to_be_bytes()).unwrap();
        let deadline = sent + Duration::from_secs(2);
        let echo = loop {
            if let Some(m) = cb.recv() {
                break m;
            }
            assert!(Instant::now() < deadline, "ping {i} not delivered");
            std::thread::yield_now();
        };
        cb.send(&echo.data).unwrap();
        loop {
            if ca.recv().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "pong {i} not delivered");
            std::thread::yield_now();
        }
        rtts.push(sent.elapsed());
    }
    rtts.sort();
    let p50 = rtts[rtts.len() / 2];
    eprintln!(
        "relayed round trip p50 {p50:?}, max {:?}",
        rtts[rtts.len() - 1]
    );
    assert!(
        p50 < Duration::from_millis(25),
        "relayed round trip p50 {p50:?}"
    );

    for side in [&a, &b] {
        let stats = side.stats().unwrap();
        assert_eq!(stats.state, ConnectionState::Connected);
        assert_eq!(stats.local_candidate.map(|c| c.as_str()), Some("relay"));
        assert_eq!(stats.remote_candidate.map(|c| c.as_str()), Some("relay"));
    }
    // The server saw the allocations: the data really went through it.
    let log = std::fs::read_to_string(&turn.log).unwrap_or_default();
    assert!(
        log.contains("ALLOCATE"),
        "coturn log shows no allocation:\n{log}"
    );
}

#[test]
fn a_wrong_turn_password_gathers_no_relay_candidate() {
    let Some(turn) = start_coturn() else { return };
    let runtime = Runtime::shared().unwrap();
    let config = relay_only(format!("turn:127.0.0.1:{}", turn.port), "wrong");
    let a = Connection::new(&runtime, &config).unwrap();
    let b = Connection::new(&runtime, &config).unwrap();
    let ca = a.create_data_channel("game", &channel(1)).unwrap();
    let cb = b.create_data_channel("game", &channel(1)).unwrap();
    a.create_offer().unwrap();
    let (opened, candidates) = negotiate(&a, &b, Duration::from_secs(3), || {
        ca.is_open() && cb.is_open()
    });
    assert!(
        !opened,
        "connected although the relay refused the credentials"
    );
    assert!(candidates.is_empty(), "{candidates:?}");
}
