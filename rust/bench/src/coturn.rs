//! coturn on loopback for the STUN-configured and TURN-relayed configurations: started on first
//! use, stopped when the run ends. Without `turnserver` on PATH those configurations report why
//! and are left out of the tables.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The relay's user name and password.
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-secret";

static SERVER: Mutex<Option<(Child, u16)>> = Mutex::new(None);

/// The port coturn listens on (UDP and TCP), starting it if need be.
pub fn port() -> Result<u16, String> {
    let mut server = SERVER.lock();
    if let Some((_, port)) = server.as_ref() {
        return Ok(*port);
    }
    let port = free_port();
    let child = Command::new("turnserver")
        .args([
            "-n",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            "--allow-loopback-peers",
            "--lt-cred-mech",
            "--realm=webrtc-mesh-bench",
            "--no-stdout-log",
            "--log-file=/dev/null",
        ])
        .arg(format!("--user={USER}:{PASSWORD}"))
        .arg(format!("--listening-port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("coturn's turnserver cannot start ({e}); install Debian's coturn"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("coturn did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    *server = Some((child, port));
    Ok(port)
}

/// Stops coturn if it was started.
pub fn stop() {
    if let Some((mut child, _)) = SERVER.lock().take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A port free on loopback for both UDP and TCP.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP socket");
        let port = udp.local_addr().map_or(0, |a| a.port());
        if port != 0 && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
