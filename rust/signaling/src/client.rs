//! A signaling client with a poll-style API: calls never wait for the network, and what
//! arrives is queued until [`SignalingClient::poll`] takes it, on the caller's thread.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::protocol::{Message, ParseError};

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The WebSocket is open; messages can be sent.
    Open,
    /// A message from the server.
    Message(Message),
    /// A frame from the server that is not a message of the protocol; it is skipped.
    Invalid(String),
    /// The connection ended (or never opened). Code 1006 with the error when no close frame
    /// came, as in browsers.
    Closed {
        /// The WebSocket close code.
        code: u16,
        /// The reason given.
        reason: String,
    },
}

enum Command {
    Send(String),
    Close,
}

/// One connection to a signaling server.
pub struct SignalingClient {
    commands: mpsc::UnboundedSender<Command>,
    events: Arc<Mutex<VecDeque<ClientEvent>>>,
}

impl SignalingClient {
    /// Starts connecting to `url` (`ws://host:port/path?token=...`) on `runtime`. The result
    /// arrives as [`ClientEvent::Open`] or [`ClientEvent::Closed`].
    pub fn connect(url: &str, runtime: &Handle) -> SignalingClient {
        let (commands, receiver) = mpsc::unbounded_channel();
        let events = Arc::new(Mutex::new(VecDeque::new()));
        runtime.spawn(run(url.to_string(), receiver, events.clone()));
        SignalingClient { commands, events }
    }

    /// Queues a message; false once the connection has ended.
    pub fn send(&self, message: &Message) -> bool {
        self.send_text(message.to_json())
    }

    /// Queues a raw text frame (tests use it to send what the protocol forbids).
    pub fn send_text(&self, text: String) -> bool {
        self.commands.send(Command::Send(text)).is_ok()
    }

    /// The next event, if any.
    pub fn poll(&self) -> Option<ClientEvent> {
        self.events.lock().pop_front()
    }

    /// Closes the connection (normal closure); a [`ClientEvent::Closed`] follows.
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

impl Drop for SignalingClient {
    fn drop(&mut self) {
        self.close();
    }
}

async fn run(
    url: String,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: Arc<Mutex<VecDeque<ClientEvent>>>,
) {
    let push = |event| events.lock().push_back(event);
    let ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            push(ClientEvent::Closed {
                code: 1006,
                reason: format!("cannot connect to {url}: {e}"),
            });
            return;
        }
    };
    push(ClientEvent::Open);
    let (mut sink, mut frames) = ws.split();
    let closed = loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(Frame::Text(text))) => match Message::parse(text.as_str()) {
                    Ok(message) => push(ClientEvent::Message(message)),
                    Err(ParseError::Format | ParseError::UnknownType) => {
                        push(ClientEvent::Invalid(text.to_string()))
                    }
                },
                Some(Ok(Frame::Close(frame))) => {
                    break match frame {
                        Some(f) => ClientEvent::Closed {
                            code: f.code.into(),
                            reason: f.reason.to_string(),
                        },
                        None => ClientEvent::Closed { code: 1005, reason: String::new() },
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break ClientEvent::Closed { code: 1006, reason: e.to_string() },
                None => break ClientEvent::Closed { code: 1006, reason: "connection lost".into() },
            },
            command = commands.recv() => match command {
                Some(Command::Send(text)) => {
                    if let Err(e) = sink.send(Frame::text(text)).await {
                        break ClientEvent::Closed { code: 1006, reason: e.to_string() };
                    }
                }
                Some(Command::Close) | None => {
                    let _ = sink.close().await;
                    break ClientEvent::Closed { code: 1000, reason: String::new() };
                }
            },
        }
    };
    // Let the closing handshake finish so the server sees a clean close.
    let _ = sink.close().await;
    push(closed);
}
