//! `webrtc-mesh-bots`: headless peers without a game engine. They join one lobby through a
//! signaling server, form a mesh, chat for a while, and each prints a JSON summary line:
//! the same scenario as the demo project's bots, on the engine-free core.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webrtc_mesh_core::{ConnectionConfig, Runtime, TransferMode};
use webrtc_mesh_session::{MeshSession, SessionConfig, SessionEvent};
use webrtc_mesh_signaling::{Limits, SignalingServer};

const HELP: &str = "\
webrtc-mesh-bots: engine-free peers that form a WebRTC mesh through a signaling server and chat.

Usage: webrtc-mesh-bots [options]

  --url URL             signaling server (default: start one in this process on 127.0.0.1)
  --peers N             bots (default 4)
  --seconds N           chat this long once the mesh is formed (default 3)
  --chat-interval-ms N  one chat message per bot this often (default 250)
  --help                this text
";

struct Options {
    url: Option<String>,
    peers: usize,
    seconds: f64,
    chat_interval: Duration,
}

struct Bot {
    session: MeshSession,
    id: i32,
    connected: Vec<i32>,
    chats_received: usize,
    chats_sent: usize,
    rtts: Vec<f64>,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("webrtc-mesh-bots: {why}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(why) => {
            eprintln!("webrtc-mesh-bots: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<bool, String> {
    let runtime = Runtime::shared().map_err(|e| e.to_string())?;
    let mut _server = None;
    let url = match &options.url {
        Some(url) => url.clone(),
        None => {
            let server = SignalingServer::start(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                Limits::default(),
                runtime.tokio_handle(),
                Arc::new(|line: &str| eprintln!("signaling: {line}")),
            )
            .map_err(|e| format!("cannot start a signaling server: {e}"))?;
            let url = format!("ws://{}/", server.local_addr());
            _server = Some(server);
            url
        }
    };
    let start = Instant::now();
    let config = |lobby: &str| SessionConfig {
        connection: ConnectionConfig::loopback(),
        ..SessionConfig::new(url.clone(), lobby)
    };

    // The first bot creates the lobby; the others join it by name.
    let mut bots = vec![new_bot(&runtime, config(""))];
    let deadline = start + Duration::from_secs(20);
    let formed_at = loop {
        for i in 0..bots.len() {
            let events = bots[i].session.poll();
            for event in events {
                match event {
                    SessionEvent::Joined { lobby, peer_id, .. } => {
                        bots[i].id = peer_id;
                        if i == 0 {
                            eprintln!("bot {peer_id} created lobby {lobby}");
                            for _ in 1..options.peers {
                                bots.push(new_bot(&runtime, config(&lobby)));
                            }
                        }
                    }
                    other => on_event(&mut bots[i], other),
                }
            }
        }
        if bots.len() == options.peers
            && bots.iter().all(|b| b.connected.len() == options.peers - 1)
        {
            break start.elapsed();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the mesh did not form within 20 s: {:?}",
                bots.iter()
                    .map(|b| (b.id, b.connected.clone()))
                    .collect::<Vec<_>>()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    eprintln!(
        "mesh of {} formed in {} ms",
        options.peers,
        formed_at.as_millis()
    );

    // Chat, and sample round-trip times, for the given time.
    let chat_until = Instant::now() + Duration::from_secs_f64(options.seconds);
    let mut next_chat = Instant::now();
    let mut next_sample = Instant::now();
    while Instant::now() < chat_until {
        let now = Instant::now();
        for bot in &mut bots {
            for event in bot.session.poll() {
                on_event(bot, event);
            }
            if now >= next_chat {
                let text = format!("hello from {} #{}", bot.id, bot.chats_sent);
                if let Some(mesh) = bot.session.mesh_mut() {
                    match mesh.send(0, 0, TransferMode::Reliable, text.as_bytes()) {
                        Ok(()) => bot.chats_sent += 1,
                        Err(e) => eprintln!("bot {}: chat not sent: {e}", bot.id),
                    }
                }
            }
            if now >= next_sample {
                for &peer in &bot.connected {
                    let rtt = bot
                        .session
                        .connection(peer)
                        .and_then(|c| c.stats().ok())
                        .and_then(|s| s.round_trip_time);
                    if let Some(rtt) = rtt {
                        bot.rtts.push(rtt.as_secs_f64() * 1000.0);
                    }
                }
            }
            if let Some(mesh) = bot.session.mesh_mut() {
                while let Some(packet) = mesh.take_packet() {
                    if packet.data.starts_with(b"hello from ") {
                        bot.chats_received += 1;
                    }
                }
            }
        }
        if now >= next_chat {
            next_chat = now + options.chat_interval;
        }
        if now >= next_sample {
            next_sample = now + Duration::from_millis(250);
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    let mut ok = true;
    for bot in &mut bots {
        bot.connected.sort_unstable();
        bot.rtts.sort_by(f64::total_cmp);
        let p50 = bot.rtts.get(bot.rtts.len() / 2).copied();
        let peers: Vec<String> = bot.connected.iter().map(i32::to_string).collect();
        println!(
            "{{\"peer_id\": {}, \"connected_peers\": [{}], \"chat_sent\": {}, \"chat_received\": {}, \"rtt_p50_ms\": {}, \"mesh_formed_ms\": {}}}",
            bot.id,
            peers.join(", "),
            bot.chats_sent,
            bot.chats_received,
            p50.map_or("null".to_string(), |v| format!("{v:.3}")),
            formed_at.as_millis()
        );
        ok &= bot.connected.len() == options.peers - 1 && bot.chats_received > 0;
    }
    for bot in &mut bots {
        bot.session.leave();
    }
    Ok(ok)
}

fn new_bot(runtime: &Runtime, config: SessionConfig) -> Bot {
    Bot {
        session: MeshSession::join(runtime, config),
        id: 0,
        connected: Vec::new(),
        chats_received: 0,
        chats_sent: 0,
        rtts: Vec::new(),
    }
}

fn on_event(bot: &mut Bot, event: SessionEvent) {
    match event {
        SessionEvent::PeerConnected(id) => bot.connected.push(id),
        SessionEvent::PeerDisconnected(id) => bot.connected.retain(|&p| p != id),
        SessionEvent::SignalingClosed { code, reason } => {
            eprintln!("bot {}: signaling closed ({code} {reason})", bot.id)
        }
        SessionEvent::Error(e) => eprintln!("bot {}: {e}", bot.id),
        SessionEvent::Joined { .. } | SessionEvent::Sealed => {}
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        url: None,
        peers: 4,
        seconds: 3.0,
        chat_interval: Duration::from_millis(250),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--url" => options.url = Some(value()?),
            "--peers" => {
                let v = value()?;
                options.peers = v
                    .parse()
                    .ok()
                    .filter(|&n| (2..=32).contains(&n))
                    .ok_or_else(|| format!("--peers: {v:?} is not 2 to 32"))?;
            }
            "--seconds" => {
                let v = value()?;
                options.seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--seconds: {v:?} is not a duration"))?;
            }
            "--chat-interval-ms" => {
                let v = value()?;
                let ms: u64 = v
                    .parse()
                    .map_err(|_| format!("--chat-interval-ms: {v:?} is not a whole number"))?;
                options.chat_interval = Duration::from_millis(ms.max(1));
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(options))
}
