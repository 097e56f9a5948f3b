//! Trickled ICE candidates as `Connection::add_ice_candidate` receives them from signaling:
//! fuzzed media id, index and candidate line, before the remote description (queued, then
//! applied when it comes) and after it (applied at once). Errors are expected; a panic is a
//! finding.
//!
//! Input: byte 0 picks the connection, the shape of the line and whether the waiting
//! connection gets its remote description now; the rest is read by `Unstructured`.

#![no_main]

use std::fmt::Write;
use std::sync::Mutex;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use webrtc_mesh_core::{Connection, Error};
use webrtc_mesh_fuzz::{connection, drain, exchange};

/// Inputs a connection takes before it is replaced, besides being replaced at the cap on
/// remote candidates.
const INPUTS_PER_CONNECTION: u32 = 512;

struct Peers {
    /// No remote description yet: candidates wait in the connection.
    waiting: Connection,
    /// Has a real remote offer and has answered it: candidates go to ICE at once.
    answered: Connection,
    inputs: u32,
}

fn answered() -> Connection {
    let connection = connection();
    connection
        .set_remote_description("offer", &exchange().offer)
        .expect("real offer applies");
    drain(&connection);
    connection
}

static PEERS: Mutex<Option<Peers>> = Mutex::new(None);

/// A short fuzzed token, for a field of the candidate line.
fn token(u: &mut Unstructured) -> Result<String> {
    let len = u.int_in_range(0..=12)?;
    Ok(String::from_utf8_lossy(u.bytes(len)?).into_owned())
}

/// One field: mostly a plausible value, so the parser gets past it, sometimes fuzz.
fn field(u: &mut Unstructured, plausible: &[&str]) -> Result<String> {
    if u.ratio(1, 4)? {
        token(u)
    } else {
        Ok((*u.choose(plausible)?).to_owned())
    }
}

fn number(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.arbitrary::<u16>()?.to_string(),
        1 => u.arbitrary::<u32>()?.to_string(),
        2 => u.arbitrary::<i64>()?.to_string(),
        _ => token(u)?,
    })
}

/// A candidate line of the usual grammar with fuzzed fields, to reach past the first field
/// that random bytes would already break.
fn structured(u: &mut Unstructured) -> Result<String> {
    let mut line = field(u, &["candidate:", "a=candidate:", "", " candidate:"])?;
    let _ = write!(
        line,
        "{} {} {} {} {} {} typ {}",
        number(u)?,
        field(u, &["1", "2", "0", "256"])?,
        field(u, &["udp", "tcp", "UDP", "TCP", "sctp"])?,
        number(u)?,
        field(
            u,
            &[
                "127.0.0.1",
                "::1",
                "0.0.0.0",
                "255.255.255.255",
                "fe80::1%eth0",
                "a1b2c3d4-e5f6-4a5b-8c7d-0123456789ab.local",
                "host.example",
            ],
        )?,
        number(u)?,
        field(u, &["host", "srflx", "prflx", "relay", "other"])?,
    );
    // Optional attributes in any order, as real lines carry them. Bounded: an exhausted
    // input answers every question the same way.
    for _ in 0..8 {
        if u.is_empty() || u.ratio(1, 2)? {
            break;
        }
        let key = field(
            u,
            &[
                "raddr",
                "rport",
                "tcptype",
                "generation",
                "ufrag",
                "network-id",
                "network-cost",
            ],
        )?;
        let value = match key.as_str() {
            "raddr" => field(u, &["0.0.0.0", "127.0.0.1", "::"])?,
            "tcptype" => field(u, &["active", "passive", "so"])?,
            _ => number(u)?,
        };
        let _ = write!(line, " {key} {value}");
    }
    Ok(line)
}

fn index(u: &mut Unstructured) -> Result<i32> {
    if u.ratio(3, 4)? {
        u.int_in_range(0..=2)
    } else {
        u.arbitrary()
    }
}

fuzz_target!(|data: &[u8]| {
    let [op, rest @ ..] = data else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let Ok(index) = index(&mut u) else {
        return;
    };
    let media = if op & 2 != 0 {
        token(&mut u).unwrap_or_default()
    } else {
        "0".to_owned()
    };
    let name = if op & 4 != 0 {
        match structured(&mut u) {
            Ok(line) => line,
            Err(_) => return,
        }
    } else {
        String::from_utf8_lossy(u.take_rest()).into_owned()
    };

    let mut guard = PEERS.lock().unwrap_or_else(|e| e.into_inner());
    let peers = guard.get_or_insert_with(|| Peers {
        waiting: connection(),
        answered: answered(),
        inputs: 0,
    });
    peers.inputs += 1;
    if peers.inputs >= INPUTS_PER_CONNECTION {
        peers.waiting = connection();
        peers.answered = answered();
        peers.inputs = 0;
    }

    let early = op & 1 == 0;
    let target = if early {
        &peers.waiting
    } else {
        &peers.answered
    };
    let result = target.add_ice_candidate(&media, index, &name);
    drain(target);
    if matches!(result, Err(Error::LimitExceeded(_))) {
        if early {
            peers.waiting = connection();
        } else {
            peers.answered = answered();
        }
        return;
    }

    // Now and then the waiting connection gets its remote description, which applies every
    // candidate it queued: the path candidates that arrive early take.
    if early && op & 0x18 == 0x18 {
        let _ = peers
            .waiting
            .set_remote_description("offer", &exchange().offer);
        drain(&peers.waiting);
        peers.answered = std::mem::replace(&mut peers.waiting, connection());
    }
});
