//! Core errors as Godot `Error` codes, with a readable `push_error`.

use godot::global::{Error as GdError, godot_error};
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
        Error::BufferFull => GdError::ERR_BUSY,
        Error::Refused => GdError::ERR_UNAUTHORIZED,
        Error::Closed => GdError::ERR_CONNECTION_ERROR,
        Error::WrongThread => GdError::ERR_UNAVAILABLE,
        Error::Io(_) => GdError::ERR_CANT_CREATE,
        Error::Internal(_) => GdError::FAILED,
    }
}

/// Reports `error` with the name of the call that failed and returns its code.
pub fn report(call: &str, error: &Error) -> GdError {
    godot_error!("{call}: {error}");
    code(error)
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
