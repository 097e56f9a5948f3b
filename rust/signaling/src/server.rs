//! The hub on a WebSocket listener, running on a tokio runtime the caller provides.
//!
//! Each connection is one task that reads frames and writes its outbox at the same time.
//! However a connection ends, if its socket can still be written to it gets a close frame with
//! a code and a reason, and the socket then lingers until the client has read it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{WebSocketConfig, frame::coding::CloseCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};

use crate::hub::{Close, ConnId, Hub, Limits, Output, reasons};
use crate::outbox::{self, Full, Next, Outbox, Source};

/// Where log lines go: one call per join, leave, refusal.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

type Ws = WebSocketStream<TcpStream>;

/// A TCP connection must finish the WebSocket handshake within this.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);
/// How often deadlines (join, seal) are checked.
const TICK: Duration = Duration::from_millis(50);
/// Bytes of queued messages written to a socket at once.
const BATCH_BYTES: usize = 64 * 1024;
/// Room for pongs in the WebSocket's write buffer beyond a batch and a message. Pongs queue
/// there while the client's socket is full; once they fill it the client, which keeps pinging
/// without reading, is closed.
const PONG_ROOM: usize = 16 * 1024;
/// How long the close frame may take to be written.
const CLOSE_DEADLINE: Duration = Duration::from_secs(1);
/// After its close frame, a socket reads and discards what the client still sends, until the
/// client closes or this long: a socket closed with unread data is reset, and the reset can
/// overtake the close frame.
const LINGER: Duration = Duration::from_secs(1);
/// Accepting that fails for want of descriptors (or memory) is retried this often: at once,
/// it would fail again in a loop that takes a whole core.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

struct State {
    hub: Hub,
    outboxes: HashMap<ConnId, Arc<Outbox>>,
}

impl State {
    /// Queues a message within its source's share of the connection's budget.
    fn push(&self, to: ConnId, source: Source, text: String) -> Result<(), Full> {
        let Some(outbox) = self.outboxes.get(&to) else {
            return Ok(());
        };
        let limits = self.hub.limits();
        let share = outbox::share(
            limits.max_queued_bytes,
            self.hub.senders_to(to),
            limits.max_message_bytes,
        );
        outbox.push(source, text, share)
    }
}

struct Shared {
    state: Mutex<State>,
    log: LogSink,
    stop: Notify,
}

impl Shared {
    /// Carries out what the hub asked for. Never waits: a message that does not fit closes
    /// whoever is filling the queue, and what that closing asks for is carried out in turn.
    fn deliver(&self, state: &mut State, outputs: Vec<Output>) {
        let mut work = VecDeque::from(outputs);
        while let Some(output) = work.pop_front() {
            match output {
                Output::Send(conn, text) => {
                    if state.push(conn, Source::Server, text).is_err() {
                        // The server's own messages are few and small: piled up, they say the
                        // client does not read.
                        work.extend(state.hub.disconnect(conn, reasons::NOT_READING));
                    }
                }
                Output::Relay { from, to, text } => {
                    if state.push(to, Source::Peer(from), text).is_err() {
                        // The sender has its share waiting already: it is the one sending too
                        // much, so it goes and the peer reading stays.
                        work.extend(state.hub.disconnect(from, reasons::PEER_BACKLOG));
                    }
                }
                Output::Close(conn, close) => {
                    if let Some(outbox) = state.outboxes.remove(&conn) {
                        outbox.close(close);
                    }
                }
                Output::Log(line) => (self.log)(&line),
            }
        }
    }

    fn with_hub(&self, f: impl FnOnce(&mut Hub) -> Vec<Output>) {
        let mut state = self.state.lock();
        let outputs = f(&mut state.hub);
        self.deliver(&mut state, outputs);
    }

    /// The connection ended without the hub closing it.
    fn gone(&self, conn: ConnId) {
        let mut state = self.state.lock();
        state.outboxes.remove(&conn);
        let outputs = state.hub.closed(conn);
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
    // Accept errors since the last success: logged once when they start and once when they end.
    let mut failed: u64 = 0;
    loop {
        let accepted = tokio::select! {
            _ = shared.stop.notified() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                if failed > 0 {
                    (shared.log)(&format!(
                        "accepting connections again after {failed} failed attempts"
                    ));
                    failed = 0;
                }
                let _ = stream.set_nodelay(true);
                runtime.spawn(serve(stream, shared.clone()));
            }
            // The connection went away before it was accepted: the next one may be fine.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                ) => {}
            Err(e) => {
                if failed == 0 {
                    (shared.log)(&format!(
                        "cannot accept connections: {e}; retrying every {} ms",
                        ACCEPT_RETRY.as_millis()
                    ));
                }
                failed += 1;
                tokio::select! {
                    _ = shared.stop.notified() => break,
                    _ = tokio::time::sleep(ACCEPT_RETRY) => {}
                }
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

/// How a connection's task ended.
enum Ending {
    /// The socket broke or the client vanished: nothing can be sent.
    Gone,
    /// The client sent a close frame; tungstenite has queued the answer.
    ClosedByClient,
    /// The client broke the WebSocket protocol.
    Violation(Close),
    /// The hub closed the connection; what was queued before is written.
    Closed(Close),
    /// The client's socket took nothing for `unread_timeout`, or its pongs filled the room.
    NotReading,
}

// The handshake callback's error type is tungstenite's HTTP response, large by its design.
#[allow(clippy::result_large_err)]
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (max, unread_timeout) = {
        let state = shared.state.lock();
        let limits = state.hub.limits();
        (limits.max_message_bytes, limits.unread_timeout)
    };
    // The write buffer holds at most a batch, one message and some pongs, whatever the client
    // does; without a bound it would grow by a pong per ping from a client that never reads.
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .write_buffer_size(BATCH_BYTES)
        .max_write_buffer_size(BATCH_BYTES.saturating_add(max).saturating_add(PONG_ROOM));
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

    let outbox = Arc::new(Outbox::new());
    let opened = {
        let mut state = shared.state.lock();
        let opened = state.hub.open(Instant::now(), token.as_deref());
        if let Ok(conn) = opened {
            state.outboxes.insert(conn, outbox.clone());
        }
        opened
    };
    let conn = match opened {
        Ok(conn) => conn,
        Err(close) => {
            (shared.log)(&format!("connection refused: {}", close.reason));
            close_gracefully(ws, Some(&close)).await;
            return;
        }
    };

    let (mut sink, mut frames) = ws.split();
    let ending = tokio::select! {
        ending = read(&mut frames, &shared, conn) => ending,
        ending = write(&mut sink, &outbox, unread_timeout) => ending,
    };
    let close = match ending {
        Ending::Gone => {
            shared.gone(conn);
            return;
        }
        Ending::ClosedByClient => {
            shared.gone(conn);
            None
        }
        Ending::Violation(close) => {
            shared.with_hub(|hub| hub.disconnect(conn, close.clone()));
            Some(close)
        }
        Ending::Closed(close) => Some(close),
        Ending::NotReading => {
            shared.with_hub(|hub| hub.disconnect(conn, reasons::NOT_READING));
            Some(reasons::NOT_READING)
        }
    };
    if let Ok(ws) = sink.reunite(frames) {
        close_gracefully(ws, close.as_ref()).await;
    }
}

/// Reads frames into the hub until the connection ends.
async fn read(frames: &mut SplitStream<Ws>, shared: &Shared, conn: ConnId) -> Ending {
    while let Some(frame) = frames.next().await {
        let now = Instant::now();
        match frame {
            Ok(Frame::Text(text)) => {
                shared.with_hub(|hub| hub.receive(conn, text.as_str(), now));
            }
            Ok(Frame::Binary(_)) => shared.with_hub(|hub| hub.receive_binary(conn)),
            Ok(Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_)) => {
                shared.with_hub(|hub| hub.receive_control(conn, now));
            }
            Ok(Frame::Close(_)) => return Ending::ClosedByClient,
            Err(e) => return violation(&e).map_or(Ending::Gone, Ending::Violation),
        }
    }
    Ending::Gone
}

/// The close for a read error that breaks the WebSocket protocol; none when the socket itself
/// failed, since nothing can be sent then.
fn violation(error: &WsError) -> Option<Close> {
    Some(match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => reasons::TOO_LARGE,
        WsError::Utf8(_) => reasons::NOT_UTF8,
        WsError::Protocol(protocol) => match protocol {
            ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::SendAfterClosing
            | ProtocolError::ReceivedAfterClosing => return None,
            ProtocolError::UnmaskedFrameFromClient => reasons::UNMASKED,
            ProtocolError::NonZeroReservedBits => reasons::RESERVED_BITS,
            ProtocolError::UnknownControlFrameType(_)
            | ProtocolError::UnknownDataFrameType(_)
            | ProtocolError::InvalidOpcode(_) => reasons::UNKNOWN_OPCODE,
            ProtocolError::FragmentedControlFrame => reasons::FRAGMENTED_CONTROL,
            ProtocolError::ControlFrameTooBig => reasons::CONTROL_TOO_LARGE,
            ProtocolError::UnexpectedContinueFrame | ProtocolError::ExpectedFragment(_) => {
                reasons::BAD_FRAGMENTS
            }
            _ => reasons::PROTOCOL_ERROR,
        },
        WsError::Capacity(_) | WsError::AttackAttempt => reasons::PROTOCOL_ERROR,
        _ => return None,
    })
}

/// Writes the outbox to the socket until the hub closes the connection.
async fn write(
    sink: &mut SplitSink<Ws, Frame>,
    outbox: &Outbox,
    unread_timeout: Duration,
) -> Ending {
    loop {
        let (texts, taken) = match outbox.next(BATCH_BYTES).await {
            Next::Send(texts, taken) => (texts, taken),
            Next::Close(close) => return Ending::Closed(close),
        };
        let written = tokio::time::timeout(unread_timeout, async {
            for text in texts {
                sink.feed(Frame::text(text)).await?;
            }
            sink.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => outbox.written(taken),
            // Nothing taken for that long, or the pongs of a client that pings without reading
            // filled the write buffer.
            Err(_) | Ok(Err(WsError::WriteBufferFull(_))) => return Ending::NotReading,
            Ok(Err(_)) => return Ending::Gone,
        }
    }
}

/// Sends the close frame (none when the client closed first: then its answer, queued by
/// tungstenite, is flushed), then ends the socket so that the client gets to read it.
async fn close_gracefully(mut ws: Ws, close: Option<&Close>) {
    let sent = tokio::time::timeout(CLOSE_DEADLINE, async {
        // Queued pongs first: nothing may follow the close frame.
        ws.flush().await?;
        match close {
            Some(close) => ws.send(close_frame(close)).await,
            None => Ok(()),
        }
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        // A client that takes nothing will not read a close frame either.
        return;
    }
    linger(ws.into_inner()).await;
}

/// Shuts the socket's sending side (the client sees the end after the close frame) and
/// discards what the client still sends until it closes too, for at most [`LINGER`]. Closing
/// with unread data would reset the connection, and the client could lose the close frame.
async fn linger(mut stream: TcpStream) {
    let _ = tokio::time::timeout(LINGER, async {
        if stream.shutdown().await.is_err() {
            return;
        }
        // Small: every connection closing at once would each hold one.
        let mut discard = vec![0u8; 4096];
        while let Ok(n) = stream.read(&mut discard).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

fn close_frame(close: &Close) -> Frame {
    Frame::Close(Some(CloseFrame {
        code: CloseCode::from(close.code),
        reason: close.reason.into(),
    }))
}
