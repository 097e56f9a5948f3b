//! Two first figures on this machine: time from `create_offer` to Godot's three channels open
//! between two peers on loopback, and reliable goodput of 1 KiB messages.
//!
//! `cargo run --release -p webrtc-mesh-core --example first_figures`

use std::time::{Duration, Instant};

use webrtc_mesh_core::{
    Connection, ConnectionConfig, ConnectionEvent, Error, Mesh, Runtime, TransferMode,
};

struct Pair {
    meshes: [Mesh; 2],
    connections: [Connection; 2],
}

fn relay(pair: &Pair) {
    for (from, to) in [(0, 1), (1, 0)] {
        while let Some(event) = pair.connections[from].poll_event() {
            let to = &pair.connections[to];
            match event {
                ConnectionEvent::SessionDescription { sdp_type, sdp } => {
                    to.set_remote_description(sdp_type.as_str(), &sdp).unwrap()
                }
                ConnectionEvent::IceCandidate { media, index, name } => {
                    to.add_ice_candidate(&media, index, &name).unwrap()
                }
                ConnectionEvent::DataChannel(_) => {}
            }
        }
    }
}

/// Connects peers 1 and 2; returns the pair and the time from the offer to both meshes
/// reporting the other peer connected (all three channels open).
fn connect(runtime: &Runtime) -> (Pair, Duration) {
    let config = ConnectionConfig::loopback();
    let mut pair = Pair {
        meshes: [
            Mesh::create_mesh(1, &[]).unwrap(),
            Mesh::create_mesh(2, &[]).unwrap(),
        ],
        connections: [
            Connection::new(runtime, &config).unwrap(),
            Connection::new(runtime, &config).unwrap(),
        ],
    };
    pair.meshes[0].add_peer(2, &pair.connections[0], 1).unwrap();
    pair.meshes[1].add_peer(1, &pair.connections[1], 1).unwrap();
    let start = Instant::now();
    pair.connections[1].create_offer().unwrap();
    let mut connected = [false, false];
    while connected != [true, true] {
        relay(&pair);
        for (i, mesh) in pair.meshes.iter_mut().enumerate() {
            connected[i] |= !mesh.poll().is_empty();
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    (pair, start.elapsed())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runtime = Runtime::shared().unwrap();
    let setups: Vec<f64> = (0..15)
        .map(|_| connect(&runtime).1.as_secs_f64() * 1000.0)
        .collect();
    println!(
        "create_offer -> 3 channels open: median {:.1} ms (min {:.1}, max {:.1}, 15 runs)",
        median(setups.clone()),
        setups.iter().copied().fold(f64::MAX, f64::min),
        setups.iter().copied().fold(0.0, f64::max)
    );

    let mut rates = Vec::new();
    for _ in 0..5 {
        let (mut pair, _) = connect(&runtime);
        const COUNT: usize = 100_000;
        let payload = [0x5a_u8; 1024];
        let (mut sent, mut received) = (0, 0);
        let start = Instant::now();
        while received < COUNT {
            while sent < COUNT {
                match pair.meshes[0].send(2, 0, TransferMode::Reliable, &payload) {
                    Ok(()) => sent += 1,
                    Err(Error::BufferFull) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            while pair.meshes[1].take_packet().is_some() {
                received += 1;
            }
            std::thread::yield_now();
        }
        let secs = start.elapsed().as_secs_f64();
        rates.push(COUNT as f64 * 1024.0 / 1048576.0 / secs);
    }
    println!(
        "reliable 1 KiB goodput: median {:.1} MiB/s (min {:.1}, max {:.1}; 5 runs of 100,000 messages)",
        median(rates.clone()),
        rates.iter().copied().fold(f64::MAX, f64::min),
        rates.iter().copied().fold(0.0, f64::max)
    );
}
