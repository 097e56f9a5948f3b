//! The relay path through a real TURN server: Debian's coturn, started on loopback by the test.
//!
//! Skipped with a line saying so when `turnserver` is not installed, unless
//! `WEBRTC_MESH_REQUIRE_TURN` is set (CI sets it, so there a missing server fails).

mod common;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use webrtc_mesh_core::{
    ChannelOptions, Connection, ConnectionConfig, ConnectionState, IceServer, IceTransportPolicy,
    Runtime,
};

const USER: &str = "mesh";
const PASSWORD: &str = "relay-secret";

/// Which client listeners coturn opens. `--no-udp` and `--no-tcp` leave no other way in, so a
/// relay that works proves the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listen {
    UdpAndTcp,
    TcpOnly,
    TlsOnly,
}

/// A coturn process on 127.0.0.1, killed when dropped.
struct Coturn {
    child: Child,
    port: u16,
    log: PathBuf,
    /// PEM of the CA that signed the server's TLS certificate (`Listen::TlsOnly`).
    ca_pem: String,
    files: Vec<PathBuf>,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
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

/// A private CA and a server certificate it signed for 127.0.0.1 and localhost:
/// (CA PEM, server certificate PEM, server key PEM).
fn private_ca() -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "webrtc-mesh test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    (ca_cert.pem(), server_cert.pem(), server_key.serialize_pem())
}

fn start_coturn(listen: Listen) -> Option<Coturn> {
    let Some(binary) = turnserver_path() else {
        assert!(
            std::env::var_os("WEBRTC_MESH_REQUIRE_TURN").is_none(),
            "WEBRTC_MESH_REQUIRE_TURN is set but coturn's turnserver is not on PATH"
        );
        common::skip::skip("coturn's turnserver not found (Debian package coturn)");
        return None;
    };
    let port = free_port();
    let log = std::env::temp_dir().join(format!("webrtc-mesh-coturn-{port}.log"));
    let mut command = Command::new(binary);
    command.args([
        "-n",
        "--no-cli",
        "--no-dtls",
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        "--allow-loopback-peers",
        "--lt-cred-mech",
        "--realm=webrtc-mesh",
        "--simple-log",
        "-v",
    ]);
    command
        .arg(format!("--user={USER}:{PASSWORD}"))
        .arg(format!("--log-file={}", log.display()));
    let mut files = vec![log.clone()];
    let mut ca_pem = String::new();
    match listen {
        Listen::UdpAndTcp => {
            command
                .arg("--no-tls")
                .arg(format!("--listening-port={port}"));
        }
        Listen::TcpOnly => {
            command
                .args(["--no-tls", "--no-udp"])
                .arg(format!("--listening-port={port}"));
        }
        Listen::TlsOnly => {
            let (ca, cert, key) = private_ca();
            let dir = std::env::temp_dir();
            let cert_file = dir.join(format!("webrtc-mesh-coturn-{port}.crt"));
            let key_file = dir.join(format!("webrtc-mesh-coturn-{port}.key"));
            std::fs::write(&cert_file, cert).unwrap();
            std::fs::write(&key_file, key).unwrap();
            command
                .args(["--no-udp", "--no-tcp"])
                .arg(format!("--listening-port={}", free_port()))
                .arg(format!("--tls-listening-port={port}"))
                .arg(format!("--cert={}", cert_file.display()))
                .arg(format!("--pkey={}", key_file.display()));
            files.extend([cert_file, key_file]);
            ca_pem = ca;
        }
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver starts");
    let server = Coturn {
        child,
        port,
        log,
        ca_pem,
        files,
    };
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
    let mut seen = common::Exchanged::default();
    let deadline = Instant::now() + timeout;
    while !done() {
        common::exchange(a, b, &mut seen);
        if Instant::now() > deadline {
            return (false, seen.candidates);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (true, seen.candidates)
}

fn channel(id: u16) -> ChannelOptions {
    ChannelOptions {
        negotiated_id: Some(id),
        ..Default::default()
    }
}

/// Two relay-only peers through `turn`: channels open quickly, only relay candidates appear,
/// data crosses both ways in order with short round trips, and stats report the relay path.
fn relay_works(turn: &Coturn, config: &ConnectionConfig) {
    let runtime = Runtime::shared().unwrap();
    let config = config.clone();
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
    eprintln!(
        "{}: relay-only channels open in {setup:?}",
        config.ice_servers[0].urls[0]
    );
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
fn relay_only_peers_connect_through_coturn() {
    let Some(turn) = start_coturn(Listen::UdpAndTcp) else {
        return;
    };
    let url = format!("turn:127.0.0.1:{}", turn.port);
    relay_works(&turn, &relay_only(url, PASSWORD));
}

#[test]
fn turn_over_tcp_relays() {
    let Some(turn) = start_coturn(Listen::TcpOnly) else {
        return;
    };
    let url = format!("turn:127.0.0.1:{}?transport=tcp", turn.port);
    relay_works(&turn, &relay_only(url, PASSWORD));
}

#[test]
fn turn_over_tls_relays() {
    let Some(turn) = start_coturn(Listen::TlsOnly) else {
        return;
    };
    let url = format!("turns:127.0.0.1:{}", turn.port);
    let config = ConnectionConfig {
        tls_ca_certificates: turn.ca_pem.clone(),
        ..relay_only(url, PASSWORD)
    };
    relay_works(&turn, &config);
}

#[test]
fn a_turns_server_with_an_untrusted_certificate_is_not_used() {
    let Some(turn) = start_coturn(Listen::TlsOnly) else {
        return;
    };
    // Only the system's authorities: the test CA is not among them.
    let config = relay_only(format!("turns:127.0.0.1:{}", turn.port), PASSWORD);
    assert_no_relay(&config);
}

/// Two relay-only peers with `config` gather nothing and never connect.
fn assert_no_relay(config: &ConnectionConfig) {
    let runtime = Runtime::shared().unwrap();
    let a = Connection::new(&runtime, config).unwrap();
    let b = Connection::new(&runtime, config).unwrap();
    let ca = a.create_data_channel("game", &channel(1)).unwrap();
    let cb = b.create_data_channel("game", &channel(1)).unwrap();
    a.create_offer().unwrap();
    let (opened, candidates) = negotiate(&a, &b, Duration::from_secs(3), || {
        ca.is_open() && cb.is_open()
    });
    assert!(!opened, "connected although the relay could not be used");
    assert!(candidates.is_empty(), "{candidates:?}");
}

#[test]
fn a_wrong_turn_password_gathers_no_relay_candidate() {
    let Some(turn) = start_coturn(Listen::UdpAndTcp) else {
        return;
    };
    assert_no_relay(&relay_only(
        format!("turn:127.0.0.1:{}", turn.port),
        "wrong",
    ));
}
