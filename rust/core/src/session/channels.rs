//! Data channels over the association: the establishment protocol (DCEP, RFC 8832), the
//! payload identifiers of RFC 8831, and which SCTP stream each channel uses.
//!
//! A channel's stream is known only once the DTLS role is: the DTLS client takes even streams,
//! the server odd ones (RFC 8832 §6), so a channel made before the peer's description waits
//! for it.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::sctp::Reliability;

/// Payload protocol identifiers (RFC 8831 §8).
pub(crate) mod ppid {
    pub(crate) const DCEP: u32 = 50;
    pub(crate) const STRING: u32 = 51;
    pub(crate) const BINARY: u32 = 53;
    pub(crate) const STRING_EMPTY: u32 = 56;
    pub(crate) const BINARY_EMPTY: u32 = 57;
}

const DATA_CHANNEL_ACK: u8 = 0x02;
const DATA_CHANNEL_OPEN: u8 = 0x03;

/// How a channel delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelSettings {
    pub(crate) label: String,
    pub(crate) protocol: String,
    pub(crate) ordered: bool,
    pub(crate) reliability: Reliability,
    /// A stream agreed out of band: no DCEP.
    pub(crate) negotiated: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelState {
    /// Waiting for its stream or the association.
    Waiting,
    /// OPEN sent, no ACK yet (messages may flow already).
    Opening,
    Open,
    /// Our stream reset is out.
    Closing,
    Closed,
}

pub(crate) struct Channel {
    pub(crate) settings: ChannelSettings,
    pub(crate) stream: Option<u16>,
    pub(crate) state: ChannelState,
}

impl Channel {
    /// Closed for good. Its entry stays (indices are channel ids) but gives back its label and
    /// protocol, which a peer may make up to 64 KiB each.
    pub(crate) fn close(&mut self) {
        self.state = ChannelState::Closed;
        self.settings.label = String::new();
        self.settings.protocol = String::new();
    }
}

/// A DCEP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dcep {
    Open {
        ordered: bool,
        reliability: Reliability,
        label: String,
        protocol: String,
    },
    Ack,
}

impl Dcep {
    pub(crate) fn encode(&self) -> Bytes {
        match self {
            Dcep::Ack => Bytes::from_static(&[DATA_CHANNEL_ACK]),
            Dcep::Open {
                ordered,
                reliability,
                label,
                protocol,
            } => {
                let (kind, parameter) = match reliability {
                    Reliability::Reliable => (0x00, 0),
                    Reliability::MaxRetransmits(count) => (0x01, *count),
                    Reliability::Lifetime(lifetime) => {
                        (0x02, lifetime.as_millis().min(u128::from(u32::MAX)) as u32)
                    }
                };
                let kind = if *ordered { kind } else { kind | 0x80 };
                let mut out = BytesMut::with_capacity(12 + label.len() + protocol.len());
                out.put_u8(DATA_CHANNEL_OPEN);
                out.put_u8(kind);
                out.put_u16(0x100); // normal priority
                out.put_u32(parameter);
                out.put_u16(label.len().min(usize::from(u16::MAX)) as u16);
                out.put_u16(protocol.len().min(usize::from(u16::MAX)) as u16);
                out.put_slice(&label.as_bytes()[..label.len().min(usize::from(u16::MAX))]);
                out.put_slice(&protocol.as_bytes()[..protocol.len().min(usize::from(u16::MAX))]);
                out.freeze()
            }
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Dcep, &'static str> {
        match bytes.first() {
            Some(&DATA_CHANNEL_ACK) => Ok(Dcep::Ack),
            Some(&DATA_CHANNEL_OPEN) => {
                if bytes.len() < 12 {
                    return Err("a DATA_CHANNEL_OPEN shorter than its header");
                }
                let kind = bytes[1];
                let parameter = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                let label_len = usize::from(u16::from_be_bytes([bytes[8], bytes[9]]));
                let protocol_len = usize::from(u16::from_be_bytes([bytes[10], bytes[11]]));
                let rest = &bytes[12..];
                if rest.len() < label_len + protocol_len {
                    return Err("a DATA_CHANNEL_OPEN shorter than its label and protocol");
                }
                let reliability = match kind & 0x7f {
                    0x00 => Reliability::Reliable,
                    0x01 => Reliability::MaxRetransmits(parameter),
                    0x02 => Reliability::Lifetime(Duration::from_millis(u64::from(parameter))),
                    _ => return Err("an unknown channel type"),
                };
                Ok(Dcep::Open {
                    ordered: kind & 0x80 == 0,
                    reliability,
                    label: String::from_utf8_lossy(&rest[..label_len]).into_owned(),
                    protocol: String::from_utf8_lossy(&rest[label_len..label_len + protocol_len])
                        .into_owned(),
                })
            }
            _ => Err("an unknown DCEP message"),
        }
    }
}

/// The payload and identifier a message travels with: SCTP cannot carry an empty payload, so
/// an empty message is one zero byte with its own identifier.
pub(crate) fn outgoing(data: Bytes, is_string: bool) -> (u32, Bytes) {
    match (data.is_empty(), is_string) {
        (true, true) => (ppid::STRING_EMPTY, Bytes::from_static(&[0])),
        (true, false) => (ppid::BINARY_EMPTY, Bytes::from_static(&[0])),
        (false, true) => (ppid::STRING, data),
        (false, false) => (ppid::BINARY, data),
    }
}

/// A received payload as (data, is_string), or `None` for an identifier no data channel uses.
pub(crate) fn incoming(ppid: u32, data: Bytes) -> Option<(Bytes, bool)> {
    match ppid {
        ppid::STRING => Some((data, true)),
        ppid::BINARY => Some((data, false)),
        ppid::STRING_EMPTY => Some((Bytes::new(), true)),
        ppid::BINARY_EMPTY => Some((Bytes::new(), false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcep_messages_survive_a_round_trip() {
        for (ordered, reliability) in [
            (true, Reliability::Reliable),
            (false, Reliability::MaxRetransmits(0)),
            (true, Reliability::Lifetime(Duration::from_millis(150))),
        ] {
            let open = Dcep::Open {
                ordered,
                reliability,
                label: "game".into(),
                protocol: "v1".into(),
            };
            assert_eq!(Dcep::decode(&open.encode()), Ok(open));
        }
        assert_eq!(Dcep::decode(&Dcep::Ack.encode()), Ok(Dcep::Ack));
        assert!(Dcep::decode(&[DATA_CHANNEL_OPEN, 0, 1]).is_err());
        assert!(Dcep::decode(&[DATA_CHANNEL_OPEN, 0, 1, 0, 0, 0, 0, 0, 0, 9, 0, 0]).is_err());
        assert!(Dcep::decode(&[]).is_err());
    }
}
