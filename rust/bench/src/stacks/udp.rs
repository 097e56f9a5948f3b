//! The floors: raw UDP datagrams on loopback, and the same with every datagram sealed and
//! opened with AES-128-GCM (what any encrypted datagram transport must at least spend).
//! Nothing is retransmitted. Messages larger than one datagram are cut into pieces of
//! `PIECE` bytes, as every stack here does below its MTU.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};

use ring::aead::{AES_128_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use socket2::SockRef;

use crate::net::Net;

/// Payload bytes per datagram: about what fits a 1280-byte path MTU after IP and UDP headers.
const PIECE: usize = 1200;
/// Same socket buffers as our runtime gives its sockets.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;
const LAST_PIECE: u8 = 1;
const TAG_LEN: usize = 16;

struct Udp {
    sockets: Vec<UdpSocket>,
    addresses: Vec<SocketAddr>,
    node_of_port: HashMap<u16, usize>,
    key: Option<LessSafeKey>,
    sealed_count: Vec<u64>,
    // partial[node * n + source]: pieces of a message still arriving.
    partial: Vec<Vec<u8>>,
    datagram: Vec<u8>,
}

/// Raw UDP.
pub fn connect_raw(n: usize) -> Result<Box<dyn Net>, String> {
    Ok(Box::new(Udp::new(n, None)?))
}

/// UDP with AES-128-GCM per datagram.
pub fn connect_sealed(n: usize) -> Result<Box<dyn Net>, String> {
    let key = UnboundKey::new(&AES_128_GCM, &[0x5a; 16]).map_err(|e| e.to_string())?;
    Ok(Box::new(Udp::new(n, Some(LessSafeKey::new(key)))?))
}

impl Udp {
    fn new(n: usize, key: Option<LessSafeKey>) -> Result<Udp, String> {
        let mut sockets = Vec::new();
        let mut addresses = Vec::new();
        let mut node_of_port = HashMap::new();
        for node in 0..n {
            let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            socket.set_nonblocking(true).map_err(|e| e.to_string())?;
            let sock = SockRef::from(&socket);
            let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
            let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
            let address = socket.local_addr().map_err(|e| e.to_string())?;
            node_of_port.insert(address.port(), node);
            sockets.push(socket);
            addresses.push(address);
        }
        Ok(Udp {
            sockets,
            addresses,
            node_of_port,
            key,
            sealed_count: vec![0; n],
            partial: vec![Vec::new(); n * n],
            datagram: vec![0; 65_536],
        })
    }

    fn nonce(from: usize, count: u64) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..4].copy_from_slice(&(from as u32).to_be_bytes());
        nonce[4..].copy_from_slice(&count.to_be_bytes());
        nonce
    }

    /// Sends one piece; false if the socket buffer is full.
    fn send_piece(&mut self, from: usize, to: usize, flags: u8, piece: &[u8]) -> bool {
        let out = &mut self.datagram;
        out.clear();
        let len = match &self.key {
            None => {
                out.push(flags);
                out.extend_from_slice(piece);
                out.len()
            }
            Some(key) => {
                let count = self.sealed_count[from];
                self.sealed_count[from] += 1;
                let nonce = Self::nonce(from, count);
                out.extend_from_slice(&nonce);
                out.push(flags);
                out.extend_from_slice(piece);
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::empty(),
                        &mut out[NONCE_LEN..],
                    )
                    .expect("sealing fits");
                out.extend_from_slice(tag.as_ref());
                out.len()
            }
        };
        match self.sockets[from].send_to(&self.datagram[..len], self.addresses[to]) {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(_) => false,
        }
    }
}

impl Net for Udp {
    fn send(&mut self, from: usize, to: usize, data: &[u8], _reliable: bool) -> bool {
        let pieces: Vec<&[u8]> = if data.is_empty() {
            vec![data]
        } else {
            data.chunks(PIECE).collect()
        };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            let flags = if i == last { LAST_PIECE } else { 0 };
            while !self.send_piece(from, to, flags, piece) {
                if i == 0 {
                    return false; // nothing of the message left yet
                }
                std::thread::yield_now(); // the rest must follow
            }
        }
        true
    }

    fn poll(&mut self, node: usize, sink: &mut dyn FnMut(usize, &[u8])) {
        let n = self.sockets.len();
        let mut buf = [0u8; 2048];
        loop {
            let (len, source) = match self.sockets[node].recv_from(&mut buf) {
                Ok(received) => received,
                Err(_) => return,
            };
            let Some(&from) = self.node_of_port.get(&source.port()) else {
                continue;
            };
            let body = match &self.key {
                None => &buf[..len],
                Some(key) => {
                    if len < NONCE_LEN + TAG_LEN + 1 {
                        continue;
                    }
                    let nonce = Nonce::try_assume_unique_for_key(&buf[..NONCE_LEN]).unwrap();
                    match key.open_in_place(nonce, Aad::empty(), &mut buf[NONCE_LEN..len]) {
                        Ok(plain) => &*plain,
                        Err(_) => continue,
                    }
                }
            };
            let (flags, piece) = (body[0], &body[1..]);
            let partial = &mut self.partial[node * n + from];
            if flags & LAST_PIECE != 0 && partial.is_empty() {
                sink(from, piece);
            } else {
                partial.extend_from_slice(piece);
                if flags & LAST_PIECE != 0 {
                    sink(from, partial);
                    partial.clear();
                }
            }
        }
    }
}
