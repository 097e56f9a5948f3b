//! What the test files share: a server on loopback that keeps its log, a client of the crate
//! that reads everything as it arrives, and a WebSocket client on a plain TCP socket that sends
//! any bytes and reads only when asked.

// Each test file uses a part of it.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::runtime::Runtime;
use webrtc_mesh_signaling::{
    ClientEvent, Limits, Message, MessageType, SignalingClient, SignalingServer,
};

pub static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

pub const WAIT: Duration = Duration::from_secs(5);
pub const MIB: usize = 1024 * 1024;

pub const FIN: u8 = 0x80;
pub const RSV1: u8 = 0x40;
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

pub struct Server {
    pub server: SignalingServer,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(limits: Limits) -> Server {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let server = SignalingServer::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            limits,
            RUNTIME.handle(),
            Arc::new(move |line: &str| sink.lock().push(line.to_string())),
        )
        .unwrap();
        Server { server, log }
    }

    pub fn address(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.address())
    }

    pub fn client(&self) -> Client {
        Client::open(&self.url())
    }

    pub fn raw(&self) -> Raw {
        Raw::open(self.address())
    }

    /// Waits until a log line contains `text`.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.log.lock().iter().any(|line| line.contains(text)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

/// A client of the crate, reading everything as it arrives.
pub struct Client {
    inner: SignalingClient,
}

impl Client {
    pub fn open(url: &str) -> Client {
        let inner = SignalingClient::connect(url, RUNTIME.handle());
        let client = Client { inner };
        assert_eq!(client.next(), ClientEvent::Open);
        client
    }

    pub fn next(&self) -> ClientEvent {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(event) = self.inner.poll() {
                return event;
            }
            assert!(Instant::now() < deadline, "no event within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn expect(&self, kind: MessageType) -> Message {
        match self.next() {
            ClientEvent::Message(m) if m.kind == kind => m,
            other => panic!("expected {kind:?}, got {other:?}"),
        }
    }

    pub fn expect_closed(&self) -> (u16, String) {
        loop {
            match self.next() {
                ClientEvent::Closed { code, reason } => return (code, reason),
                ClientEvent::Message(_) => continue,
                other => panic!("expected a close, got {other:?}"),
            }
        }
    }

    /// Nothing arrives for a while.
    pub fn expect_quiet(&self, wait: Duration) {
        std::thread::sleep(wait);
        assert_eq!(self.inner.poll(), None, "unexpected event");
    }

    pub fn send(&self, kind: MessageType, id: i64, data: &str) {
        assert!(self.inner.send(&Message::new(kind, id, data)));
    }

    pub fn raw(&self, text: &str) {
        assert!(self.inner.send_text(text.to_string()));
    }

    /// Joins (or with "" creates) a lobby; returns (assigned id, lobby name, peers announced).
    pub fn join(&self, lobby: &str, mesh: bool) -> (i64, String, Vec<i64>) {
        self.send(MessageType::Join, if mesh { 0 } else { 1 }, lobby);
        let id = self.expect(MessageType::Id);
        if lobby.is_empty() {
            assert_eq!(
                id.data,
                if mesh { "true" } else { "" },
                "mode of a new lobby"
            );
        }
        let mut peers = Vec::new();
        loop {
            match self.next() {
                ClientEvent::Message(m) if m.kind == MessageType::PeerConnect => peers.push(m.id),
                ClientEvent::Message(m) if m.kind == MessageType::Join => {
                    return (id.id, m.data, peers);
                }
                other => panic!("unexpected {other:?} while joining"),
            }
        }
    }
}

/// A client frame: masked, as clients must send them.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    encode(first, payload, true)
}

pub fn encode(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

pub fn text_frame(message: &Message) -> Vec<u8> {
    frame(FIN | TEXT, message.to_json().as_bytes())
}

/// A WebSocket client on a plain TCP socket: writes any bytes, reads only when asked.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn open(address: SocketAddr) -> Raw {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        // Byte by byte, so nothing after the response is taken from the socket.
        let mut response = Vec::new();
        let mut byte = [0u8; 1];
        while !response.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            response.push(byte[0]);
        }
        assert!(
            response.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&response)
        );
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends `bytes` up to `times` times; stops at the first failed write, since a flooder's
    /// writes fail once the server has closed it.
    pub fn send_until_refused(&mut self, bytes: &[u8], times: usize) {
        for _ in 0..times {
            if self.send(bytes).is_err() {
                break;
            }
        }
    }

    pub fn send_message(&mut self, kind: MessageType, id: i64, data: &str) {
        self.send(&text_frame(&Message::new(kind, id, data)))
            .unwrap();
    }

    /// The next frame: its first byte (FIN, RSV, opcode) and payload.
    pub fn read_frame(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head)?;
        let length = match head[1] & 0x7F {
            126 => {
                let mut n = [0u8; 2];
                self.stream.read_exact(&mut n)?;
                u64::from(u16::from_be_bytes(n))
            }
            127 => {
                let mut n = [0u8; 8];
                self.stream.read_exact(&mut n)?;
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        assert_eq!(head[1] & 0x80, 0, "the server masked a frame");
        let mut payload = vec![0u8; length as usize];
        self.stream.read_exact(&mut payload)?;
        Ok((head[0], payload))
    }

    /// Reads past anything else up to the close frame; its code and reason, or what ended
    /// the connection without one.
    pub fn close_frame(&mut self) -> Result<(u16, String), String> {
        loop {
            let (first, payload) = self
                .read_frame()
                .map_err(|e| format!("no close frame: {e}"))?;
            if first & 0x0F == CLOSE {
                if payload.len() < 2 {
                    return Err("close frame without a code".into());
                }
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return Ok((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
            }
        }
    }

    /// The next protocol message, skipping control frames.
    pub fn message(&mut self) -> Message {
        loop {
            let (first, payload) = self.read_frame().unwrap();
            match first & 0x0F {
                TEXT => return Message::parse(std::str::from_utf8(&payload).unwrap()).unwrap(),
                CLOSE => panic!("closed: {:?}", String::from_utf8_lossy(&payload)),
                _ => {}
            }
        }
    }

    /// Joins (or with "" creates) a mesh lobby; its id and the lobby's name.
    pub fn join(&mut self, lobby: &str) -> (i64, String) {
        self.send_message(MessageType::Join, 0, lobby);
        let id = self.message();
        assert_eq!(id.kind, MessageType::Id);
        loop {
            let m = self.message();
            match m.kind {
                MessageType::PeerConnect => {}
                MessageType::Join => return (id.id, m.data),
                other => panic!("{other:?} while joining"),
            }
        }
    }
}
