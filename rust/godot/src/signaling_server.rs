use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use godot::global::Error as GdError;
use godot::prelude::*;
use parking_lot::Mutex;
use webrtc_mesh_core::Runtime;
use webrtc_mesh_signaling::{Limits, SignalingServer};

use crate::errors;

/// A WebRTC signaling server inside the game, so a small game needs no separate server.
///
/// It speaks the protocol of Godot's WebRTC signaling demo (lobbies, host id 1, offers,
/// answers and candidates relayed with the sender's id, seal), so
/// [code]WebRTCMeshSession[/code] and the demo's own clients connect to it. It runs on the
/// extension's network threads: [code]listen()[/code] and it serves, with nothing to poll.
/// Call [code]poll()[/code] only to receive its log lines as [signal log_message].
/// [codeblock]
/// var server := WebRTCSignalingServer.new()
/// server.listen(9080)
/// [/codeblock]
/// Limits are properties; set them before [code]listen()[/code].
#[derive(GodotClass)]
#[class(base = RefCounted, rename = WebRTCSignalingServer)]
pub struct MeshSignalingServer {
    base: Base<RefCounted>,
    server: Option<SignalingServer>,
    // Keeps the extension's runtime alive while the server runs on it.
    runtime: Option<Runtime>,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Address to listen on: [code]"*"[/code] for every interface, or an IP such as
    /// [code]"127.0.0.1"[/code].
    #[var]
    bind_address: GString,
    /// Shared secret clients must give as [code]?token=...[/code] in the URL; empty for none.
    #[var]
    token: GString,
    /// Open WebSocket connections at most.
    #[var]
    max_connections: i64,
    /// Open lobbies at most.
    #[var]
    max_lobbies: i64,
    /// Peers in one lobby at most, host included.
    #[var]
    max_peers_per_lobby: i64,
    /// Largest message in bytes, measured as relayed; a larger one closes its connection. The
    /// default, 65535, is what Godot's [WebSocketPeer] takes by default.
    #[var]
    max_message_bytes: i64,
    /// Bytes that may wait to be sent to one connection, shared by the peers that may send to
    /// it (each share at least [member max_message_bytes]). A peer whose messages pile up
    /// beyond its share is closed, never the peer reading them.
    #[var]
    max_queued_bytes: i64,
    /// Seconds a connection may take nothing of what waits for it before it is closed as not
    /// reading.
    #[var]
    unread_timeout: f64,
    /// Seconds a connection has to join a lobby before it is closed.
    #[var]
    join_timeout: f64,
    /// Sustained messages per second per connection; a faster one is closed.
    #[var]
    messages_per_second: f64,
    /// Messages a connection may send at once before the rate applies.
    #[var]
    message_burst: f64,
    /// Seconds after a seal before the lobby's connections are closed.
    #[var]
    seal_close_time: f64,
    /// Whether [code]poll()[/code] also prints each log line.
    #[var]
    print_log: bool,
}

#[godot_api]
impl IRefCounted for MeshSignalingServer {
    fn init(base: Base<RefCounted>) -> Self {
        let limits = Limits::default();
        MeshSignalingServer {
            base,
            server: None,
            runtime: None,
            log: Arc::new(Mutex::new(VecDeque::new())),
            bind_address: "*".into(),
            token: GString::new(),
            max_connections: limits.max_connections as i64,
            max_lobbies: limits.max_lobbies as i64,
            max_peers_per_lobby: limits.max_peers_per_lobby as i64,
            max_message_bytes: limits.max_message_bytes as i64,
            max_queued_bytes: limits.max_queued_bytes as i64,
            unread_timeout: limits.unread_timeout.as_secs_f64(),
            join_timeout: limits.join_deadline.as_secs_f64(),
            messages_per_second: limits.messages_per_second,
            message_burst: limits.message_burst,
            seal_close_time: limits.seal_close_after.as_secs_f64(),
            print_log: false,
        }
    }
}

#[godot_api]
impl MeshSignalingServer {
    /// A line of the server's log (a join, a leave, a refused connection); emitted by
    /// [code]poll()[/code].
    #[signal]
    fn log_message(line: GString);

    /// Starts serving on [code]port[/code] (0 picks a free one; see [code]get_port()[/code]).
    /// Returns [code]ERR_ALREADY_IN_USE[/code] if already listening,
    /// [code]ERR_INVALID_PARAMETER[/code] for a bad port or address, [code]ERR_CANT_CREATE[/code]
    /// if the port cannot be bound.
    #[func]
    fn listen(&mut self, port: i64) -> GdError {
        const CALL: &str = "WebRTCSignalingServer.listen";
        if self.server.is_some() {
            return errors::refuse(CALL, GdError::ERR_ALREADY_IN_USE, "already listening");
        }
        let Ok(port) = u16::try_from(port) else {
            return errors::refuse(
                CALL,
                GdError::ERR_INVALID_PARAMETER,
                "port must be 0 to 65535",
            );
        };
        let bind = self.bind_address.to_string();
        let ip: IpAddr = match bind.as_str() {
            "*" | "" => [0, 0, 0, 0].into(),
            other => match other.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    return errors::refuse(
                        CALL,
                        GdError::ERR_INVALID_PARAMETER,
                        &format!("bind_address {other:?} is not \"*\" or an IP address"),
                    );
                }
            },
        };
        let runtime = match Runtime::shared() {
            Ok(runtime) => runtime,
            Err(e) => return errors::report(CALL, &e),
        };
        let log = self.log.clone();
        let sink = Arc::new(move |line: &str| {
            let mut log = log.lock();
            // Unpolled logs must not grow without bound.
            if log.len() >= 1000 {
                log.pop_front();
            }
            log.push_back(line.to_string());
        });
        match SignalingServer::start(
            SocketAddr::new(ip, port),
            self.limits(),
            runtime.tokio_handle(),
            sink,
        ) {
            Ok(server) => {
                self.server = Some(server);
                self.runtime = Some(runtime);
                GdError::OK
            }
            Err(e) => errors::refuse(
                CALL,
                GdError::ERR_CANT_CREATE,
                &format!("cannot listen on {ip}:{port}: {e}"),
            ),
        }
    }

    /// Stops serving and closes every connection ("Server shutting down").
    #[func]
    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.runtime = None;
    }

    /// Whether it is serving.
    #[func]
    fn is_listening(&self) -> bool {
        self.server.is_some()
    }

    /// The port it listens on; 0 when not listening.
    #[func]
    fn get_port(&self) -> i64 {
        self.server
            .as_ref()
            .map_or(0, |s| i64::from(s.local_addr().port()))
    }

    /// Open WebSocket connections.
    #[func]
    fn get_connection_count(&self) -> i64 {
        self.server
            .as_ref()
            .map_or(0, |s| s.connection_count() as i64)
    }

    /// Open lobbies.
    #[func]
    fn get_lobby_count(&self) -> i64 {
        self.server.as_ref().map_or(0, |s| s.lobby_count() as i64)
    }

    /// Emits [signal log_message] for each log line since the last call (and prints them if
    /// [member print_log] is set). Serving does not depend on it.
    #[func]
    fn poll(&mut self) {
        let lines: Vec<String> = self.log.lock().drain(..).collect();
        for line in lines {
            if self.print_log {
                godot_print!("[signaling] {line}");
            }
            self.base_mut()
                .emit_signal("log_message", &[GString::from(line.as_str()).to_variant()]);
        }
    }
}

impl MeshSignalingServer {
    fn limits(&self) -> Limits {
        let count = |v: i64| usize::try_from(v).unwrap_or(0);
        let seconds =
            |v: f64| Duration::from_secs_f64(if v.is_finite() { v.max(0.0) } else { 0.0 });
        let token = self.token.to_string();
        Limits {
            max_connections: count(self.max_connections),
            max_lobbies: count(self.max_lobbies),
            max_peers_per_lobby: count(self.max_peers_per_lobby),
            max_message_bytes: count(self.max_message_bytes).max(1024),
            max_queued_bytes: count(self.max_queued_bytes),
            // Zero would close every connection at its first write.
            unread_timeout: seconds(self.unread_timeout).max(Duration::from_millis(100)),
            join_deadline: seconds(self.join_timeout),
            messages_per_second: self.messages_per_second.max(0.0),
            message_burst: self.message_burst.max(1.0),
            seal_close_after: seconds(self.seal_close_time),
            token: (!token.is_empty()).then_some(token),
            ..Limits::default()
        }
    }
}
