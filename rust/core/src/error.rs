//! One error type for every fallible call of the core.

use std::fmt;

/// What went wrong. Each variant names a class of mistake so a binding can map it to its own
/// error codes (the Godot layer maps them to `Error` constants) and still show the sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A session description could not be parsed or applied.
    InvalidSdp(String),
    /// An ICE candidate could not be parsed or applied.
    InvalidCandidate(String),
    /// The configuration is invalid (an ICE server URL, a missing TURN credential, ...).
    InvalidConfig(String),
    /// An argument is out of its allowed range.
    InvalidParameter(String),
    /// The call is not allowed in the object's current state.
    InvalidState(String),
    /// No peer with this id.
    UnknownPeer(i32),
    /// A peer with this id already exists.
    PeerExists(i32),
    /// The channel index does not exist for this peer.
    InvalidChannel(usize),
    /// The message is larger than the negotiated maximum.
    PacketTooLarge {
        /// Size of the rejected message in bytes.
        size: usize,
        /// Largest message that can be sent, in bytes.
        max: usize,
    },
    /// A limit that protects against a hostile or broken peer was reached (too many remote
    /// candidates, a description too large); the sentence names it.
    LimitExceeded(String),
    /// The send buffer of the channel is full; try again after the peer has caught up.
    BufferFull,
    /// New peers are refused by the owner's choice.
    Refused,
    /// The connection or channel is closed.
    Closed,
    /// Operating system error (socket, thread).
    Io(String),
    /// Anything else the WebRTC stack reported.
    Internal(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidSdp(why) => write!(f, "invalid session description: {why}"),
            Error::InvalidCandidate(why) => write!(f, "invalid ICE candidate: {why}"),
            Error::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
            Error::InvalidParameter(why) => write!(f, "invalid parameter: {why}"),
            Error::InvalidState(why) => write!(f, "not allowed now: {why}"),
            Error::UnknownPeer(id) => write!(f, "no peer with id {id}"),
            Error::PeerExists(id) => write!(f, "a peer with id {id} already exists"),
            Error::InvalidChannel(index) => write!(f, "no data channel with index {index}"),
            Error::PacketTooLarge { size, max } => {
                write!(
                    f,
                    "packet of {size} bytes is larger than the maximum of {max} bytes"
                )
            }
            Error::LimitExceeded(why) => write!(f, "limit exceeded: {why}"),
            Error::BufferFull => write!(f, "send buffer is full; the peer is not keeping up"),
            Error::Refused => write!(f, "new connections are refused"),
            Error::Closed => write!(f, "the connection or channel is closed"),
            Error::Io(why) => write!(f, "I/O error: {why}"),
            Error::Internal(why) => write!(f, "WebRTC error: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<crate::session::SessionError> for Error {
    fn from(error: crate::session::SessionError) -> Error {
        use crate::session::SessionError as E;
        match error {
            E::Description(why) => Error::InvalidSdp(why),
            E::Candidate(why) => Error::InvalidCandidate(why),
            E::State(why) => Error::InvalidState(why.into()),
            E::TooLarge { size, max } => Error::PacketTooLarge { size, max },
            E::Full => Error::BufferFull,
            E::Closed => Error::Closed,
        }
    }
}

/// Result with the core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
