//! SCTP's wire format (RFC 9260 §3): a common header and a list of chunks, each padded to four
//! bytes, protected by a CRC32c. Only the chunks a data-channel association uses are decoded;
//! the rest are kept as [`Chunk::Unknown`] so the association can apply the RFC's rule for
//! unrecognised chunk types.
//!
//! Decoding never panics and never trusts a length: every field is read through [`Reader`],
//! which fails on a short buffer.

use bytes::Bytes;

pub(crate) use super::crc32c::{Crc32c, crc32c};

/// Chunk types (RFC 9260 §3.2, RFC 3758 for FORWARD TSN, RFC 6525 for RE-CONFIG).
pub(crate) mod kind {
    pub(crate) const DATA: u8 = 0;
    pub(crate) const INIT: u8 = 1;
    pub(crate) const INIT_ACK: u8 = 2;
    pub(crate) const SACK: u8 = 3;
    pub(crate) const HEARTBEAT: u8 = 4;
    pub(crate) const HEARTBEAT_ACK: u8 = 5;
    pub(crate) const ABORT: u8 = 6;
    pub(crate) const SHUTDOWN: u8 = 7;
    pub(crate) const SHUTDOWN_ACK: u8 = 8;
    pub(crate) const COOKIE_ECHO: u8 = 10;
    pub(crate) const COOKIE_ACK: u8 = 11;
    pub(crate) const SHUTDOWN_COMPLETE: u8 = 14;
    pub(crate) const RECONFIG: u8 = 130;
    pub(crate) const FORWARD_TSN: u8 = 192;
}

/// Parameter types of INIT and INIT ACK that matter here.
mod param {
    pub(super) const STATE_COOKIE: u16 = 7;
    pub(super) const SUPPORTED_EXTENSIONS: u16 = 0x8008;
    pub(super) const FORWARD_TSN_SUPPORTED: u16 = 0xc000;
}

/// DATA chunk flags.
const FLAG_END: u8 = 1;
const FLAG_BEGIN: u8 = 2;
const FLAG_UNORDERED: u8 = 4;
const FLAG_IMMEDIATE: u8 = 8;

/// Bytes of the common header.
pub(crate) const COMMON_HEADER: usize = 12;
/// Bytes of a DATA chunk before its payload.
pub(crate) const DATA_HEADER: usize = 16;

/// Why a packet was not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Shorter than a field or length says.
    Truncated,
    /// The CRC32c does not match.
    Checksum,
    /// A field holds a value the RFC forbids (a zero-length DATA chunk, a chunk length below
    /// its header).
    Invalid(&'static str),
}

/// One SCTP packet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Packet {
    pub(crate) source_port: u16,
    pub(crate) destination_port: u16,
    pub(crate) verification_tag: u32,
    pub(crate) chunks: Vec<Chunk>,
}

/// A user message fragment (RFC 9260 §3.3.1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Data {
    pub(crate) tsn: u32,
    pub(crate) stream: u16,
    pub(crate) ssn: u16,
    pub(crate) ppid: u32,
    pub(crate) begin: bool,
    pub(crate) end: bool,
    pub(crate) unordered: bool,
    /// Asks the receiver to acknowledge at once (RFC 7053).
    pub(crate) immediate: bool,
    pub(crate) payload: Bytes,
}

/// INIT and INIT ACK (RFC 9260 §3.3.2-3), with the parameters a data channel needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Init {
    pub(crate) initiate_tag: u32,
    pub(crate) a_rwnd: u32,
    pub(crate) outbound_streams: u16,
    pub(crate) inbound_streams: u16,
    pub(crate) initial_tsn: u32,
    /// Partial reliability (RFC 3758): the peer understands FORWARD TSN.
    pub(crate) forward_tsn: bool,
    /// Stream reconfiguration (RFC 6525): the peer understands RE-CONFIG.
    pub(crate) reconfig: bool,
    /// The state cookie, in an INIT ACK.
    pub(crate) cookie: Option<Bytes>,
}

/// A selective acknowledgement (RFC 9260 §3.3.4). Gap blocks are offsets from `cumulative`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Sack {
    pub(crate) cumulative: u32,
    pub(crate) a_rwnd: u32,
    pub(crate) gaps: Vec<(u16, u16)>,
    pub(crate) duplicates: Vec<u32>,
}

/// RE-CONFIG's parameters (RFC 6525 §4): the two a data channel's close uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reconfig {
    /// Outgoing SSN reset request: the sender will reset these streams after `last_tsn`.
    OutgoingReset {
        request: u32,
        response: u32,
        last_tsn: u32,
        streams: Vec<u16>,
    },
    /// The answer to a request.
    Response { request: u32, result: u32 },
    /// Anything else, answered "denied".
    Other { kind: u16, request: Option<u32> },
}

/// RE-CONFIG results (RFC 6525 §4.4).
pub(crate) mod reconfig_result {
    pub(crate) const PERFORMED: u32 = 1;
    pub(crate) const DENIED: u32 = 2;
    pub(crate) const IN_PROGRESS: u32 = 6;
}

/// The chunks this association reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Chunk {
    Data(Data),
    Init(Init),
    InitAck(Init),
    Sack(Sack),
    /// Heartbeat info, echoed back as is.
    Heartbeat(Bytes),
    HeartbeatAck(Bytes),
    /// The T bit: the tag is the receiver's own (reflected).
    Abort {
        reflected: bool,
    },
    Shutdown {
        cumulative: u32,
    },
    ShutdownAck,
    ShutdownComplete,
    CookieEcho(Bytes),
    CookieAck,
    ForwardTsn {
        cumulative: u32,
        /// (stream, ssn) of ordered streams whose messages up to `ssn` are skipped.
        streams: Vec<(u16, u16)>,
    },
    Reconfig(Vec<Reconfig>),
    Unknown {
        kind: u8,
    },
}

impl Chunk {
    /// Bytes this chunk takes in a packet, padding included. Counted for the chunks of every
    /// packet (SACK, FORWARD TSN, DATA); the handshake's and RE-CONFIG's are encoded to see.
    pub(crate) fn encoded_len(&self) -> usize {
        let body = match self {
            Chunk::Data(data) => DATA_HEADER - 4 + data.payload.len(),
            Chunk::Sack(sack) => 12 + 4 * sack.gaps.len() + 4 * sack.duplicates.len(),
            Chunk::ForwardTsn { streams, .. } => 4 + 4 * streams.len(),
            Chunk::Heartbeat(info) | Chunk::HeartbeatAck(info) => (4 + info.len()).div_ceil(4) * 4,
            Chunk::CookieEcho(cookie) => cookie.len(),
            Chunk::Shutdown { .. } => 4,
            Chunk::Abort { .. }
            | Chunk::ShutdownAck
            | Chunk::ShutdownComplete
            | Chunk::CookieAck
            | Chunk::Unknown { .. } => 0,
            Chunk::Init(_) | Chunk::InitAck(_) | Chunk::Reconfig(_) => {
                let mut buffer = Vec::new();
                self.encode(&mut buffer);
                return buffer.len();
            }
        };
        (4 + body).div_ceil(4) * 4
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let (kind, flags) = match self {
            Chunk::Data(data) => {
                let mut flags = 0;
                if data.end {
                    flags |= FLAG_END;
                }
                if data.begin {
                    flags |= FLAG_BEGIN;
                }
                if data.unordered {
                    flags |= FLAG_UNORDERED;
                }
                if data.immediate {
                    flags |= FLAG_IMMEDIATE;
                }
                (kind::DATA, flags)
            }
            Chunk::Init(_) => (kind::INIT, 0),
            Chunk::InitAck(_) => (kind::INIT_ACK, 0),
            Chunk::Sack(_) => (kind::SACK, 0),
            Chunk::Heartbeat(_) => (kind::HEARTBEAT, 0),
            Chunk::HeartbeatAck(_) => (kind::HEARTBEAT_ACK, 0),
            Chunk::Abort { reflected } => (kind::ABORT, u8::from(*reflected)),
            Chunk::Shutdown { .. } => (kind::SHUTDOWN, 0),
            Chunk::ShutdownAck => (kind::SHUTDOWN_ACK, 0),
            Chunk::ShutdownComplete => (kind::SHUTDOWN_COMPLETE, 0),
            Chunk::CookieEcho(_) => (kind::COOKIE_ECHO, 0),
            Chunk::CookieAck => (kind::COOKIE_ACK, 0),
            Chunk::ForwardTsn { .. } => (kind::FORWARD_TSN, 0),
            Chunk::Reconfig(_) => (kind::RECONFIG, 0),
            // Never sent: an unknown chunk is only ever received.
            Chunk::Unknown { kind } => (*kind, 0),
        };
        out.extend_from_slice(&[kind, flags, 0, 0]);
        match self {
            Chunk::Data(data) => {
                out.extend_from_slice(&data.tsn.to_be_bytes());
                out.extend_from_slice(&data.stream.to_be_bytes());
                out.extend_from_slice(&data.ssn.to_be_bytes());
                out.extend_from_slice(&data.ppid.to_be_bytes());
                out.extend_from_slice(&data.payload);
            }
            Chunk::Init(init) | Chunk::InitAck(init) => {
                out.extend_from_slice(&init.initiate_tag.to_be_bytes());
                out.extend_from_slice(&init.a_rwnd.to_be_bytes());
                out.extend_from_slice(&init.outbound_streams.to_be_bytes());
                out.extend_from_slice(&init.inbound_streams.to_be_bytes());
                out.extend_from_slice(&init.initial_tsn.to_be_bytes());
                if let Some(cookie) = &init.cookie {
                    put_param(out, param::STATE_COOKIE, cookie);
                }
                // Never last: webrtc-rs's parser stops before a final 4-byte parameter and
                // then reads it as a chunk, refusing the whole packet.
                if init.forward_tsn {
                    put_param(out, param::FORWARD_TSN_SUPPORTED, &[]);
                }
                let mut extensions = Vec::new();
                if init.forward_tsn {
                    extensions.push(kind::FORWARD_TSN);
                }
                if init.reconfig {
                    extensions.push(kind::RECONFIG);
                }
                if !extensions.is_empty() {
                    put_param(out, param::SUPPORTED_EXTENSIONS, &extensions);
                }
            }
            Chunk::Sack(sack) => {
                out.extend_from_slice(&sack.cumulative.to_be_bytes());
                out.extend_from_slice(&sack.a_rwnd.to_be_bytes());
                out.extend_from_slice(&(sack.gaps.len() as u16).to_be_bytes());
                out.extend_from_slice(&(sack.duplicates.len() as u16).to_be_bytes());
                for (start, end) in &sack.gaps {
                    out.extend_from_slice(&start.to_be_bytes());
                    out.extend_from_slice(&end.to_be_bytes());
                }
                for tsn in &sack.duplicates {
                    out.extend_from_slice(&tsn.to_be_bytes());
                }
            }
            Chunk::Heartbeat(info) | Chunk::HeartbeatAck(info) => {
                // The info parameter (type 1) as received.
                put_param(out, 1, info);
            }
            Chunk::Shutdown { cumulative } => out.extend_from_slice(&cumulative.to_be_bytes()),
            Chunk::CookieEcho(cookie) => out.extend_from_slice(cookie),
            Chunk::ForwardTsn {
                cumulative,
                streams,
            } => {
                out.extend_from_slice(&cumulative.to_be_bytes());
                for (stream, ssn) in streams {
                    out.extend_from_slice(&stream.to_be_bytes());
                    out.extend_from_slice(&ssn.to_be_bytes());
                }
            }
            Chunk::Reconfig(params) => {
                for reconfig in params {
                    let mut value = Vec::new();
                    let kind = match reconfig {
                        Reconfig::OutgoingReset {
                            request,
                            response,
                            last_tsn,
                            streams,
                        } => {
                            value.extend_from_slice(&request.to_be_bytes());
                            value.extend_from_slice(&response.to_be_bytes());
                            value.extend_from_slice(&last_tsn.to_be_bytes());
                            for stream in streams {
                                value.extend_from_slice(&stream.to_be_bytes());
                            }
                            13
                        }
                        Reconfig::Response { request, result } => {
                            value.extend_from_slice(&request.to_be_bytes());
                            value.extend_from_slice(&result.to_be_bytes());
                            16
                        }
                        // Never sent.
                        Reconfig::Other { kind, .. } => *kind,
                    };
                    put_param(out, kind, &value);
                }
            }
            Chunk::Abort { .. }
            | Chunk::ShutdownAck
            | Chunk::ShutdownComplete
            | Chunk::CookieAck
            | Chunk::Unknown { .. } => {}
        }
        let length = (out.len() - start) as u16;
        out[start + 2..start + 4].copy_from_slice(&length.to_be_bytes());
        pad(out);
    }
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn put_param(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&((4 + value.len()) as u16).to_be_bytes());
    out.extend_from_slice(value);
    pad(out);
}

impl Packet {
    /// The packet's bytes, checksum included.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1200);
        out.extend_from_slice(&self.source_port.to_be_bytes());
        out.extend_from_slice(&self.destination_port.to_be_bytes());
        out.extend_from_slice(&self.verification_tag.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        for chunk in &self.chunks {
            chunk.encode(&mut out);
        }
        // Stored least significant byte first, as every implementation does (RFC 9260 App. B).
        let checksum = crc32c(&out);
        out[8..12].copy_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Decodes a packet, checking its CRC32c. DATA payloads are slices of `bytes`: no copy.
    pub(crate) fn decode(bytes: &Bytes) -> Result<Packet, DecodeError> {
        if bytes.len() < COMMON_HEADER {
            return Err(DecodeError::Truncated);
        }
        let stated = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        // The checksum covers the packet with its own field zeroed.
        let computed = Crc32c::new()
            .update(&bytes[..8])
            .update(&[0; 4])
            .update(&bytes[12..])
            .finish();
        if computed != stated {
            return Err(DecodeError::Checksum);
        }
        let mut reader = Reader(bytes);
        let source_port = reader.u16()?;
        let destination_port = reader.u16()?;
        let verification_tag = reader.u32()?;
        reader.u32()?;
        let mut chunks = Vec::new();
        while !reader.0.is_empty() {
            let kind = reader.u8()?;
            let flags = reader.u8()?;
            let length = usize::from(reader.u16()?);
            if length < 4 {
                return Err(DecodeError::Invalid("chunk length below its header"));
            }
            let body = reader.take(length - 4)?;
            // The last chunk's padding may be missing.
            let padding = (4 - length % 4) % 4;
            reader.take(padding.min(reader.0.len()))?;
            chunks.push(decode_chunk(bytes, kind, flags, body)?);
        }
        Ok(Packet {
            source_port,
            destination_port,
            verification_tag,
            chunks,
        })
    }
}

/// One chunk; `packet` is the buffer `body` lies in, for payloads to share.
fn decode_chunk(packet: &Bytes, kind: u8, flags: u8, body: &[u8]) -> Result<Chunk, DecodeError> {
    let mut reader = Reader(body);
    Ok(match kind {
        kind::DATA => {
            let tsn = reader.u32()?;
            let stream = reader.u16()?;
            let ssn = reader.u16()?;
            let ppid = reader.u32()?;
            if reader.0.is_empty() {
                return Err(DecodeError::Invalid("a DATA chunk without payload"));
            }
            Chunk::Data(Data {
                tsn,
                stream,
                ssn,
                ppid,
                begin: flags & FLAG_BEGIN != 0,
                end: flags & FLAG_END != 0,
                unordered: flags & FLAG_UNORDERED != 0,
                immediate: flags & FLAG_IMMEDIATE != 0,
                // Shared with the packet when it is most of it; a small payload in a large
                // packet is copied, so what a chunk keeps alive is at most twice its size.
                payload: if reader.0.len() * 2 >= packet.len() {
                    packet.slice_ref(reader.0)
                } else {
                    Bytes::copy_from_slice(reader.0)
                },
            })
        }
        kind::INIT | kind::INIT_ACK => {
            let mut init = Init {
                initiate_tag: reader.u32()?,
                a_rwnd: reader.u32()?,
                outbound_streams: reader.u16()?,
                inbound_streams: reader.u16()?,
                initial_tsn: reader.u32()?,
                ..Init::default()
            };
            for (kind, value) in params(reader.0)? {
                match kind {
                    param::STATE_COOKIE => init.cookie = Some(Bytes::copy_from_slice(value)),
                    param::FORWARD_TSN_SUPPORTED => init.forward_tsn = true,
                    param::SUPPORTED_EXTENSIONS => {
                        init.forward_tsn |= value.contains(&kind::FORWARD_TSN);
                        init.reconfig |= value.contains(&kind::RECONFIG);
                    }
                    _ => {}
                }
            }
            if kind == kind::INIT {
                Chunk::Init(init)
            } else {
                Chunk::InitAck(init)
            }
        }
        kind::SACK => {
            let cumulative = reader.u32()?;
            let a_rwnd = reader.u32()?;
            let gap_count = reader.u16()?;
            let duplicate_count = reader.u16()?;
            let mut gaps = Vec::new();
            for _ in 0..gap_count {
                gaps.push((reader.u16()?, reader.u16()?));
            }
            let mut duplicates = Vec::new();
            for _ in 0..duplicate_count {
                duplicates.push(reader.u32()?);
            }
            Chunk::Sack(Sack {
                cumulative,
                a_rwnd,
                gaps,
                duplicates,
            })
        }
        kind::HEARTBEAT | kind::HEARTBEAT_ACK => {
            let info = params(body)?
                .into_iter()
                .next()
                .map(|(_, value)| Bytes::copy_from_slice(value))
                .unwrap_or_default();
            if kind == kind::HEARTBEAT {
                Chunk::Heartbeat(info)
            } else {
                Chunk::HeartbeatAck(info)
            }
        }
        kind::ABORT => Chunk::Abort {
            reflected: flags & 1 != 0,
        },
        kind::SHUTDOWN => Chunk::Shutdown {
            cumulative: reader.u32()?,
        },
        kind::SHUTDOWN_ACK => Chunk::ShutdownAck,
        kind::SHUTDOWN_COMPLETE => Chunk::ShutdownComplete,
        kind::COOKIE_ECHO => Chunk::CookieEcho(Bytes::copy_from_slice(body)),
        kind::COOKIE_ACK => Chunk::CookieAck,
        kind::FORWARD_TSN => {
            let cumulative = reader.u32()?;
            let mut streams = Vec::new();
            while reader.0.len() >= 4 {
                streams.push((reader.u16()?, reader.u16()?));
            }
            Chunk::ForwardTsn {
                cumulative,
                streams,
            }
        }
        kind::RECONFIG => {
            let mut list = Vec::new();
            for (kind, value) in params(body)? {
                let mut reader = Reader(value);
                list.push(match kind {
                    13 => {
                        let request = reader.u32()?;
                        let response = reader.u32()?;
                        let last_tsn = reader.u32()?;
                        let mut streams = Vec::new();
                        while reader.0.len() >= 2 {
                            streams.push(reader.u16()?);
                        }
                        Reconfig::OutgoingReset {
                            request,
                            response,
                            last_tsn,
                            streams,
                        }
                    }
                    16 => Reconfig::Response {
                        request: reader.u32()?,
                        result: reader.u32()?,
                    },
                    _ => Reconfig::Other {
                        kind,
                        request: reader.u32().ok(),
                    },
                });
            }
            Chunk::Reconfig(list)
        }
        _ => Chunk::Unknown { kind },
    })
}

/// The (type, value) parameters of a chunk body.
fn params(mut body: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut list = Vec::new();
    while body.len() >= 4 {
        let mut reader = Reader(body);
        let kind = reader.u16()?;
        let length = usize::from(reader.u16()?);
        if length < 4 {
            return Err(DecodeError::Invalid("parameter length below its header"));
        }
        let value = reader.take(length - 4)?;
        list.push((kind, value));
        let padded = length.div_ceil(4) * 4;
        body = &body[padded.min(body.len())..];
    }
    Ok(list)
}

/// Reads big-endian fields, failing on a short buffer.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_survives_a_round_trip() {
        let packet = Packet {
            source_port: 5000,
            destination_port: 5000,
            verification_tag: 0xdead_beef,
            chunks: vec![
                Chunk::Init(Init {
                    initiate_tag: 7,
                    a_rwnd: 1 << 20,
                    outbound_streams: 1024,
                    inbound_streams: 1024,
                    initial_tsn: 42,
                    forward_tsn: true,
                    reconfig: true,
                    cookie: Some(Bytes::from_static(b"cookie!")),
                }),
                Chunk::Data(Data {
                    tsn: 9,
                    stream: 3,
                    ssn: 4,
                    ppid: 53,
                    begin: true,
                    end: false,
                    unordered: true,
                    immediate: true,
                    payload: Bytes::from_static(b"abcde"),
                }),
                Chunk::Sack(Sack {
                    cumulative: 8,
                    a_rwnd: 1000,
                    gaps: vec![(2, 3), (5, 5)],
                    duplicates: vec![4],
                }),
                Chunk::ForwardTsn {
                    cumulative: 11,
                    streams: vec![(1, 2)],
                },
                Chunk::Reconfig(vec![
                    Reconfig::OutgoingReset {
                        request: 1,
                        response: 2,
                        last_tsn: 3,
                        streams: vec![5],
                    },
                    Reconfig::Response {
                        request: 9,
                        result: reconfig_result::PERFORMED,
                    },
                ]),
                Chunk::Heartbeat(Bytes::from_static(b"hb")),
                Chunk::Abort { reflected: true },
                Chunk::CookieEcho(Bytes::from_static(b"cookie!")),
                Chunk::CookieAck,
            ],
        };
        assert_eq!(Packet::decode(&packet.encode().into()), Ok(packet));
    }

    #[test]
    fn counted_lengths_match_what_is_encoded() {
        let chunks = [
            Chunk::Data(Data {
                tsn: 1,
                stream: 0,
                ssn: 0,
                ppid: 53,
                begin: true,
                end: true,
                unordered: false,
                immediate: false,
                payload: Bytes::from_static(b"odd"),
            }),
            Chunk::Sack(Sack {
                cumulative: 1,
                a_rwnd: 2,
                gaps: vec![(2, 3)],
                duplicates: vec![9, 10],
            }),
            Chunk::ForwardTsn {
                cumulative: 3,
                streams: vec![(1, 1)],
            },
            Chunk::HeartbeatAck(Bytes::from_static(b"hello")),
            Chunk::CookieEcho(Bytes::from_static(b"cookie!")),
            Chunk::Shutdown { cumulative: 4 },
            Chunk::CookieAck,
        ];
        for chunk in chunks {
            let mut encoded = Vec::new();
            chunk.encode(&mut encoded);
            assert_eq!(chunk.encoded_len(), encoded.len(), "{chunk:?}");
        }
    }

    #[test]
    fn damaged_or_short_packets_are_refused_without_panicking() {
        let bytes = Packet {
            source_port: 5000,
            destination_port: 5000,
            verification_tag: 1,
            chunks: vec![Chunk::CookieAck],
        }
        .encode();
        let mut damaged = bytes.clone();
        damaged[12] ^= 1;
        assert_eq!(Packet::decode(&damaged.into()), Err(DecodeError::Checksum));
        for len in 0..bytes.len() {
            assert!(Packet::decode(&Bytes::copy_from_slice(&bytes[..len])).is_err());
        }
        // A chunk whose length exceeds the packet, checksum fixed up.
        let mut long = bytes.clone();
        long[14..16].copy_from_slice(&400u16.to_be_bytes());
        long[8..12].fill(0);
        let sum = crc32c(&long);
        long[8..12].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(Packet::decode(&long.into()), Err(DecodeError::Truncated));
    }
}
