//! Core errors as Godot `Error` codes, with a readable `push_error`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use godot::global::{Error as GdError, godot_error};
use parking_lot::Mutex;
use webrtc_mesh_core::Error;

/// The Godot error code closest to each core error.
pub fn code(error: &Error) -> GdError {
    match error {
        Error::InvalidSdp(_)
        | Error::InvalidCandidate(_)
        | Error::InvalidConfig(_)
        | Error::InvalidParameter(_)
        | Error::InvalidChannel(_)
        | Error::UnknownPeer(_)
        | Error::PacketTooLarge { .. } => GdError::ERR_INVALID_PARAMETER,
        Error::InvalidState(_) => GdError::ERR_UNCONFIGURED,
        Error::PeerExists(_) => GdError::ERR_ALREADY_EXISTS,
        Error::LimitExceeded(_) => GdError::ERR_PARAMETER_RANGE_ERROR,
        Error::BufferFull => GdError::ERR_BUSY,
        Error::Refused => GdError::ERR_UNAUTHORIZED,
        Error::Closed => GdError::ERR_CONNECTION_ERROR,
        Error::Io(_) => GdError::ERR_CANT_CREATE,
        Error::Internal(_) => GdError::FAILED,
    }
}

/// Reports `error` with the name of the call that failed and returns its code. A full send
/// buffer is reported at most once a second: it repeats for every packet while a peer lags.
pub fn report(call: &str, error: &Error) -> GdError {
    if *error == Error::BufferFull {
        report_throttled(call, error);
    } else {
        godot_error!("{call}: {error}");
    }
    code(error)
}

fn report_throttled(call: &str, error: &Error) {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let mut last = LAST.lock();
    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    *last = Some(Instant::now());
    match SUPPRESSED.swap(0, Ordering::Relaxed) {
        0 => godot_error!("{call}: {error}; the packet was not sent"),
        n => godot_error!("{call}: {error}; the packet was not sent ({n} more in the last second)"),
    }
}

/// `OK`, or the reported error.
pub fn check(call: &str, result: webrtc_mesh_core::Result<()>) -> GdError {
    match result {
        Ok(()) => GdError::OK,
        Err(e) => report(call, &e),
    }
}

/// Reports a mistake found by the binding itself and returns `code`.
pub fn refuse(call: &str, code: GdError, why: &str) -> GdError {
    godot_error!("{call}: {why}");
    code
}
