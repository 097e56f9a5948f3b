//! The program out of file descriptors: connections beyond its limit must not make it spin, and
//! once they are gone it serves at once. Runs this package's program as a child with a low
//! `ulimit -n`, so the test process keeps its own descriptors.

#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Raw;

/// The child, killed and reaped however the test ends.
struct Program {
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Program {
    /// Stops it; what it wrote on standard error.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the program with `ulimit -n` at `descriptors`; also returns the address it listens on.
fn start(descriptors: u32, args: &[&str]) -> (Program, SocketAddr) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {descriptors} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_webrtc-mesh-signaling"))
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let program = Program {
        child,
        stderr: Some(stderr),
    };
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line
        .rsplit("ws://")
        .next()
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    // Its log must keep flowing, or the program would block writing it.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    (program, address)
}

/// CPU time the process has used (user and system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line; the state (field 3) is first here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Opens a WebSocket and creates a lobby; how long until the lobby's name arrived.
fn join(address: SocketAddr) -> Duration {
    let start = Instant::now();
    Raw::open(address).join("");
    start.elapsed()
}

#[test]
fn out_of_descriptors_it_waits_instead_of_spinning() {
    let (program, address) = start(64, &["--max-connections", "16"]);
    let pid = program.child.id();
    assert!(join(address) < Duration::from_millis(500));

    // More connections than it has descriptors; they never finish their handshake.
    let raw: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // /proc counts in USER_HZ, 100 on Linux's common architectures.
    let ticks_per_second = 100.0;
    let (ticks, start) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_millis(1500));
    let busy = (cpu_ticks(pid) - ticks) as f64 / ticks_per_second / start.elapsed().as_secs_f64();
    drop(raw);
    let joined = join(address);
    eprintln!(
        "out of descriptors: {:.0}% of a core; after, a join took {joined:?}",
        busy * 100.0
    );
    assert!(busy < 0.2, "{:.0}% of a core", busy * 100.0);
    assert!(joined < Duration::from_millis(500), "{joined:?}");
    drop(program);
}

#[test]
fn it_warns_when_its_descriptors_cannot_hold_max_connections() {
    let (program, address) = start(64, &["--max-connections", "4096"]);
    assert!(join(address) < Duration::from_millis(500));
    let mut program = program;
    let stderr = program.stop();
    assert!(
        stderr.contains("--max-connections 4096") && stderr.contains("64"),
        "{stderr}"
    );
}
