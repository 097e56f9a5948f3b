//! The server's memory under clients that never read: it must stay flat. The resident memory
//! measured is the whole test process's, so these tests have a file of their own and run one
//! at a time.

#![cfg(target_os = "linux")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use webrtc_mesh_signaling::{Limits, Message, MessageType};

static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The process's resident memory, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

/// The highest resident memory seen while it runs.
struct PeakRss {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<usize>,
}

impl PeakRss {
    fn start() -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = rss();
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak.max(rss())
        });
        PeakRss { stop, thread }
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

#[test]
fn unread_pongs_do_not_grow_the_server() {
    let _one = MEASURING.lock().unwrap_or_else(PoisonError::into_inner);
    let server = Server::start(Limits {
        messages_per_second: 1e9,
        message_burst: 1e9,
        join_deadline: Duration::from_secs(60),
        ..Limits::default()
    });
    let mut flooder = server.raw();
    let pings = frame(FIN | PING, &[b'p'; 125]).repeat(1000);
    let before = rss();
    let peak = PeakRss::start();
    // 300,000 pings: their pongs (38 MB) are never read while sending.
    for _ in 0..300 {
        flooder.send(&pings).unwrap();
    }
    // Let the server take what the sockets still hold.
    std::thread::sleep(Duration::from_millis(500));
    let grown = peak.stop().saturating_sub(before);
    eprintln!(
        "300,000 unread pings: resident memory {} MiB before, grew {:.1} MiB",
        before / MIB,
        grown as f64 / MIB as f64
    );
    assert!(grown < 16 * MIB, "grew {grown} bytes");
    // Still served: the pongs are there to read.
    let (first, _) = flooder.read_frame().unwrap();
    assert_eq!(first & 0x0F, PONG);
}

#[test]
fn a_client_that_never_reads_is_closed_and_costs_bounded_memory() {
    let _one = MEASURING.lock().unwrap_or_else(PoisonError::into_inner);
    let server = Server::start(Limits {
        messages_per_second: 1e6,
        message_burst: 1e6,
        unread_timeout: Duration::from_millis(500),
        ..Limits::default()
    });
    let mut host = server.raw();
    let (_, lobby) = host.join("");
    let mut idle = server.raw();
    let (idle_id, _) = idle.join(&lobby);
    let mut senders = [server.raw(), server.raw()];
    for sender in &mut senders {
        sender.join(&lobby);
    }

    // Two members send 32 KiB offers to one that reads nothing from now on, paced so that the
    // server keeps up while the reader's socket takes them: 25 MB in all, far more than the
    // sockets hold.
    let offer = text_frame(&Message::new(
        MessageType::Offer,
        idle_id,
        "o".repeat(32 * 1024),
    ));
    let before = rss();
    let peak = PeakRss::start();
    let start = Instant::now();
    let senders: Vec<JoinHandle<()>> = senders
        .into_iter()
        .map(|mut raw| {
            let offer = offer.clone();
            std::thread::spawn(move || {
                for _ in 0..400 {
                    if raw.send(&offer).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    let closed = server.wait_for_log(
        &format!("peer {idle_id} closed: Not reading messages"),
        WAIT,
    );
    let took = start.elapsed();
    for sender in senders {
        sender.join().unwrap();
    }
    let grown = peak.stop().saturating_sub(before);
    eprintln!(
        "offers to a client that never reads: closed after {took:?}, resident memory grew {:.1} MiB",
        grown as f64 / MIB as f64
    );
    assert!(closed, "{:#?}", server.log.lock());
    assert!(grown < 16 * MIB, "grew {grown} bytes");
    drop((host, idle));
}
