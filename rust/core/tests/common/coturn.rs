//! Debian's coturn as a STUN and TURN server on loopback, started by the test that needs it.
//!
//! A test is skipped with a line saying so when `turnserver` is not installed, unless
//! `WEBRTC_MESH_REQUIRE_TURN` is set (CI sets it, so there a missing server fails).

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub const USER: &str = "mesh";
pub const PASSWORD: &str = "relay-secret";

/// Which client listeners coturn opens. `--no-udp` and `--no-tcp` leave no other way in, so a
/// relay that works proves the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    UdpAndTcp,
    TcpOnly,
    TlsOnly,
}

/// A coturn process on 127.0.0.1, killed when dropped.
pub struct Coturn {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    /// PEM of the CA that signed the server's TLS certificate (`Listen::TlsOnly`).
    pub ca_pem: String,
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

/// Starts coturn on a free loopback port, or says why the calling test is skipped.
pub fn start_coturn(listen: Listen) -> Option<Coturn> {
    let Some(binary) = turnserver_path() else {
        assert!(
            std::env::var_os("WEBRTC_MESH_REQUIRE_TURN").is_none(),
            "WEBRTC_MESH_REQUIRE_TURN is set but coturn's turnserver is not on PATH"
        );
        super::skip::skip("coturn's turnserver not found (Debian package coturn)");
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
