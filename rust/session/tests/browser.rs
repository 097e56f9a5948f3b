//! A browser as a real peer: Debian's headless Chromium runs a page that uses the standard
//! `RTCPeerConnection` API with Godot's channel layout (negotiated ids 1, 2, 3), joins a lobby
//! through our signaling server and exchanges data both ways, on every channel, with a native
//! session of ours: the Rust session, and the GDScript session web exports use (on Godot's
//! built-in `WebRTCMultiplayerPeer`) in a headless Godot engine.
//!
//! Chromium gathers no loopback candidates and none on an interface without a default route,
//! so the test makes a network namespace with a veth pair (10.77.0.1/24, 10.77.0.2/24) and a
//! default route, and runs itself again inside it: no packet leaves the namespace.
//! Skipped with a line saying so when Chromium, `ip` or the right to make namespaces is missing,
//! unless `WEBRTC_MESH_REQUIRE_BROWSER` is set (CI sets it).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use webrtc_mesh_core::{ConnectionConfig, Runtime};
use webrtc_mesh_session::{MeshSession, SessionConfig, SessionEvent};
use webrtc_mesh_signaling::{Limits, SignalingServer};

#[path = "../../core/tests/common/programs.rs"]
mod programs;
#[path = "../../core/tests/common/skip.rs"]
mod skip_log;

use programs::find;

const PAGE: &str = include_str!("browser/peer.html");
const INSIDE: &str = "WEBRTC_MESH_BROWSER_NETNS";

fn skip(why: &str) {
    assert!(
        std::env::var_os("WEBRTC_MESH_REQUIRE_BROWSER").is_none(),
        "WEBRTC_MESH_REQUIRE_BROWSER is set but {why}"
    );
    skip_log::skip(&format!("browser peer test: {why}"));
}

fn ip(namespace: &str, args: &[&str]) -> bool {
    Command::new("ip")
        .args(["netns", "exec", namespace, "ip"])
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn chromium_peer_exchanges_data_on_every_channel() {
    in_test_network("in_namespace");
}

/// The GDScript session that web exports use (`addons/webrtc_mesh/web/mesh_session.gd`, on
/// Godot's built-in `WebRTCMultiplayerPeer`) in a headless Godot engine, with the browser page.
#[test]
fn chromium_peer_and_the_gdscript_fallback_exchange_data_on_every_channel() {
    let Some(godot) = godot_engine() else {
        // Without an engine the Godot side is skipped everywhere, as tests/godot.sh does.
        return skip_log::skip("no Godot 4 engine found (set GODOT or put godot on PATH)");
    };
    if !addon_installed() {
        return skip_log::skip(&format!(
            "the addon is not installed in tests/godot (bash tests/godot/install.sh), engine {}",
            godot.display()
        ));
    }
    in_test_network("fallback_in_namespace");
}

/// Makes the test network (see the crate docs above) and runs the test `inner` of this binary
/// inside it.
fn in_test_network(inner: &str) {
    if find("chromium").is_none() {
        return skip("chromium is not installed (Debian package chromium)");
    }
    if find("ip").is_none() {
        return skip("ip is not installed (Debian package iproute2)");
    }
    let namespace = format!("wmesh{}{}", std::process::id(), &inner[..2]);
    let made = Command::new("ip")
        .args(["netns", "add", &namespace])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return skip("cannot create a network namespace (needs root)");
    }
    let ready = ip(&namespace, &["link", "set", "lo", "up"])
        && ip(
            &namespace,
            &["link", "add", "wm0", "type", "veth", "peer", "name", "wm1"],
        )
        && ip(&namespace, &["addr", "add", "10.77.0.1/24", "dev", "wm0"])
        && ip(&namespace, &["addr", "add", "10.77.0.2/24", "dev", "wm1"])
        && ip(&namespace, &["link", "set", "wm0", "up"])
        && ip(&namespace, &["link", "set", "wm1", "up"])
        && ip(&namespace, &["route", "add", "default", "via", "10.77.0.2"]);
    let status = ready.then(|| {
        Command::new("ip")
            .args(["netns", "exec", &namespace])
            .arg(std::env::current_exe().unwrap())
            .args([inner, "--exact", "--ignored", "--nocapture"])
            .env(INSIDE, "1")
            .status()
    });
    let _ = Command::new("ip")
        .args(["netns", "del", &namespace])
        .status();
    assert!(
        ready,
        "could not set up the test network in namespace {namespace}"
    );
    let status = status.unwrap().expect("test binary runs in the namespace");
    assert!(
        status.success(),
        "the browser test inside the namespace failed"
    );
}

fn inside_namespace(test: &str) -> bool {
    let inside = std::env::var_os(INSIDE).is_some();
    if !inside {
        eprintln!("{test} runs only inside the namespace its outer test makes");
    }
    inside
}

/// The test proper; only meaningful inside the namespace the test above makes.
#[test]
#[ignore = "run by chromium_peer_exchanges_data_on_every_channel inside its network namespace"]
fn in_namespace() {
    if !inside_namespace("in_namespace") {
        return;
    }
    let runtime = Runtime::shared().unwrap();
    let server = signaling_server(&runtime);
    let signaling = format!("ws://{}/", server.local_addr());

    // The native player creates the lobby (so it is peer 1); the browser joins it.
    let config = SessionConfig {
        // Every interface of the namespace: the test hosts 10.77.0.1 and 10.77.0.2.
        connection: ConnectionConfig::default(),
        ..SessionConfig::new(signaling.clone(), "")
    };
    let mut native = MeshSession::join(&runtime, config);
    let lobby = loop {
        let joined = native.poll().into_iter().find_map(|e| match e {
            SessionEvent::Joined { lobby, .. } => Some(lobby),
            _ => None,
        });
        if let Some(lobby) = joined {
            break lobby;
        }
        std::thread::sleep(Duration::from_millis(2));
    };

    let started = Instant::now();
    let mut browser_id = 0;
    let mut from_browser: [Vec<String>; 3] = Default::default();
    let report = run_page(&signaling, &lobby, || {
        for event in native.poll() {
            match event {
                SessionEvent::PeerConnected(id) => {
                    browser_id = id;
                    eprintln!("browser peer {id} connected after {:?}", started.elapsed());
                }
                SessionEvent::Error(e) => panic!("native session: {e}"),
                _ => {}
            }
        }
        if let Some(mesh) = native.mesh_mut() {
            let mut echoes = Vec::new();
            while let Some(packet) = mesh.take_packet() {
                from_browser[packet.channel_index].push(describe(&packet.data));
                echoes.push((packet.peer_id, packet.mode, echo(&packet.data)));
            }
            for (to, mode, reply) in echoes {
                mesh.send(to, 0, mode, &reply).unwrap();
            }
        }
    });
    check_exchange(&report, browser_id, &from_browser);
    native.leave();
    server.stop();
}

/// The fallback's side runs in Godot (tests/godot/browser_peer.gd), which prints what it gets.
#[test]
#[ignore = "run by chromium_peer_and_the_gdscript_fallback_exchange_data_on_every_channel inside its network namespace"]
fn fallback_in_namespace() {
    if !inside_namespace("fallback_in_namespace") {
        return;
    }
    let runtime = Runtime::shared().unwrap();
    let server = signaling_server(&runtime);
    let signaling = format!("ws://{}/", server.local_addr());
    let mut godot = Command::new(godot_engine().expect("checked outside"))
        .args(["--headless", "--path"])
        .arg(godot_project())
        .args(["--script", "res://browser_peer.gd", "--", &signaling])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("godot starts");
    let (lines_tx, lines) = mpsc::channel();
    let stdout = godot.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("godot: {line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lobby = String::new();
    let started = Instant::now();
    while lobby.is_empty() {
        let line = lines
            .recv_timeout(Duration::from_secs(20).saturating_sub(started.elapsed()))
            .expect("the fallback session in Godot prints its lobby within 20 s");
        if let Some(name) = line.strip_prefix("lobby ") {
            lobby = name.to_owned();
        }
    }

    let mut browser_id = 0;
    let mut from_browser: [Vec<String>; 3] = Default::default();
    let report = run_page(&signaling, &lobby, || {
        while let Ok(line) = lines.try_recv() {
            let words: Vec<&str> = line.splitn(4, ' ').collect();
            match words[..] {
                ["peer_joined", id] => browser_id = id.parse().unwrap(),
                ["packet", _from, channel, text] => {
                    let channel: usize = channel.parse().unwrap();
                    from_browser[channel - 1].push(text.to_owned());
                }
                ["error", ..] => panic!("the fallback session: {line}"),
                _ => {}
            }
        }
    });
    let _ = godot.kill();
    let _ = godot.wait();
    check_exchange(&report, browser_id, &from_browser);
    server.stop();
}

fn signaling_server(runtime: &Runtime) -> SignalingServer {
    SignalingServer::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Limits::default(),
        runtime.tokio_handle(),
        Arc::new(|_: &str| {}),
    )
    .unwrap()
}

fn godot_project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/godot")
}

/// The engine tests/godot.sh would use: `GODOT`, else `godot` on PATH.
fn godot_engine() -> Option<PathBuf> {
    programs::godot("GODOT", "godot")
}

fn addon_installed() -> bool {
    std::fs::read_dir(godot_project().join("addons/webrtc_mesh/bin"))
        .is_ok_and(|mut files| files.next().is_some())
}

/// How a received message is recorded: its text, or its size when it is the big one.
fn describe(data: &[u8]) -> String {
    if data.len() > 1000 {
        format!("big:{}", data.len())
    } else {
        String::from_utf8_lossy(data).into_owned()
    }
}

/// What the native side sends back: the big message as it is, the others prefixed.
fn echo(data: &[u8]) -> Vec<u8> {
    if data.len() > 1000 {
        data.to_vec()
    } else {
        [b"native:".as_slice(), data].concat()
    }
}

/// Serves the page, runs Chromium on it and calls `poll` every millisecond until the page
/// reports (within 30 s); returns the report.
fn run_page(signaling: &str, lobby: &str, mut poll: impl FnMut()) -> serde_json::Value {
    let (results, http) = serve_page(signaling, lobby);
    let profile = std::env::temp_dir().join(format!(
        "webrtc-mesh-chromium-{}-{}",
        std::process::id(),
        lobby
    ));
    let mut chromium = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Host candidates as addresses, not mDNS names nobody here could resolve.
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://{http}/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    let report = loop {
        poll();
        if let Ok(report) = results.try_recv() {
            break report;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = chromium.kill();
            panic!("no result from the browser page in 30 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = chromium.kill();
    let _ = chromium.wait();
    let _ = std::fs::remove_dir_all(&profile);
    let report: serde_json::Value = serde_json::from_str(&report).expect("the page reports JSON");
    eprintln!("browser report: {report}");
    report
}

/// The page and the other side exchanged everything: `from_browser` holds what the other side
/// got on each channel (ids 1, 2, 3), the report what the page got back.
fn check_exchange(report: &serde_json::Value, browser_id: i32, from_browser: &[Vec<String>; 3]) {
    assert_eq!(report["ok"], true, "the page did not finish: {report}");
    assert_eq!(report["id"].as_i64(), Some(i64::from(browser_id)));
    let candidates: Vec<&str> = report["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        candidates.iter().any(|c| c.contains("10.77.0.")),
        "the browser gathered no test-host candidate: {candidates:?}"
    );

    // Browser -> native: five messages on each channel, plus one of 100,000 bytes on the
    // reliable one (Godot's channel 0 reliable, ordered and unordered unreliable).
    let expect = |channel: usize| -> BTreeSet<String> {
        (0..5).map(|n| format!("browser:{channel}:{n}")).collect()
    };
    for (index, messages) in from_browser.iter().enumerate() {
        let got: BTreeSet<String> = messages
            .iter()
            .filter(|t| !t.starts_with("big:"))
            .cloned()
            .collect();
        assert_eq!(
            got,
            expect(index + 1),
            "channel id {} browser -> native",
            index + 1
        );
    }
    assert_eq!(
        from_browser[0][..5],
        expect(1).into_iter().collect::<Vec<_>>()[..],
        "reliable keeps order"
    );
    assert!(from_browser[0].contains(&"big:100000".to_string()));

    // Native -> browser: every echo arrived on the channel it belongs to.
    for channel in 1..=3usize {
        let got: BTreeSet<String> = report["received"][channel.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .filter(|t| !t.starts_with("big:"))
            .collect();
        let want: BTreeSet<String> = expect(channel)
            .into_iter()
            .map(|m| format!("native:{m}"))
            .collect();
        assert_eq!(got, want, "channel id {channel} native -> browser");
    }
    assert!(
        report["received"]["1"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "big:100000:1:9"),
        "100,000 bytes native -> browser"
    );
}

/// Serves the page on 127.0.0.1 and hands over what it POSTs to /result.
fn serve_page(signaling: &str, lobby: &str) -> (mpsc::Receiver<String>, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let page = PAGE
        .replace("__SIGNALING__", signaling)
        .replace("__LOBBY__", lobby)
        .replace("__RESULT__", &format!("http://{address}/result"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if let Some(body) = answer(stream, &page) {
                let _ = tx.send(body);
            }
        }
    });
    (rx, address)
}

/// One HTTP/1.1 exchange; returns the body of a POST.
fn answer(mut stream: TcpStream, page: &str) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (status, content) = match request_line.split_whitespace().next()? {
        "GET" if request_line.starts_with("GET / ") => ("200 OK", page),
        "POST" => ("200 OK", ""),
        _ => ("404 Not Found", ""),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{content}",
        content.len()
    );
    request_line
        .starts_with("POST")
        .then(|| String::from_utf8_lossy(&body).into_owned())
}
