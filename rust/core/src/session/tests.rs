//! A session against `rtc`'s complete peer connection (ICE, DTLS, its SCTP and data
//! channels), in memory and in virtual time: the two exchange descriptions, candidates and
//! datagrams, open channels either way and carry messages both ways.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::{RTCDataChannelEvent, RTCPeerConnectionEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use super::*;
use crate::conditions::{Datagram, LinkSimulator, NetworkConditions};

fn ours_address() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}

fn theirs_address() -> SocketAddr {
    "10.0.0.2:6000".parse().unwrap()
}

fn session(now: Instant) -> Session {
    let mut session = Session::new(
        now,
        SessionConfig {
            certificate: crate::runtime::make_certificate().expect("a certificate"),
            max_message_size: 256 * 1024,
            check_interval: Duration::from_millis(50),
            disconnected_timeout: Duration::from_secs(5),
            failed_timeout: Duration::from_secs(25),
            keepalive_interval: Duration::from_secs(2),
            relay_only: false,
            sctp: sctp::Config::default(),
        },
    )
    .expect("a session");
    let host = crate::driver::host_candidate(ours_address()).expect("a host candidate");
    let candidate = unmarshal_candidate(host.candidate.trim_start_matches("candidate:"))
        .expect("our own candidate line");
    session.add_local_candidate(candidate).expect("accepted");
    session.gathering_done();
    session
}

fn theirs(now: Instant) -> RTCPeerConnection {
    let configuration = RTCConfigurationBuilder::new()
        .with_certificates(crate::runtime::make_certificate().into_iter().collect())
        .build();
    let settings = SettingEngineBuilder::new()
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .build();
    let mut pc = rtc::peer_connection::RTCPeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_setting_engine(settings)
        .build(now)
        .expect("rtc peer connection");
    let host = crate::driver::host_candidate(theirs_address()).expect("a host candidate");
    pc.add_local_candidate(host).expect("accepted");
    pc
}

/// Both ends and the link, stepped a millisecond at a time.
struct Pair {
    now: Instant,
    start: Instant,
    ours: Session,
    theirs: RTCPeerConnection,
    to_theirs: LinkSimulator,
    to_ours: LinkSimulator,
    /// What each side saw: our events, their (channel id, text) messages and opened channels.
    our_events: Vec<SessionEvent>,
    our_received: Vec<(usize, Vec<u8>, bool)>,
    their_messages: Vec<(usize, Vec<u8>, bool)>,
    their_open: Vec<usize>,
}

impl Pair {
    fn new(now: Instant, conditions: &NetworkConditions) -> Pair {
        let mut back = conditions.clone();
        back.seed = conditions.seed.wrapping_add(1);
        Pair {
            now,
            start: now,
            ours: session(now),
            theirs: theirs(now),
            to_theirs: LinkSimulator::new(conditions.clone(), now),
            to_ours: LinkSimulator::new(back, now),
            our_events: Vec::new(),
            our_received: Vec::new(),
            their_messages: Vec::new(),
            their_open: Vec::new(),
        }
    }

    /// Signals candidates the way a signaling server would.
    fn exchange_candidates(&mut self) {
        let theirs = crate::driver::host_candidate(theirs_address()).unwrap();
        self.ours.add_remote_candidate(&theirs.candidate).unwrap();
    }

    fn step(&mut self) {
        let now = self.now;
        if self.ours.poll_timeout().is_some_and(|due| due <= now) {
            self.ours.handle_timeout(now);
        }
        if self.theirs.poll_timeout().is_some_and(|due| due <= now) {
            let _ = self.theirs.handle_timeout(now);
        }
        for _ in 0..100 {
            let mut moved = false;
            while let Some((from, to, bytes)) = self.ours.poll_transmit(now) {
                moved = true;
                self.to_theirs.send(
                    now,
                    Datagram {
                        from,
                        to,
                        bytes: bytes.to_vec(),
                    },
                );
            }
            while let Some(datagram) = self.theirs.poll_write() {
                moved = true;
                self.to_ours.send(
                    now,
                    Datagram {
                        from: datagram.transport.local_addr,
                        to: datagram.transport.peer_addr,
                        bytes: datagram.message.to_vec(),
                    },
                );
            }
            while let Some(datagram) = self.to_theirs.poll_due(now) {
                moved = true;
                let _ = self.theirs.handle_read(TaggedBytesMut {
                    now,
                    transport: TransportContext {
                        local_addr: datagram.to,
                        peer_addr: datagram.from,
                        transport_protocol: TransportProtocol::UDP,
                        ecn: None,
                    },
                    message: BytesMut::from(&datagram.bytes[..]),
                });
            }
            while let Some(datagram) = self.to_ours.poll_due(now) {
                moved = true;
                self.ours.handle_read(
                    now,
                    datagram.to,
                    datagram.from,
                    BytesMut::from(&datagram.bytes[..]),
                );
            }
            while let Some((channel, data, is_string)) = self.ours.poll_message() {
                self.our_received.push((channel, data.to_vec(), is_string));
            }
            while let Some(event) = self.ours.poll_event() {
                self.our_events.push(event);
            }
            while let Some(event) = self.theirs.poll_event() {
                if let RTCPeerConnectionEvent::OnDataChannel(RTCDataChannelEvent::OnOpen(id)) =
                    event
                {
                    self.their_open.push(id);
                }
            }
            while let Some(message) = self.theirs.poll_read() {
                if let RTCMessage::DataChannelMessage(id, message) = message.message {
                    self.their_messages
                        .push((id, message.data.to_vec(), message.is_string));
                }
            }
            if !moved {
                break;
            }
        }
        self.now += Duration::from_millis(1);
    }

    fn until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    fn our_messages(&self) -> Vec<(usize, Vec<u8>, bool)> {
        self.our_received.clone()
    }
}

fn settings(label: &str) -> ChannelSettings {
    ChannelSettings {
        label: label.into(),
        protocol: String::new(),
        ordered: true,
        reliability: Reliability::Reliable,
        negotiated: None,
    }
}

#[test]
fn answers_webrtc_rs_and_carries_its_channel_both_ways() {
    let now = Instant::now();
    let mut pair = Pair::new(now, &NetworkConditions::default());
    let their_channel = pair.theirs.create_data_channel("chat", None).unwrap().id();
    let offer = pair.theirs.create_offer(None).unwrap();
    pair.theirs
        .set_local_description(now, offer.clone())
        .unwrap();
    let answer = pair
        .ours
        .set_remote(now, &offer.sdp, true)
        .unwrap()
        .expect("an answer");
    pair.theirs
        .set_remote_description(now, RTCSessionDescription::answer(answer).unwrap())
        .unwrap();
    pair.exchange_candidates();
    let opened = pair.until(Duration::from_secs(5), |pair| {
        pair.our_events
            .iter()
            .any(|event| matches!(event, SessionEvent::RemoteChannel(_)))
            && pair.their_open.contains(&their_channel)
    });
    assert!(opened, "events: {:?}", pair.our_events);
    let connected_after = pair.now - pair.start;
    let ours = pair
        .our_events
        .iter()
        .find_map(|event| match event {
            SessionEvent::RemoteChannel(index) => Some(*index),
            _ => None,
        })
        .unwrap();
    assert_eq!(pair.ours.channel(ours).unwrap().settings.label, "chat");
    let now = pair.now;
    pair.ours
        .send(ours, Bytes::from_static(b"from ours"), true)
        .unwrap();
    pair.theirs
        .data_channel(their_channel)
        .unwrap()
        .send(now, BytesMut::from(&b"from theirs"[..]))
        .unwrap();
    assert!(pair.until(Duration::from_secs(2), |pair| {
        !pair.their_messages.is_empty() && !pair.our_messages().is_empty()
    }));
    assert_eq!(
        pair.their_messages,
        [(their_channel, b"from ours".to_vec(), true)]
    );
    assert_eq!(
        pair.our_messages(),
        [(ours, b"from theirs".to_vec(), false)]
    );
    eprintln!("connected and opened after {connected_after:?}");
}

/// Our offer, applied by webrtc-rs, and its answer (not yet applied by us).
fn webrtc_rs_answers(pair: &mut Pair, now: Instant) -> RTCSessionDescription {
    let offer = pair.ours.create_offer().unwrap();
    pair.theirs
        .set_remote_description(now, RTCSessionDescription::offer(offer).unwrap())
        .unwrap();
    let answer = pair.theirs.create_answer(None).unwrap();
    pair.theirs
        .set_local_description(now, answer.clone())
        .unwrap();
    answer
}

/// We offer with a channel made beforehand; webrtc-rs answers as DTLS server, so ours is the
/// DTLS and SCTP client. Returns the pair once both sides have the channel open.
fn offer_to_webrtc_rs(conditions: &NetworkConditions, settings: ChannelSettings) -> (Pair, usize) {
    let now = Instant::now();
    let mut pair = Pair::new(now, conditions);
    let ours = pair.ours.create_channel(settings).unwrap();
    let answer = webrtc_rs_answers(&mut pair, now);
    assert!(
        pair.ours
            .set_remote(now, &answer.sdp, false)
            .unwrap()
            .is_none()
    );
    pair.exchange_candidates();
    let opened = pair.until(Duration::from_secs(10), |pair| {
        pair.our_events.contains(&SessionEvent::ChannelOpen(ours)) && !pair.their_open.is_empty()
    });
    assert!(opened, "events: {:?}", pair.our_events);
    (pair, ours)
}

#[test]
fn offers_to_webrtc_rs_and_opens_its_own_channel() {
    let (mut pair, ours) = offer_to_webrtc_rs(&NetworkConditions::default(), settings("game"));
    assert!(pair.ours.dtls_client, "webrtc-rs answered passive");
    let theirs = pair.their_open[0];
    let now = pair.now;
    for index in 0..50u8 {
        pair.ours
            .send(ours, Bytes::from(vec![index; 100]), false)
            .unwrap();
    }
    assert!(pair.ours.buffered_amount(ours) >= 5000);
    pair.theirs
        .data_channel(theirs)
        .unwrap()
        .send_text(now, "hello")
        .unwrap();
    assert!(pair.until(Duration::from_secs(2), |pair| {
        pair.their_messages.len() == 50 && !pair.our_messages().is_empty()
    }));
    assert!(pair.until(
        Duration::from_secs(1),
        |pair| pair.ours.buffered_amount(ours) == 0
    ));
    for (index, (_, data, is_string)) in pair.their_messages.iter().enumerate() {
        assert_eq!((data.clone(), *is_string), (vec![index as u8; 100], false));
    }
    assert_eq!(pair.our_messages(), [(ours, b"hello".to_vec(), true)]);
    // Closing resets the stream; webrtc-rs closes its side and we hear it.
    let now = pair.now;
    pair.ours.close_channel(now, ours);
    assert!(pair.until(Duration::from_secs(2), |pair| {
        pair.our_events.contains(&SessionEvent::ChannelClosed(ours))
    }));
}

#[test]
fn through_loss_and_delay_webrtc_rs_and_ours_connect_and_deliver_everything() {
    for seed in [1, 2, 3] {
        let conditions = NetworkConditions {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            loss: 0.05,
            seed,
            ..NetworkConditions::default()
        };
        let (mut pair, ours) = offer_to_webrtc_rs(&conditions, settings("game"));
        let connected = pair.now - pair.start;
        for index in 0..200u32 {
            let mut data = index.to_be_bytes().to_vec();
            data.resize(4 + (index as usize * 37) % 1500, 7);
            pair.ours.send(ours, Bytes::from(data), false).unwrap();
        }
        assert!(
            pair.until(Duration::from_secs(30), |pair| pair.their_messages.len()
                == 200),
            "seed {seed}: {} of 200",
            pair.their_messages.len()
        );
        for (index, (_, data, _)) in pair.their_messages.iter().enumerate() {
            assert_eq!(
                data[..4],
                (index as u32).to_be_bytes(),
                "seed {seed}, message {index}"
            );
        }
        eprintln!("seed {seed}: open after {connected:?}");
    }
}

#[test]
fn a_certificate_that_does_not_match_the_fingerprint_fails_the_connection() {
    let now = Instant::now();
    let mut pair = Pair::new(now, &NetworkConditions::default());
    let answer = webrtc_rs_answers(&mut pair, now);
    // Someone in the signaling path swapped the fingerprint.
    let forged = answer
        .sdp
        .lines()
        .map(|line| match line.strip_prefix("a=fingerprint:sha-256 ") {
            Some(value) => format!(
                "a=fingerprint:sha-256 {}",
                value.replace(|c: char| c.is_ascii_hexdigit(), "0")
            ),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n";
    pair.ours.set_remote(now, &forged, false).unwrap();
    pair.exchange_candidates();
    pair.until(Duration::from_secs(3), |pair| {
        pair.our_events
            .iter()
            .any(|event| matches!(event, SessionEvent::Failed(_)))
    });
    assert!(
        pair.our_events
            .iter()
            .any(|event| matches!(event, SessionEvent::Failed(_))),
        "{:?}",
        pair.our_events
    );
    assert!(
        !pair
            .our_events
            .contains(&SessionEvent::State(ConnectionState::Connected))
    );
}

#[test]
fn a_peers_channel_with_outsized_names_is_not_taken_and_a_closed_one_gives_its_names_back() {
    let now = Instant::now();
    let mut pair = Pair::new(now, &NetworkConditions::default());
    let _outsized = pair
        .theirs
        .create_data_channel(&"x".repeat(MAX_NAMES + 1), None)
        .unwrap()
        .id();
    let _fine = pair.theirs.create_data_channel("chat", None).unwrap().id();
    let offer = pair.theirs.create_offer(None).unwrap();
    pair.theirs
        .set_local_description(now, offer.clone())
        .unwrap();
    let answer = pair
        .ours
        .set_remote(now, &offer.sdp, true)
        .unwrap()
        .unwrap();
    pair.theirs
        .set_remote_description(now, RTCSessionDescription::answer(answer).unwrap())
        .unwrap();
    pair.exchange_candidates();
    assert!(pair.until(Duration::from_secs(5), |pair| {
        pair.our_events
            .iter()
            .any(|event| matches!(event, SessionEvent::RemoteChannel(_)))
    }));
    pair.until(Duration::from_millis(500), |_| false);
    let taken: Vec<usize> = pair
        .our_events
        .iter()
        .filter_map(|event| match event {
            SessionEvent::RemoteChannel(index) => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(taken.len(), 1, "only the channel with a sane label");
    assert_eq!(pair.ours.channel(taken[0]).unwrap().settings.label, "chat");
    let now = pair.now;
    pair.ours.close_channel(now, taken[0]);
    assert!(pair.until(Duration::from_secs(2), |pair| {
        pair.our_events
            .contains(&SessionEvent::ChannelClosed(taken[0]))
    }));
    assert!(
        pair.ours
            .channel(taken[0])
            .unwrap()
            .settings
            .label
            .is_empty()
    );
}
