//! TURN over TCP (`turn:host?transport=tcp`) and TLS (`turns:host`).
//!
//! The TURN client speaks in whole messages, as over UDP. Each TCP or TLS server gets a stream
//! the driver owns: the client's messages for the server go to [`Stream::send`], and what the
//! server sends is split into messages and handed back to the driver. TURN itself
//! (allocations, permissions, channels, credentials) stays the client's; the stream only moves
//! whole messages. On the stream a message is framed by its own length field, and ChannelData
//! is padded to a multiple of four bytes there (RFC 8656, section 12.5).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;

use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// How long reaching the TURN server may take before the stream gives up (ICE then gathers no
/// relay candidate from it, as with an unreachable UDP server).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the usual system bundles of certificate authorities live (Debian/Ubuntu, Fedora/RHEL,
/// macOS/BSD, openSUSE). `SSL_CERT_FILE` takes precedence.
const SYSTEM_CA_FILES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// A TURN server reached over a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamTarget {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

/// The TLS client configuration for `turns:` servers: the given PEM certificate authorities
/// plus the system's. Built once per distinct `extra_pem`, as parsing a system bundle takes
/// milliseconds.
pub(crate) fn tls_config(extra_pem: &str) -> Result<Arc<ClientConfig>> {
    static LAST: Mutex<Option<(String, Arc<ClientConfig>)>> = Mutex::new(None);
    let mut last = LAST.lock();
    if let Some((pem, config)) = last.as_ref()
        && pem == extra_pem
    {
        return Ok(config.clone());
    }
    let mut roots = RootCertStore::empty();
    // Lenient like the system bundle below: a bundle may hold certificates webpki cannot use
    // (Godot's system list does); the rest still count.
    let (usable, _) = roots.add_parsable_certificates(
        CertificateDer::pem_slice_iter(extra_pem.as_bytes()).filter_map(|c| c.ok()),
    );
    if usable == 0 && !extra_pem.trim().is_empty() {
        return Err(Error::InvalidConfig(
            "the TLS CA certificates hold no usable PEM certificate".into(),
        ));
    }
    if let Some(system) = system_ca_bundle() {
        roots.add_parsable_certificates(
            CertificateDer::pem_slice_iter(&system).filter_map(|c| c.ok()),
        );
    }
    if roots.is_empty() {
        return Err(Error::InvalidConfig(
            "no certificate authority to check turns: servers against: no system bundle was \
             found (SSL_CERT_FILE) and none was configured"
                .into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let config = Arc::new(config);
    *last = Some((extra_pem.to_owned(), config.clone()));
    Ok(config)
}

fn system_ca_bundle() -> Option<Vec<u8>> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return std::fs::read(file).ok();
    }
    SYSTEM_CA_FILES
        .iter()
        .map(Path::new)
        .find_map(|file| std::fs::read(file).ok())
}

/// Bytes of messages that may wait for a stream (while it connects, or when the server reads
/// slowly); past it messages are dropped, as a full socket buffer would drop them.
const OUTBOX_BYTES: usize = 1024 * 1024;

/// The driver's end of a stream to one TURN server. Dropping it ends the stream once what is
/// queued has been written (a Refresh that releases the allocation, say).
pub(crate) struct Stream {
    /// The address the server's TURN client sends to and hears from: a placeholder no datagram
    /// can come from (`0.0.0.0`, a port per stream), so only the stream carries it.
    pub(crate) address: SocketAddr,
    outbox: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
}

impl Stream {
    /// Queues one STUN or ChannelData message for the server.
    pub(crate) fn send(&self, message: &[u8]) {
        let len = message.len();
        if self.queued.fetch_add(len, Ordering::AcqRel) + len > OUTBOX_BYTES {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return;
        }
        // Room for ChannelData's padding on the stream.
        let mut framed = Vec::with_capacity(len + 3);
        framed.extend_from_slice(message);
        if self.outbox.send(framed).is_err() {
            self.queued.fetch_sub(len, Ordering::AcqRel);
        }
    }
}

/// A stream made but not yet running: [`Pending::run`] opens it once the driver exists.
pub(crate) struct Pending {
    target: StreamTarget,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    address: SocketAddr,
    outbox: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
}

/// Makes stream number `index` of a connection to `target`: the driver's end, and what runs it.
pub(crate) fn make(
    index: u16,
    target: StreamTarget,
    tls: Option<Arc<ClientConfig>>,
) -> Result<(Stream, Pending)> {
    let tls = match tls {
        Some(config) => {
            let name = ServerName::try_from(target.host.clone()).map_err(|e| {
                Error::InvalidConfig(format!("TURN host {:?} for TLS: {e}", target.host))
            })?;
            Some((config, name))
        }
        None => None,
    };
    let address = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), index.saturating_add(1));
    let (sender, receiver) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let stream = Stream {
        address,
        outbox: sender,
        queued: queued.clone(),
    };
    let pending = Pending {
        target,
        tls,
        address,
        outbox: receiver,
        queued,
    };
    Ok((stream, pending))
}

impl Pending {
    /// Connects and carries messages both ways until the driver drops its [`Stream`] (then
    /// what is queued is written first) or `deliver`, handed each message the server sends,
    /// returns false. An error ends the stream: the driver then sees the server as unreachable.
    pub(crate) async fn run(self, deliver: impl Fn(SocketAddr, BytesMut) -> bool) {
        let server = format!("{}:{}", self.target.host, self.target.port);
        if let Err(e) = self.carry(deliver).await {
            log::warn!("the TURN stream to {server} ended: {e}");
        }
    }

    async fn carry(mut self, deliver: impl Fn(SocketAddr, BytesMut) -> bool) -> io::Result<()> {
        let target = &self.target;
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        // Every message is a whole TURN packet that should leave now.
        tcp.set_nodelay(true)?;
        let mut tls = match self.tls.take() {
            Some((config, name)) => {
                Some(ClientConnection::new(config, name).map_err(io::Error::other)?)
            }
            None => None,
        };
        let (mut reader, mut writer) = tcp.into_split();
        let mut wire_out = Vec::new();
        if let Some(tls) = tls.as_mut() {
            send_tls(tls, &mut writer, &mut wire_out).await?; // ClientHello
        }
        let mut wire_in = vec![0u8; 65_536];
        // Stream bytes (after TLS) not yet split into messages.
        let mut pending: Vec<u8> = Vec::new();
        loop {
            tokio::select! {
                message = self.outbox.recv() => {
                    let Some(mut message) = message else {
                        return Ok(()); // the driver is done with this server
                    };
                    let n = message.len();
                    self.queued.fetch_sub(n, Ordering::AcqRel);
                    message.resize(n + 3, 0);
                    let Some(framed) = frame_for_stream(&mut message, n) else {
                        continue; // not TURN: nothing a server would accept
                    };
                    match tls.as_mut() {
                        None => writer.write_all(&message[..framed]).await?,
                        Some(tls) => {
                            tls.writer().write_all(&message[..framed])?;
                            send_tls(tls, &mut writer, &mut wire_out).await?;
                        }
                    }
                }
                read = reader.read(&mut wire_in) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(()); // the server closed the stream
                    }
                    match tls.as_mut() {
                        None => pending.extend_from_slice(&wire_in[..n]),
                        Some(tls) => {
                            let open = receive_tls(tls, &wire_in[..n], &mut pending)?;
                            // Handshake replies, key updates, alerts.
                            send_tls(tls, &mut writer, &mut wire_out).await?;
                            if !open {
                                return Ok(());
                            }
                        }
                    }
                    let mut start = 0;
                    while let Some((len, on_stream)) = next_message(&pending[start..])? {
                        let message = BytesMut::from(&pending[start..start + len]);
                        if !deliver(self.address, message) {
                            return Ok(());
                        }
                        start += on_stream;
                    }
                    pending.drain(..start);
                }
            }
        }
    }
}

/// Feeds TLS records to `tls` and appends the plaintext to `plain`; false once the server has
/// closed the TLS session.
fn receive_tls(
    tls: &mut ClientConnection,
    mut wire: &[u8],
    plain: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut buf = [0u8; 16_384];
    while !wire.is_empty() {
        tls.read_tls(&mut wire)?;
        tls.process_new_packets().map_err(io::Error::other)?;
        // Drained after every record batch so rustls's own buffers never fill.
        loop {
            match tls.reader().read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(k) => plain.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(true)
}

async fn send_tls(
    tls: &mut ClientConnection,
    writer: &mut OwnedWriteHalf,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    scratch.clear();
    while tls.wants_write() {
        tls.write_tls(scratch)?;
    }
    if !scratch.is_empty() {
        writer.write_all(scratch).await?;
    }
    Ok(())
}

/// Length of the message a datagram of `n` bytes holds once framed for a stream (ChannelData
/// padded with zeros in `buf`), or `None` for a datagram that is neither STUN nor ChannelData,
/// or is STUN whose length field does not match the datagram.
pub(crate) fn frame_for_stream(buf: &mut [u8], n: usize) -> Option<usize> {
    if n < 4 || n > buf.len() {
        return None;
    }
    let declared = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    match buf[0] >> 6 {
        // The server splits the stream by the length field: a STUN datagram longer or shorter
        // than it declares would put every later message out of step.
        0 if n == 20 + declared => Some(n),
        1 if n >= 4 + declared => {
            let len = 4 + declared;
            let padded = (len + 3) & !3;
            // A buffer too short for the padding (never the stream's own) drops the datagram.
            buf.get_mut(len..padded)?.fill(0);
            Some(padded)
        }
        _ => None,
    }
}

/// The next complete message at the start of `stream`: its length and the bytes it takes on
/// the stream (with ChannelData padding). `None` until it has fully arrived; an error for bytes
/// that are not TURN, after which the stream cannot be followed.
pub(crate) fn next_message(stream: &[u8]) -> io::Result<Option<(usize, usize)>> {
    if stream.len() < 4 {
        return Ok(None);
    }
    let declared = usize::from(u16::from_be_bytes([stream[2], stream[3]]));
    let (len, on_stream) = match stream[0] >> 6 {
        0 => (20 + declared, 20 + declared),
        1 => (4 + declared, (4 + declared + 3) & !3),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the TURN server sent something that is neither STUN nor ChannelData",
            ));
        }
    };
    Ok((stream.len() >= on_stream).then_some((len, on_stream)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_is_padded_on_the_stream_and_unpadded_off_it() {
        // Channel 0x4000 carrying 5 bytes: 9 bytes as a datagram, 12 on a stream.
        let mut buf = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0xff, 0xff, 0xff];
        assert_eq!(frame_for_stream(&mut buf, 9), Some(12));
        assert_eq!(&buf[9..], &[0, 0, 0]);
        assert_eq!(next_message(&buf).unwrap(), Some((9, 12)));
        assert_eq!(next_message(&buf[..11]).unwrap(), None);
    }

    #[test]
    fn stun_messages_frame_by_their_length() {
        // A binding request header with 8 bytes of attributes.
        let mut msg = vec![0x00, 0x01, 0x00, 0x08];
        msg.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&[9; 8]);
        let n = msg.len();
        assert_eq!(frame_for_stream(&mut msg, n), Some(28));
        let mut stream = msg.clone();
        stream.extend_from_slice(&[0x40, 0x01]); // the start of the next message
        assert_eq!(next_message(&stream).unwrap(), Some((28, 28)));
        assert_eq!(next_message(&stream[..27]).unwrap(), None);
        assert!(next_message(&[0x80, 0, 0, 0]).is_err());
        assert_eq!(frame_for_stream(&mut [0xc0, 0, 0, 0], 4), None);
    }

    #[test]
    fn framing_never_reaches_past_the_buffer() {
        // ChannelData of 5 bytes in a 9-byte buffer: its padding would need 12.
        let mut short = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5];
        assert_eq!(frame_for_stream(&mut short, 9), None);
        assert_eq!(frame_for_stream(&mut [0x40, 0, 0, 0], 8), None);
    }

    #[test]
    fn stun_datagrams_that_misstate_their_length_are_dropped() {
        // A binding request header declaring no attributes, with 8 bytes behind it: sent on,
        // the server would read those 8 bytes as the start of the next message.
        let mut longer = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        longer.extend_from_slice(&[7; 12]);
        longer.extend_from_slice(&[9; 8]);
        assert_eq!(frame_for_stream(&mut longer, 28), None);
        // Declaring 8 bytes of attributes with only 4 there: the server would take the first
        // 4 bytes of the next message as the rest of this one.
        let mut shorter = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
        shorter.extend_from_slice(&[7; 12]);
        shorter.extend_from_slice(&[9; 4]);
        assert_eq!(frame_for_stream(&mut shorter, 24), None);
    }
}
