//! The shared runtime's settings. Its own test binary: the shared runtime is per process.

mod common;

use std::time::{Duration, Instant};

use common::{connect_all, drain, mesh_nodes, run_until};
use webrtc_mesh_core::{Runtime, RuntimeConfig, TransferMode};

#[test]
fn shared_runtime_starts_with_the_configured_settings() {
    let one_worker = RuntimeConfig {
        worker_threads: 1,
        ..Default::default()
    };
    assert!(Runtime::configure_shared(one_worker), "nothing runs yet");
    let runtime = Runtime::shared().unwrap();
    assert_eq!(runtime.worker_threads(), 1);

    // One worker carries a mesh: every connection's reads and timers on one thread.
    let mut nodes = mesh_nodes(&runtime, 3, &[]);
    connect_all(&mut nodes, Duration::from_secs(20));
    nodes[0]
        .mesh
        .send(0, 0, TransferMode::Reliable, b"to all")
        .unwrap();
    let mut got = [0usize; 3];
    let arrived = run_until(&mut nodes, Duration::from_secs(5), |nodes| {
        for (i, node) in nodes.iter_mut().enumerate() {
            got[i] += drain(node).len();
        }
        got[1] == 1 && got[2] == 1
    });
    assert!(arrived, "broadcast over one worker arrived: {got:?}");

    // A running runtime keeps its settings; new ones apply to the next start.
    let two_workers = RuntimeConfig {
        worker_threads: 2,
        ..Default::default()
    };
    assert!(!Runtime::configure_shared(two_workers));
    assert_eq!(Runtime::shared().unwrap().worker_threads(), 1);

    drop(nodes);
    drop(runtime);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Runtime::shared_is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!Runtime::shared_is_running(), "the last handle stopped it");
    assert_eq!(Runtime::shared().unwrap().worker_threads(), 2);
}
