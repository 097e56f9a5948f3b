//! Session descriptions from a remote peer (or a script) as `Connection` receives them:
//! `set_remote_description` and `set_local_description` with fuzzed text, raw or spliced into
//! a real offer or answer. Errors are expected; a panic or a hang is a finding.
//!
//! Input: byte 0 picks the call, byte 1 where fuzzed lines go in the structured form, the
//! rest is the text (lossy UTF-8).

#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use webrtc_mesh_core::{Connection, SignalingState};
use webrtc_mesh_fuzz::{connection, drain, exchange, offering, splice_lines};

/// Inputs a connection takes before it is replaced, so state left by earlier inputs (candidate
/// counts, events, refused renegotiations) cannot build up.
const INPUTS_PER_CONNECTION: u32 = 256;

struct Peers {
    /// Stable with nothing negotiated: takes remote offers and local descriptions.
    fresh: Connection,
    /// Has sent its offer: takes remote answers.
    offering: Connection,
    inputs: u32,
}

static PEERS: Mutex<Option<Peers>> = Mutex::new(None);

const KINDS: [&str; 4] = ["offer", "answer", "pranswer", "rollback"];

fuzz_target!(|data: &[u8]| {
    let [op, at, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let kind = KINDS[usize::from(op & 3)];
    let local = op & 4 != 0;
    let structured = op & 8 != 0;
    let sdp = if structured {
        let base = match kind {
            "offer" | "rollback" => &exchange().offer,
            _ => &exchange().answer,
        };
        splice_lines(base, usize::from(*at), &text)
    } else {
        text.into_owned()
    };

    let mut guard = PEERS.lock().unwrap_or_else(|e| e.into_inner());
    let peers = guard.get_or_insert_with(|| Peers {
        fresh: connection(),
        offering: offering(),
        inputs: 0,
    });
    peers.inputs += 1;
    if peers.inputs >= INPUTS_PER_CONNECTION {
        peers.fresh = connection();
        peers.offering = offering();
        peers.inputs = 0;
    }

    // Answers only mean something to a connection with an offer out; everything else goes to
    // the fresh one, where an offer is expected.
    let answering = !local && matches!(kind, "answer" | "pranswer");
    let target = if answering {
        &peers.offering
    } else {
        &peers.fresh
    };
    let result = if local {
        target.set_local_description(kind, &sdp)
    } else {
        target.set_remote_description(kind, &sdp)
    };
    drain(target);

    // A description that took, or a state change, leaves the connection past what the next
    // input should start from; replace it so inputs keep reaching the parsers.
    let expected = if answering {
        SignalingState::HaveLocalOffer
    } else {
        SignalingState::Stable
    };
    if result.is_ok() || target.signaling_state() != expected {
        if answering {
            peers.offering = offering();
        } else {
            peers.fresh = connection();
        }
    }
});
