//! Peers leaving, and the runtime stopping with connections still up.

mod common;

use std::time::{Duration, Instant};

use common::{Path, connect_all, mesh_nodes_on, run_until};
use webrtc_mesh_core::{
    Connection, ConnectionConfig, DisconnectReason, MeshEvent, MeshStatus, Runtime, RuntimeConfig,
    TransferMode,
};

fn disconnected(events: &[MeshEvent], peer: i32) -> Option<DisconnectReason> {
    events.iter().find_map(|e| match *e {
        MeshEvent::PeerDisconnected { peer_id, reason } if peer_id == peer => Some(reason),
        _ => None,
    })
}

fn closed_peer_is_seen_disconnected_within_two_seconds(path: Path) {
    let Some(config) = path.config() else {
        return;
    };
    let runtime = Runtime::shared().unwrap();
    let mut nodes = mesh_nodes_on(&config, &runtime, 3, &[], 1);
    connect_all(&mut nodes, Duration::from_secs(20));

    let start = Instant::now();
    nodes[2].mesh.close();
    assert_eq!(nodes[2].mesh.status(), MeshStatus::Disconnected);
    assert_eq!(nodes[2].mesh.unique_id(), 0);
    assert_eq!(nodes[2].mesh.peer_ids().count(), 0);
    let seen = run_until(&mut nodes, Duration::from_secs(2), |nodes| {
        disconnected(&nodes[0].events, 3).is_some() && disconnected(&nodes[1].events, 3).is_some()
    });
    assert!(seen, "peer 3's close was not seen within 2 s");
    eprintln!("close seen after {:?}", start.elapsed());
    assert_eq!(
        disconnected(&nodes[0].events, 3),
        Some(DisconnectReason::Closed)
    );
    assert!(!nodes[0].mesh.has_peer(3));
    // The others keep talking.
    nodes[0]
        .mesh
        .send(2, 0, TransferMode::Reliable, b"still here")
        .unwrap();
    assert!(run_until(&mut nodes, Duration::from_secs(2), |n| n[1]
        .mesh
        .available_packet_count()
        == 1));
}

fn disconnect_and_remove_semantics(path: Path) {
    let Some(config) = path.config() else {
        return;
    };
    let runtime = Runtime::shared().unwrap();
    let mut nodes = mesh_nodes_on(&config, &runtime, 3, &[], 1);
    connect_all(&mut nodes, Duration::from_secs(20));

    // force = true: gone now, no event.
    nodes[0].mesh.disconnect_peer(2, true).unwrap();
    assert!(!nodes[0].mesh.has_peer(2));
    // force = false: still listed until the next poll, then reported.
    nodes[0].mesh.disconnect_peer(3, false).unwrap();
    assert!(nodes[0].mesh.has_peer(3));
    assert!(run_until(&mut nodes, Duration::from_secs(2), |n| !n[0]
        .mesh
        .has_peer(3)));
    assert_eq!(
        disconnected(&nodes[0].events, 3),
        Some(DisconnectReason::Local)
    );
    assert_eq!(disconnected(&nodes[0].events, 2), None);
    // Both remote ends notice.
    assert!(run_until(&mut nodes, Duration::from_secs(2), |n| {
        disconnected(&n[1].events, 1).is_some() && disconnected(&n[2].events, 1).is_some()
    }));
    // remove_peer tells whether it had been connected.
    assert_eq!(nodes[1].mesh.remove_peer(3), Ok(true));
    assert!(nodes[1].mesh.remove_peer(3).is_err());
}

#[test]
fn client_whose_server_fails_before_opening_becomes_disconnected() {
    let runtime = Runtime::shared().unwrap();
    let mut client = webrtc_mesh_core::Mesh::create_client(5, &[]).unwrap();
    assert_eq!(client.status(), MeshStatus::Connecting);
    let connection = Connection::new(&runtime, &ConnectionConfig::loopback()).unwrap();
    client.add_peer(1, &connection, 1).unwrap();
    client.poll();
    assert_eq!(client.status(), MeshStatus::Connecting);
    // The link to the server dies before it ever opened.
    connection.close();
    let events = client.poll();
    assert!(
        events.is_empty(),
        "never connected, so nothing to report: {events:?}"
    );
    assert_eq!(client.status(), MeshStatus::Disconnected);
}

fn threads_named(name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

fn dropping_everything_with_live_connections_returns_promptly(path: Path) {
    let Some(config) = path.config() else {
        return;
    };
    let name = "mesh-shutdown";
    let runtime = Runtime::new(&RuntimeConfig {
        thread_name: name.into(),
        ..Default::default()
    })
    .unwrap();
    let mut nodes = mesh_nodes_on(&config, &runtime, 3, &[], 1);
    connect_all(&mut nodes, Duration::from_secs(20));
    for node in &mut nodes {
        node.mesh
            .send(0, 0, TransferMode::Reliable, &[7; 50_000])
            .unwrap();
    }
    if cfg!(target_os = "linux") {
        assert!(threads_named(name) >= 1, "runtime threads are named");
    }

    let start = Instant::now();
    drop(nodes);
    drop(runtime);
    let took = start.elapsed();
    eprintln!("shutdown with 6 live connections took {took:?}");
    assert!(took < Duration::from_millis(800), "shutdown took {took:?}");
    if cfg!(target_os = "linux") {
        let deadline = Instant::now() + Duration::from_millis(500);
        while threads_named(name) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(threads_named(name), 0, "runtime threads are gone");
    }
}

#[test]
fn dropping_a_whole_side_still_tells_the_remote_peer() {
    let local = Runtime::new(&RuntimeConfig {
        thread_name: "mesh-dropped".into(),
        ..Default::default()
    })
    .unwrap();
    let remote = Runtime::shared().unwrap();
    let config = ConnectionConfig::loopback();
    let mut nodes = vec![
        common::Node {
            id: 1,
            mesh: webrtc_mesh_core::Mesh::create_mesh(1, &[]).unwrap(),
            connections: [(2, Connection::new(&local, &config).unwrap())].into(),
            events: Vec::new(),
        },
        common::Node {
            id: 2,
            mesh: webrtc_mesh_core::Mesh::create_mesh(2, &[]).unwrap(),
            connections: [(1, Connection::new(&remote, &config).unwrap())].into(),
            events: Vec::new(),
        },
    ];
    for node in &mut nodes {
        let (&peer, connection) = node.connections.iter().next().unwrap();
        node.mesh.add_peer(i64::from(peer), connection, 1).unwrap();
    }
    nodes[1].connections[&1].create_offer().unwrap();
    connect_all(&mut nodes, Duration::from_secs(20));

    // Everything of peer 1, its runtime included, goes at once (a game quitting).
    let gone = nodes.remove(0);
    drop(gone);
    drop(local);
    let start = Instant::now();
    assert!(
        run_until(&mut nodes, Duration::from_secs(2), |n| disconnected(
            &n[0].events,
            1
        )
        .is_some()),
        "peer 2 was not told within 2 s"
    );
    eprintln!(
        "remote saw the dropped side leave after {:?}",
        start.elapsed()
    );
}

on_paths!(closed_peer_is_seen_disconnected_within_two_seconds: host => Host, stun => Stun);

on_paths!(disconnect_and_remove_semantics: host => Host, stun => Stun);

on_paths!(dropping_everything_with_live_connections_returns_promptly: host => Host, stun => Stun);
