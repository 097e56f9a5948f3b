//! The hub on a WebSocket listener, running on a tokio runtime the caller provides.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{WebSocketConfig, frame::coding::CloseCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};

use crate::hub::{Close, ConnId, Hub, Limits, Output, reasons};

/// Where log lines go: one call per join, leave, refusal.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Frames waiting for one slow client before it is dropped: a client that does not read
/// must not grow the server's memory.
const OUTBOX: usize = 1024;
/// A TCP connection must finish the WebSocket handshake within this.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);
/// How often deadlines (join, seal) are checked.
const TICK: Duration = Duration::from_millis(50);

enum Outgoing {
    Text(String),
    Close(Close),
}

struct State {
    hub: Hub,
    outboxes: HashMap<ConnId, mpsc::Sender<Outgoing>>,
}

struct Shared {
    state: Mutex<State>,
    log: LogSink,
    stop: Notify,
}

impl Shared {
    /// Carries out what the hub asked for. Never waits: a full outbox drops its client.
    fn deliver(&self, state: &mut State, outputs: Vec<Output>) {
        let mut slow = Vec::new();
        for output in outputs {
            match output {
                Output::Send(conn, text) => {
                    if let Some(outbox) = state.outboxes.get(&conn)
                        && outbox.try_send(Outgoing::Text(text)).is_err()
                    {
                        slow.push(conn);
                    }
                }
                Output::Close(conn, close) => {
                    if let Some(outbox) = state.outboxes.remove(&conn) {
                        let _ = outbox.try_send(Outgoing::Close(close));
                    }
                }
                Output::Log(line) => (self.log)(&line),
            }
        }
        for conn in slow {
            // Closing the outbox ends the connection's task, which reports it closed.
            if state.outboxes.remove(&conn).is_some() {
                (self.log)(&format!(
                    "connection {conn} dropped: not reading its messages"
                ));
            }
        }
    }

    fn with_hub(&self, f: impl FnOnce(&mut Hub) -> Vec<Output>) {
        let mut state = self.state.lock();
        let outputs = f(&mut state.hub);
        self.deliver(&mut state, outputs);
    }
}

/// A running signaling server. Stops when [`stop`](Self::stop) is called or it is dropped.
pub struct SignalingServer {
    address: SocketAddr,
    shared: Arc<Shared>,
}

impl SignalingServer {
    /// Listens on `address` (port 0 picks a free one) and serves on `runtime`. Binding happens
    /// before this returns, so a port in use is reported here.
    pub fn start(
        address: SocketAddr,
        limits: Limits,
        runtime: &Handle,
        log: LogSink,
    ) -> io::Result<SignalingServer> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                hub: Hub::new(limits),
                outboxes: HashMap::new(),
            }),
            log,
            stop: Notify::new(),
        });
        runtime.spawn(accept_loop(listener, shared.clone(), runtime.clone()));
        runtime.spawn(tick_loop(Arc::downgrade(&shared)));
        (shared.log)(&format!("signaling server listening on ws://{address}"));
        Ok(SignalingServer { address, shared })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.shared.state.lock().hub.connection_count()
    }

    /// Open lobbies.
    pub fn lobby_count(&self) -> usize {
        self.shared.state.lock().hub.lobby_count()
    }

    /// Stops listening and closes every connection with "Server shutting down".
    pub fn stop(&self) {
        self.shared.stop.notify_one();
        self.shared.with_hub(Hub::close_all);
    }
}

impl Drop for SignalingServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, runtime: Handle) {
    loop {
        tokio::select! {
            _ = shared.stop.notified() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                runtime.spawn(serve(stream, shared.clone()));
            }
        }
    }
}

async fn tick_loop(shared: std::sync::Weak<Shared>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(shared) = shared.upgrade() else {
            break;
        };
        shared.with_hub(|hub| hub.tick(Instant::now()));
    }
}

/// The `token` query parameter of a request's URL.
fn token_of(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(str::to_string)
}

// The handshake callback's error type is tungstenite's HTTP response, large by its design.
#[allow(clippy::result_large_err)]
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let max = shared.state.lock().hub.limits().max_message_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let mut token = None;
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        |request: &Request, response: Response| {
            token = token_of(request);
            Ok(response)
        },
        Some(config),
    );
    let Ok(Ok(ws)) = tokio::time::timeout(HANDSHAKE_DEADLINE, handshake).await else {
        return;
    };
    let (mut sink, mut frames) = ws.split();

    let (outbox, mut outgoing) = mpsc::channel(OUTBOX);
    let opened = {
        let mut state = shared.state.lock();
        let opened = state.hub.open(Instant::now(), token.as_deref());
        if let Ok(conn) = opened {
            state.outboxes.insert(conn, outbox);
        }
        opened
    };
    let conn = match opened {
        Ok(conn) => conn,
        Err(close) => {
            (shared.log)(&format!("connection refused: {}", close.reason));
            let _ = sink.send(close_frame(&close)).await;
            return;
        }
    };

    loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(Frame::Text(text))) => {
                    shared.with_hub(|hub| hub.receive(conn, text.as_str(), Instant::now()));
                }
                Some(Ok(Frame::Binary(_))) => shared.with_hub(|hub| hub.receive_binary(conn)),
                Some(Ok(Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_))) => {}
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                    // The stream is unusable after this error: say why now, then end.
                    shared.with_hub(|hub| hub.receive_oversized(conn));
                    let _ = sink.send(close_frame(&reasons::TOO_LARGE)).await;
                    break;
                }
                Some(Ok(Frame::Close(_)) | Err(_)) | None => break,
            },
            next = outgoing.recv() => match next {
                Some(Outgoing::Text(text)) => {
                    if sink.send(Frame::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(close)) => {
                    let _ = sink.send(close_frame(&close)).await;
                    // Give the client a moment to answer the close, then drop the socket.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Some(Ok(_)) = frames.next().await {}
                    })
                    .await;
                    break;
                }
                None => break,
            },
        }
    }
    shared.with_hub(|hub| hub.closed(conn));
}

fn close_frame(close: &Close) -> Frame {
    Frame::Close(Some(CloseFrame {
        code: CloseCode::from(close.code),
        reason: close.reason.into(),
    }))
}
