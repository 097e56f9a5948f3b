//! The UDP sockets of a connection: binding one per local address, segmented sends (GSO) and
//! coalesced reads (GRO) where the kernel offers them.

use std::cell::RefCell;
use std::io::{ErrorKind, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;

use bytes::BytesMut;
use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::error::{Error, Result};
use crate::runtime::Runtime;

/// Room for one read: a datagram, or the run of datagrams the kernel coalesced (GRO) into it.
const READ_SLOT: usize = 64 * 1024;

/// Most bytes handed to the kernel in one segmented (GSO) send.
const GSO_BYTES: usize = 64 * 1024;

/// One local UDP socket: its address (the host candidate), a handle for sending from any
/// thread, the reactor's handle for the reading task, and the batching state (segmented sends
/// and coalesced reads where the kernel offers them).
pub(super) struct Socket {
    pub(super) local: SocketAddr,
    send: StdUdpSocket,
    pub(super) recv: Arc<UdpSocket>,
    batch: UdpSocketState,
}

thread_local! {
    // The read buffer, one per runtime thread rather than per connection: a 16-peer mesh has
    // 240 connections, and only the one being read needs it. One buffer per call, not a
    // `recvmmsg` batch: with eight, 1% of round trips took ~4 ms here (p99 189 us with one),
    // and coalesced reads already bring a burst in at once.
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Binds one socket per address. An address that refuses the bind (an interface going down,
/// say) only loses its candidate; none bound is an error.
pub(super) fn bind_all(runtime: &Runtime, addresses: &[SocketAddr]) -> Result<Vec<Socket>> {
    let mut sockets = Vec::with_capacity(addresses.len());
    let mut failure = None;
    for address in addresses {
        match bind(runtime, *address) {
            Ok(socket) => sockets.push(socket),
            Err(e) => failure = Some(Error::Io(format!("cannot bind UDP {address}: {e}"))),
        }
    }
    if sockets.is_empty() {
        return Err(failure.unwrap_or_else(|| Error::Io("no local address to bind".into())));
    }
    Ok(sockets)
}

/// Datagrams gathered for one segmented send: all `size` bytes but the last, which may be
/// shorter and ends the run.
#[derive(Default)]
pub(super) struct Run {
    socket: usize,
    destination: Option<SocketAddr>,
    size: usize,
    count: usize,
    last_short: bool,
    bytes: Vec<u8>,
}

impl Run {
    /// Adds a datagram for `to` from `sockets[socket]`, sending what was gathered first when
    /// the datagram cannot join it.
    pub(super) fn push(&mut self, sockets: &[Socket], socket: usize, to: SocketAddr, data: &[u8]) {
        let Some(state) = sockets.get(socket) else {
            return;
        };
        let len = data.len();
        if !self.extends(socket, to, len, state.batch.max_gso_segments()) {
            self.send(sockets);
            self.start(socket, to, len);
        }
        self.bytes.extend_from_slice(data);
        self.count += 1;
        // Segments are all one size; a shorter datagram can only be the last.
        self.last_short = len < self.size;
    }

    fn extends(&self, socket: usize, to: SocketAddr, len: usize, max_segments: usize) -> bool {
        self.destination == Some(to)
            && self.socket == socket
            && !self.last_short
            && len <= self.size
            && self.count < max_segments
            && self.bytes.len() + len <= GSO_BYTES
    }

    fn start(&mut self, socket: usize, to: SocketAddr, len: usize) {
        self.socket = socket;
        self.destination = Some(to);
        self.size = len;
        self.count = 0;
        self.last_short = false;
        self.bytes.clear();
    }

    /// Sends what was gathered.
    pub(super) fn send(&mut self, sockets: &[Socket]) {
        let (Some(destination), Some(socket)) = (self.destination, sockets.get(self.socket)) else {
            return;
        };
        if self.count > 0 {
            let transmit = Transmit {
                destination,
                ecn: None,
                contents: &self.bytes,
                segment_size: (self.count > 1).then_some(self.size),
                src_ip: None,
            };
            // A full send buffer drops the datagrams, as the network would: SCTP resends
            // what matters.
            let _ = socket
                .batch
                .try_send(UdpSockRef::from(&socket.send), &transmit);
        }
        self.destination = None;
        self.count = 0;
        self.bytes.clear();
    }
}

fn bind(runtime: &Runtime, address: SocketAddr) -> std::io::Result<Socket> {
    let socket = StdUdpSocket::bind(address)?;
    let sock = socket2::SockRef::from(&socket);
    // Kept at the system's size if refused: slower under bursts, still correct.
    if let Err(e) = sock
        .set_recv_buffer_size(runtime.socket_buffer_size())
        .and_then(|()| sock.set_send_buffer_size(runtime.socket_buffer_size()))
    {
        log::debug!("socket buffers of {address} stay at the system's size: {e}");
    }
    socket.set_nonblocking(true)?;
    let local = socket.local_addr()?;
    let batch = UdpSocketState::new(UdpSockRef::from(&socket))?;
    let send = socket.try_clone()?;
    let recv = Arc::new(UdpSocket::from_std(socket)?);
    Ok(Socket {
        local,
        send,
        recv,
        batch,
    })
}

/// One batched read into `batch`. False when nothing more is waiting.
pub(super) fn read_some(socket: &Socket, batch: &mut Vec<(BytesMut, SocketAddr)>) -> bool {
    READ_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.is_empty() {
            buffer.resize(READ_SLOT, 0);
        }
        let mut bufs = [IoSliceMut::new(&mut buffer)];
        let mut meta = [RecvMeta::default()];
        let read = socket.recv.try_io(Interest::READABLE, || {
            socket
                .batch
                .recv(UdpSockRef::from(&*socket.recv), &mut bufs, &mut meta)
        });
        match read {
            Ok(count) => {
                for (buf, meta) in bufs.iter().zip(&meta).take(count) {
                    let stride = meta.stride.max(1);
                    for datagram in buf[..meta.len].chunks(stride) {
                        batch.push((BytesMut::from(datagram), meta.addr));
                    }
                }
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            // An ICMP error of an earlier send (port unreachable): nothing read this time; the
            // next wake reads on.
            Err(_) => false,
        }
    })
}

/// The local addresses a host-only connection binds: the configured one, or for the
/// unspecified address one per usable interface of its family (an address no peer can reach
/// makes no candidate).
pub(crate) fn host_addresses(bind: SocketAddr) -> Vec<SocketAddr> {
    if !bind.ip().is_unspecified() {
        return vec![bind];
    }
    let mut addresses: Vec<SocketAddr> = Vec::new();
    if let Ok(interfaces) = rtc::shared::ifaces::ifaces() {
        for address in interfaces.into_iter().filter_map(|i| i.addr) {
            let ip = address.ip();
            let usable = ip.is_ipv4() == bind.is_ipv4()
                && !ip.is_loopback()
                && !ip.is_unspecified()
                && !is_link_local(ip);
            let address = SocketAddr::new(ip, bind.port());
            if usable && !addresses.contains(&address) {
                addresses.push(address);
            }
        }
    }
    if addresses.is_empty() {
        // No network but loopback: the wildcard still binds, and peers on this machine reach it.
        addresses.push(bind);
    }
    addresses
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}
