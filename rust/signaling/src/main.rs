//! `webrtc-mesh-signaling`: the signaling server as a program. Flags override the limits;
//! `--help` lists them. Logs a line per join and leave on standard output.

mod descriptors;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webrtc_mesh_signaling::{Limits, SignalingServer};

const HELP: &str = "\
webrtc-mesh-signaling: WebSocket signaling for WebRTC meshes, speaking the protocol of
Godot's WebRTC signaling demo.

Usage: webrtc-mesh-signaling [options]

  --port N                  port to listen on (default 9080; 0 picks one)
  --bind ADDRESS            address to listen on (default 0.0.0.0)
  --token SECRET            require ws://host:port/?token=SECRET
  --max-connections N       open connections (default 4096); the soft limit on open
                            files is raised to the hard one, with a warning if it
                            cannot hold them
  --max-lobbies N           open lobbies (default 1024)
  --max-peers-per-lobby N   peers per lobby, host included (default 64)
  --max-message-bytes N     largest message, received or as relayed (default 65535,
                            what Godot's WebSocketPeer takes by default)
  --max-queued-bytes N      bytes waiting for one connection (default 1048576), shared
                            by the peers sending to it; a peer over its share is closed
  --unread-timeout-ms N     close a connection that takes nothing this long while
                            messages wait for it (default 10000)
  --join-timeout-ms N       close connections that have not joined by then (default 1000)
  --rate N                  sustained messages per second per connection, pings and
                            every other frame included (default 100)
  --burst N                 messages at once before the rate applies (default 500)
  --seal-close-ms N         close a sealed lobby's connections after this (default 10000)
  --lobby-name-length N     characters of generated lobby names (default 16)
  --help                    this text
";

fn main() -> ExitCode {
    let (address, limits) = match parse(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("webrtc-mesh-signaling: {why}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    descriptors::raise_for(limits.max_connections);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("signaling")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("webrtc-mesh-signaling: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let log = Arc::new(|line: &str| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        println!("[{}.{:03}] {line}", now.as_secs(), now.subsec_millis());
    });
    let server = match SignalingServer::start(address, limits, runtime.handle(), log) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("webrtc-mesh-signaling: cannot listen on {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Serves until the process is stopped.
    runtime.block_on(std::future::pending::<()>());
    drop(server);
    ExitCode::SUCCESS
}

type Parsed = Option<(SocketAddr, Limits)>;

fn parse(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut limits = Limits::default();
    let mut port: u16 = 9080;
    let mut bind: IpAddr = [0, 0, 0, 0].into();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a whole number"))
        };
        match flag.as_str() {
            "--port" => {
                port = number(value()?)?
                    .try_into()
                    .map_err(|_| "--port: at most 65535".to_string())?
            }
            "--bind" => {
                let v = value()?;
                bind = v
                    .parse()
                    .map_err(|_| format!("--bind: {v:?} is not an IP address"))?;
            }
            "--token" => limits.token = Some(value()?).filter(|t| !t.is_empty()),
            "--max-connections" => limits.max_connections = number(value()?)? as usize,
            "--max-lobbies" => limits.max_lobbies = number(value()?)? as usize,
            "--max-peers-per-lobby" => limits.max_peers_per_lobby = number(value()?)? as usize,
            "--max-message-bytes" => limits.max_message_bytes = number(value()?)? as usize,
            "--max-queued-bytes" => limits.max_queued_bytes = number(value()?)? as usize,
            "--unread-timeout-ms" => {
                limits.unread_timeout = Duration::from_millis(number(value()?)?)
            }
            "--join-timeout-ms" => limits.join_deadline = Duration::from_millis(number(value()?)?),
            "--rate" => limits.messages_per_second = number(value()?)? as f64,
            "--burst" => limits.message_burst = number(value()?)? as f64,
            "--seal-close-ms" => limits.seal_close_after = Duration::from_millis(number(value()?)?),
            "--lobby-name-length" => {
                limits.lobby_name_length = number(value()?)?.clamp(4, 64) as usize
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some((SocketAddr::new(bind, port), limits)))
}
