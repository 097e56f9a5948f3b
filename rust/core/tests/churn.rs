//! Peers that come and go: connections set up, used and closed over and over leave nothing
//! behind (memory, threads, file descriptors).
//!
//! One test in this binary, so nothing else runs in the process while it measures.

mod common;

use std::time::{Duration, Instant};

use webrtc_mesh_core::{
    ChannelOptions, Connection, ConnectionConfig, ConnectionState, Runtime, RuntimeConfig,
};

fn status_kib(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

/// Resident KiB, threads and open descriptors of this process.
fn footprint() -> (usize, usize, usize) {
    (
        status_kib("VmRSS:"),
        count_entries("/proc/self/task"),
        count_entries("/proc/self/fd"),
    )
}

/// Connects a fresh pair, exchanges a message each way (one of them with unread data left
/// behind, as a peer that leaves mid-game does), then closes both.
fn cycle(runtime: &Runtime) {
    let config = ConnectionConfig::loopback();
    let a = Connection::new(runtime, &config).unwrap();
    let b = Connection::new(runtime, &config).unwrap();
    let options = ChannelOptions {
        negotiated_id: Some(1),
        ..Default::default()
    };
    let ca = a.create_data_channel("c", &options).unwrap();
    let cb = b.create_data_channel("c", &options).unwrap();
    a.create_offer().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = common::Exchanged::default();
    while !(ca.is_open() && cb.is_open()) {
        common::exchange(&a, &b, &mut seen);
        assert!(Instant::now() < deadline, "pair did not connect");
        std::thread::sleep(Duration::from_millis(1));
    }
    ca.send(&[7; 1000]).unwrap();
    cb.send(&[8; 20_000]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while cb.recv().is_none() {
        assert!(Instant::now() < deadline, "message did not arrive");
        std::thread::sleep(Duration::from_millis(1));
    }
    // `ca` is closed with its message unread.
    a.close();
    b.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.connection_state() != ConnectionState::Closed {
        assert!(Instant::now() < deadline, "close did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn connect_use_close_cycles_leave_no_memory_threads_or_descriptors_behind() {
    const WARM_UP: usize = 30;
    const CYCLES: usize = 500;
    let runtime = Runtime::new(&RuntimeConfig::default()).unwrap();
    for _ in 0..WARM_UP {
        cycle(&runtime);
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = footprint();
    let start = Instant::now();
    for _ in 0..CYCLES {
        cycle(&runtime);
    }
    // Closing finishes in the background; give it a moment, as a game's next frame would.
    std::thread::sleep(Duration::from_millis(500));
    let after = footprint();
    eprintln!(
        "{CYCLES} connect/use/close cycles in {:?}: RSS {} -> {} KiB, threads {} -> {}, \
         descriptors {} -> {}, {} bytes still waiting",
        start.elapsed(),
        before.0,
        after.0,
        before.1,
        after.1,
        before.2,
        after.2,
        runtime.received_bytes_waiting()
    );
    assert!(
        after.0 < before.0 + 8 * 1024,
        "RSS grew from {} to {} KiB",
        before.0,
        after.0
    );
    assert!(after.1 <= before.1, "threads {} -> {}", before.1, after.1);
    assert!(
        after.2 <= before.2,
        "descriptors {} -> {}",
        before.2,
        after.2
    );
    assert_eq!(
        runtime.received_bytes_waiting(),
        0,
        "closed connections give back their receive budget"
    );
}
