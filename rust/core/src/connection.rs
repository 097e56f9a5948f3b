//! One WebRTC peer connection, driven from the caller's thread.
//!
//! Signaling calls (`create_offer`, `set_remote_description`, `add_ice_candidate`, ...) run to
//! completion before they return, so their errors come back to the caller; what the driver
//! reports later (local candidates, descriptions, state changes) waits in a queue that
//! [`Connection::poll_event`] drains.
//!
//! Two drivers sit underneath: connections with host candidates only (no STUN or TURN server)
//! run on this crate's own [`Driver`], the rest on webrtc-rs's, which gathers server-reflexive
//! and relayed candidates.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use rtc::peer_connection::transport::RTCDtlsRole;
use webrtc::data_channel::DataChannel as RtcDataChannel;
use webrtc::peer_connection::{
    PeerConnection as RtcPeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfiguration, RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceConnectionState,
    RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSdpType, RTCSessionDescription, RTCSignalingState, SettingEngine,
    SettingEngineBuilder, StatsSelector,
};

use crate::channel::{ChannelOptions, DataChannel, InboxLimits, RemoteSlot};
use crate::config::{
    ConnectionConfig, IceTransportPolicy, MAX_DESCRIPTION_SIZE, MAX_MESSAGE_SIZE,
    MAX_REMOTE_CANDIDATES,
};
use crate::driver::{self, Driver};
use crate::error::{Error, Result};
use crate::io_adapter::DriverKick;
use crate::runtime::{Runtime, WeakRuntime};
use crate::state::{ConnectionState, GatheringState, SdpType, SignalingState};
use crate::stats::ConnectionStats;
use crate::turn_bridge::{self, Bridge};

/// Something that happened on a connection, in the order it happened.
#[derive(Debug, Clone)]
pub enum ConnectionEvent {
    /// A local offer or answer was created (and already applied); send it to the remote peer.
    SessionDescription {
        /// Offer or answer.
        sdp_type: SdpType,
        /// The SDP text.
        sdp: String,
    },
    /// A local ICE candidate was found; send it to the remote peer.
    IceCandidate {
        /// Media stream id (`a=mid`) the candidate belongs to.
        media: String,
        /// Index of that media section.
        index: i32,
        /// The candidate line, `candidate:...`.
        name: String,
    },
    /// The remote peer announced a channel in-band.
    DataChannel(DataChannel),
}

/// State shared with the driver (webrtc-rs's event handler or this crate's [`Driver`]), which
/// runs on the runtime's threads.
pub(crate) struct Sink {
    events: Mutex<VecDeque<ConnectionEvent>>,
    pub(crate) connection: AtomicI32,
    pub(crate) gathering: AtomicI32,
    pub(crate) signaling: AtomicI32,
    // The `a=mid` of our data section, which webrtc-rs leaves out of gathered candidates.
    pub(crate) mid: Mutex<String>,
    // Held weakly: the handler lives as long as webrtc-rs's driver task, which must not keep
    // the runtime itself alive.
    runtime: WeakRuntime,
    // What bounds every channel's inbox: the connection's receive budget among them.
    pub(crate) inbox: InboxLimits,
    // In-band channels the remote peer has open, their cap, and whether they are refused
    // outright (a mesh negotiates all of its channels).
    remote_channels: Arc<AtomicUsize>,
    max_remote_channels: usize,
    refuse_remote_channels: AtomicBool,
    // Wakes webrtc-rs's driver for work it would otherwise leave to a later packet or timer.
    kick: Arc<DriverKick>,
    // Candidates gathered while the description that announces them is being made. Gathering
    // starts inside webrtc-rs's `set_local_description`, so without holding them a candidate
    // could be polled (and signaled) before its offer or answer: the other side would refuse it.
    held: Mutex<Option<Vec<ConnectionEvent>>>,
}

impl Sink {
    pub(crate) fn push(&self, event: ConnectionEvent) {
        if matches!(event, ConnectionEvent::IceCandidate { .. })
            && let Some(held) = self.held.lock().as_mut()
        {
            held.push(event);
            return;
        }
        self.events.lock().push_back(event);
    }

    /// A slot for a channel the remote peer announced in-band, or `None` if it must be closed:
    /// over the cap, or refused outright.
    pub(crate) fn admit_remote_channel(&self) -> Option<RemoteSlot> {
        if self.refuse_remote_channels.load(Ordering::Acquire) {
            return None;
        }
        let max = self.max_remote_channels;
        self.remote_channels
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| RemoteSlot(self.remote_channels.clone()))
    }

    fn hold_candidates(&self) {
        self.held.lock().get_or_insert_with(Vec::new);
    }

    fn release_candidates(&self) {
        let held = self.held.lock().take();
        if let Some(held) = held {
            self.events.lock().extend(held);
        }
    }
}

struct Handler(Arc<Sink>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let media = self.0.mid.lock().clone();
            self.0.push(ConnectionEvent::IceCandidate {
                media,
                index: 0,
                name: init.candidate,
            });
        }
    }

    async fn on_signaling_state_change(&self, state: RTCSignalingState) {
        self.0
            .signaling
            .store(SignalingState::from(state) as i32, Ordering::Release);
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.0
            .gathering
            .store(GatheringState::from(state) as i32, Ordering::Release);
    }

    async fn on_ice_connection_state_change(&self, _state: RTCIceConnectionState) {
        // webrtc-rs 0.21.1 starts DTLS when ICE connects, and SCTP when DTLS completes, but
        // sends their first packets only on its next timer: 50 and 200 ms more for every
        // connection set up. Running the timers now sends them now.
        self.0.kick.wake_timers();
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.0.kick.wake_timers();
        // Closed is final: a late report from the driver must not revive a closed connection.
        let state = ConnectionState::from(state) as i32;
        let _ = self
            .0
            .connection
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                (old != ConnectionState::Closed as i32).then_some(state)
            });
    }

    async fn on_data_channel(&self, rtc: Arc<dyn RtcDataChannel>) {
        let Some(runtime) = self.0.runtime.upgrade() else {
            return;
        };
        let Some(slot) = self.0.admit_remote_channel() else {
            // Spawned: webrtc-rs's driver is the one calling this handler.
            runtime.spawn(async move {
                let _ = rtc.close().await;
            });
            return;
        };
        let options = ChannelOptions {
            ordered: rtc.ordered().await.unwrap_or(true),
            max_packet_life_time: rtc.max_packet_life_time().await.unwrap_or(None),
            max_retransmits: rtc.max_retransmits().await.unwrap_or(None),
            protocol: rtc.protocol().await.unwrap_or_default(),
            negotiated_id: None,
        };
        let label = rtc.label().await.unwrap_or_default();
        let channel = DataChannel::start(
            &runtime,
            rtc,
            label,
            options,
            &self.0.inbox,
            self.0.kick.clone(),
            Some(slot),
        );
        self.0.push(ConnectionEvent::DataChannel(channel));
    }
}

/// What drives a connection.
enum Backend {
    /// webrtc-rs's driver: connections with STUN or TURN servers.
    WebRtc {
        rtc: Arc<dyn RtcPeerConnection>,
        // TURN-over-stream bridges; kept until webrtc-rs has closed, so it can still release
        // its allocations through them.
        bridges: Mutex<Vec<Bridge>>,
    },
    /// This crate's driver: host candidates only.
    Own(Arc<Driver>),
}

struct Inner {
    runtime: Runtime,
    backend: Backend,
    sink: Arc<Sink>,
    remote_set: AtomicBool,
    // Candidates that arrived before the remote description; applied right after it.
    early_candidates: Mutex<Vec<RTCIceCandidateInit>>,
    // Remote candidates taken so far, trickled or in descriptions; see `MAX_REMOTE_CANDIDATES`.
    remote_candidates: AtomicUsize,
    channels: Mutex<Vec<DataChannel>>,
    // The last description this connection created, as sent out: scripts pass it back to
    // `set_local_description`, and webrtc-rs's own copy of it differs in text.
    created: Mutex<Option<(SdpType, String)>>,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without an explicit close the driver's tasks would keep running.
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.shut_down();
        }
    }
}

impl Inner {
    fn shut_down(&self) {
        match &self.backend {
            Backend::WebRtc { rtc, bridges } => {
                let rtc = rtc.clone();
                let bridges = std::mem::take(&mut *bridges.lock());
                self.runtime.spawn_closing(async move {
                    let _ = rtc.close().await;
                    drop(bridges);
                });
            }
            Backend::Own(driver) => driver.close(),
        }
    }
}

/// A WebRTC peer connection (ICE, DTLS, SCTP data channels). Clones share the connection; it
/// closes when the last clone is dropped or [`Connection::close`] is called.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.connection_state())
            .finish()
    }
}

impl Connection {
    /// Creates a connection and binds its local sockets. Nothing is sent until descriptions
    /// are exchanged.
    pub fn new(runtime: &Runtime, config: &ConnectionConfig) -> Result<Connection> {
        config.validate()?;
        let udp_addr = local_udp_address(config.bind_address, config.port_range.as_ref())?;
        let sink = Arc::new(Sink {
            events: Mutex::new(VecDeque::new()),
            connection: AtomicI32::new(ConnectionState::New as i32),
            gathering: AtomicI32::new(GatheringState::New as i32),
            signaling: AtomicI32::new(SignalingState::Stable as i32),
            mid: Mutex::new("0".to_owned()),
            runtime: runtime.downgrade(),
            inbox: InboxLimits {
                messages: config.receive_queue_limit,
                budget: runtime.connection_budget(config.receive_budget),
            },
            remote_channels: Arc::default(),
            max_remote_channels: config.max_remote_channels,
            refuse_remote_channels: AtomicBool::new(false),
            kick: Arc::default(),
            held: Mutex::new(None),
        });
        // TURN over TCP and TLS goes through bridges that webrtc-rs sees as UDP TURN servers.
        let mut bridges = Vec::new();
        let mut ice_servers = Vec::with_capacity(config.ice_servers.len());
        for server in &config.ice_servers {
            let mut urls = Vec::with_capacity(server.urls.len());
            for url in &server.urls {
                let Some(target) = turn_bridge::stream_target(url)? else {
                    urls.push(url.clone());
                    continue;
                };
                let tls = match target.tls {
                    true => Some(turn_bridge::tls_config(&config.tls_ca_certificates)?),
                    false => None,
                };
                let bridge = turn_bridge::start(runtime, target, tls)?;
                urls.push(format!("turn:{}", bridge.address));
                bridges.push(bridge);
            }
            ice_servers.push(RTCIceServer {
                urls,
                username: server.username.clone(),
                credential: server.credential.clone(),
            });
        }
        let rtc_config = RTCConfigurationBuilder::new()
            .with_certificates(runtime.certificate().into_iter().collect())
            .with_ice_servers(ice_servers)
            .with_ice_transport_policy(match config.ice_transport_policy {
                IceTransportPolicy::All => RTCIceTransportPolicy::All,
                IceTransportPolicy::Relay => RTCIceTransportPolicy::Relay,
            })
            .build();
        let settings = SettingEngineBuilder::new()
            .with_ice_timeouts(
                Some(config.ice_disconnected_timeout),
                Some(config.ice_failed_timeout),
                Some(config.ice_keepalive_interval),
            )
            .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(MAX_MESSAGE_SIZE as u32))
            .with_include_loopback_candidate(udp_addr.ip().is_loopback())
            // A peer-reflexive pair is a direct path whose check arrived before the candidate's
            // signaling did (usual when signaling crosses a server): webrtc-rs would hold its
            // nomination for 1 s, delaying every such connection by that much.
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            // Answer as DTLS server, hence SCTP server. webrtc-rs 0.21 as SCTP client drops
            // data that arrives right behind the COOKIE-ACK (before it has opened its
            // negotiated channels); browsers and libdatachannel send as soon as their side is
            // up, so as client we lost their first messages, reliable ones included. As server
            // the association is up here a round trip before their first message can leave.
            .with_answering_dtls_role(RTCDtlsRole::Server)
            // With relay-only policy nothing better than a relay can turn up, so waiting the
            // default 2 s for one is pure delay. Otherwise the wait lets direct paths win.
            .with_relay_acceptance_min_wait(match config.ice_transport_policy {
                IceTransportPolicy::Relay => Some(Duration::ZERO),
                IceTransportPolicy::All => None,
            })
            .with_ice_connection_attempts(Some(config.ice_check_interval), None)
            .with_sctp_max_receive_buffer_size(
                config
                    .receive_window
                    .min(runtime.receive_window_cap())
                    .min(u32::MAX as usize) as u32,
            )
            .build();
        let backend = if config.ice_servers.is_empty() {
            let pc = driver::build(rtc_config, settings)?;
            let addresses = driver::host_addresses(udp_addr);
            let driver = Driver::start(
                runtime,
                pc,
                &addresses,
                sink.clone(),
                config.send_buffer_limit,
            )?;
            Backend::Own(driver)
        } else {
            Self::webrtc_backend(
                runtime, config, rtc_config, settings, &sink, udp_addr, bridges,
            )?
        };
        Ok(Connection {
            inner: Arc::new(Inner {
                runtime: runtime.clone(),
                backend,
                sink,
                remote_set: AtomicBool::new(false),
                early_candidates: Mutex::new(Vec::new()),
                remote_candidates: AtomicUsize::new(0),
                channels: Mutex::new(Vec::new()),
                created: Mutex::new(None),
                closed: AtomicBool::new(false),
            }),
        })
    }

    fn webrtc_backend(
        runtime: &Runtime,
        config: &ConnectionConfig,
        rtc_config: RTCConfiguration,
        settings: SettingEngine,
        sink: &Arc<Sink>,
        udp_addr: SocketAddr,
        bridges: Vec<Bridge>,
    ) -> Result<Backend> {
        let uses_turn = config
            .ice_servers
            .iter()
            .flat_map(|s| &s.urls)
            .any(|url| url.starts_with("turn"));
        let builder = PeerConnectionBuilder::new()
            .with_configuration(rtc_config)
            .with_setting_engine(settings)
            .with_handler(Arc::new(Handler(sink.clone())))
            .with_runtime(runtime.connection_adapter(uses_turn, sink.kick.clone()))
            .with_udp_addrs(vec![udp_addr])
            .with_data_channel_send_buffer_limit(config.send_buffer_limit);
        let rtc = runtime
            .block_on(builder.build())?
            .map_err(|e| Error::InvalidConfig(e.to_string()))?;
        Ok(Backend::WebRtc {
            rtc: Arc::new(rtc),
            bridges: Mutex::new(bridges),
        })
    }

    /// Whether two handles share one connection.
    pub fn same(&self, other: &Connection) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The runtime this connection runs on.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Creates an offer and applies it locally; the offer is delivered as a
    /// [`ConnectionEvent::SessionDescription`] by the next [`poll_event`](Self::poll_event).
    pub fn create_offer(&self) -> Result<()> {
        self.check_open()?;
        self.inner.sink.hold_candidates();
        let result = self.make_offer();
        self.inner.sink.release_candidates();
        result
    }

    fn make_offer(&self) -> Result<()> {
        let sdp = match &self.inner.backend {
            Backend::WebRtc { rtc, .. } => {
                let offer = self.inner.runtime.block_on(async {
                    let offer = rtc.create_offer(None).await?;
                    rtc.set_local_description(offer.clone()).await?;
                    Ok::<_, webrtc::error::Error>(offer)
                })?;
                offer.map_err(|e| Error::InvalidState(e.to_string()))?.sdp
            }
            Backend::Own(driver) => driver.create_offer()?,
        };
        self.set_signaling(SignalingState::HaveLocalOffer);
        self.local_description_applied(SdpType::Offer, sdp);
        Ok(())
    }

    /// Applies a local description. Offers and answers this connection created are already
    /// applied, so passing one back (as browser-style scripts do) changes nothing.
    pub fn set_local_description(&self, sdp_type: &str, sdp: &str) -> Result<()> {
        self.check_open()?;
        let kind = parse_sdp_type(sdp_type)?;
        if self
            .inner
            .created
            .lock()
            .as_ref()
            .is_some_and(|(k, s)| *k == kind && s == sdp)
        {
            return Ok(());
        }
        let desc = build_description(kind, sdp)?;
        match &self.inner.backend {
            Backend::WebRtc { rtc, .. } => self
                .inner
                .runtime
                .block_on(rtc.set_local_description(desc))?
                .map_err(|e| Error::InvalidSdp(e.to_string()))?,
            Backend::Own(driver) => driver.set_local_description(desc)?,
        }
        self.set_signaling(match kind {
            SdpType::Offer => SignalingState::HaveLocalOffer,
            SdpType::Pranswer => SignalingState::HaveLocalPranswer,
            _ => SignalingState::Stable,
        });
        self.remember_mid(sdp);
        Ok(())
    }

    /// Applies the remote peer's description. A remote offer is answered at once: the answer
    /// is applied locally and delivered by the next [`poll_event`](Self::poll_event).
    pub fn set_remote_description(&self, sdp_type: &str, sdp: &str) -> Result<()> {
        self.check_open()?;
        let kind = parse_sdp_type(sdp_type)?;
        let desc = build_description(kind, sdp)?;
        let state = self.signaling_state();
        let candidates = sdp
            .lines()
            .filter(|line| line.trim_start().starts_with("a=candidate:"))
            .count();
        let expected = match kind {
            SdpType::Answer | SdpType::Pranswer => matches!(
                state,
                SignalingState::HaveLocalOffer | SignalingState::HaveRemotePranswer
            ),
            SdpType::Offer => matches!(
                state,
                SignalingState::Stable | SignalingState::HaveRemoteOffer
            ),
            SdpType::Rollback => true,
        };
        if !expected {
            return Err(Error::InvalidState(format!(
                "a remote {} does not fit signaling state {state:?}",
                kind.as_str()
            )));
        }
        self.count_remote_candidates(candidates)?;
        if kind == SdpType::Offer {
            self.inner.sink.hold_candidates();
        }
        let result = self.apply_remote(kind, desc);
        self.inner.sink.release_candidates();
        if result.is_err() {
            // Refused descriptions bring no candidates.
            self.inner
                .remote_candidates
                .fetch_sub(candidates, Ordering::AcqRel);
        }
        result
    }

    fn apply_remote(&self, kind: SdpType, desc: RTCSessionDescription) -> Result<()> {
        let rtc = match &self.inner.backend {
            Backend::WebRtc { rtc, .. } => rtc,
            Backend::Own(driver) => {
                let answer = driver.set_remote_description(desc, kind == SdpType::Offer)?;
                return self.remote_applied(kind, answer);
            }
        };
        let answer = self.inner.runtime.block_on(async {
            rtc.set_remote_description(desc)
                .await
                .map_err(|e| Error::InvalidSdp(e.to_string()))?;
            if kind != SdpType::Offer {
                return Ok::<_, Error>(None);
            }
            let answer = rtc
                .create_answer(None)
                .await
                .map_err(|e| Error::InvalidSdp(e.to_string()))?;
            rtc.set_local_description(answer.clone())
                .await
                .map_err(|e| Error::InvalidSdp(e.to_string()))?;
            Ok(Some(answer.sdp))
        })??;
        self.remote_applied(kind, answer)
    }

    /// Bookkeeping once a remote description is in: state, the answer to send, and the
    /// candidates that came before it.
    fn remote_applied(&self, kind: SdpType, answer: Option<String>) -> Result<()> {
        self.inner.remote_set.store(true, Ordering::Release);
        self.set_signaling(match kind {
            SdpType::Pranswer => SignalingState::HaveRemotePranswer,
            _ => SignalingState::Stable,
        });
        if let Some(answer) = answer {
            self.local_description_applied(SdpType::Answer, answer);
        }
        let early = std::mem::take(&mut *self.inner.early_candidates.lock());
        for candidate in early {
            // Already validated when it arrived; a failure now means the remote peer sent a
            // candidate for another session, which ICE simply never uses.
            let _ = self.apply_candidate(candidate);
        }
        self.inner.sink.kick.wake_timers();
        Ok(())
    }

    fn apply_candidate(&self, candidate: RTCIceCandidateInit) -> Result<()> {
        match &self.inner.backend {
            Backend::WebRtc { rtc, .. } => {
                let added = self
                    .inner
                    .runtime
                    .block_on(rtc.add_ice_candidate(candidate))?;
                added.map_err(|e| Error::InvalidCandidate(e.to_string()))?;
                // ICE checks the new pair on its next timer, up to an interval later; run it now.
                self.inner.sink.kick.wake_timers();
                Ok(())
            }
            Backend::Own(driver) => driver.add_remote_candidate(candidate),
        }
    }

    /// Adds a remote ICE candidate (trickle). `name` is the candidate line, with or without
    /// its `candidate:` or `a=candidate:` prefix; an empty name marks the end of candidates.
    pub fn add_ice_candidate(&self, media: &str, index: i32, name: &str) -> Result<()> {
        self.check_open()?;
        let line = name.trim().trim_start_matches("a=");
        let body = line.strip_prefix("candidate:").unwrap_or(line);
        if body.is_empty() {
            return Ok(());
        }
        rtc::ice::candidate::unmarshal_candidate(body)
            .map_err(|e| Error::InvalidCandidate(format!("{name:?}: {e}")))?;
        let index = u16::try_from(index)
            .map_err(|_| Error::InvalidCandidate(format!("media index {index} out of range")))?;
        self.count_remote_candidates(1)?;
        let candidate = RTCIceCandidateInit {
            candidate: format!("candidate:{body}"),
            sdp_mid: Some(media.to_owned()),
            sdp_mline_index: Some(index),
            ..Default::default()
        };
        if !self.inner.remote_set.load(Ordering::Acquire) {
            self.inner.early_candidates.lock().push(candidate);
            return Ok(());
        }
        self.apply_candidate(candidate).map_err(|e| match e {
            Error::InvalidCandidate(e) => Error::InvalidCandidate(format!("{name:?}: {e}")),
            other => other,
        })
    }

    /// Counts `n` more remote candidates, or refuses them all past
    /// [`MAX_REMOTE_CANDIDATES`].
    fn count_remote_candidates(&self, n: usize) -> Result<()> {
        self.inner
            .remote_candidates
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken + n <= MAX_REMOTE_CANDIDATES).then_some(taken + n)
            })
            .map(|_| ())
            .map_err(|taken| {
                Error::LimitExceeded(format!(
                    "{} remote ICE candidates would pass the maximum of \
                     {MAX_REMOTE_CANDIDATES} per connection (ICE needs a few dozen at most)",
                    taken + n
                ))
            })
    }

    /// Refuses every data channel the remote peer announces in-band from now on: they are
    /// closed as they arrive and never reported. For users, like [`Mesh`](crate::Mesh), whose
    /// channels are all negotiated: an unread in-band channel would only hold the receive
    /// budget.
    pub fn refuse_remote_channels(&self) {
        self.inner
            .sink
            .refuse_remote_channels
            .store(true, Ordering::Release);
    }

    /// Bytes of received messages waiting unread on this connection's channels.
    pub fn received_bytes_waiting(&self) -> usize {
        self.inner.sink.inbox.budget.used()
    }

    /// Creates a data channel. Allowed only before the connection starts connecting, like
    /// Godot's `create_data_channel`; negotiated channels must be created on both ends.
    pub fn create_data_channel(
        &self,
        label: &str,
        options: &ChannelOptions,
    ) -> Result<DataChannel> {
        self.check_open()?;
        options.validate()?;
        if self.connection_state() != ConnectionState::New {
            return Err(Error::InvalidState(
                "data channels can only be created before the connection starts".into(),
            ));
        }
        if let Some(id) = options.negotiated_id
            && self
                .inner
                .channels
                .lock()
                .iter()
                .any(|c| c.id() == Some(id))
        {
            return Err(Error::InvalidParameter(format!(
                "a channel with id {id} already exists"
            )));
        }
        let channel = match &self.inner.backend {
            Backend::WebRtc { rtc, .. } => {
                let dc = self
                    .inner
                    .runtime
                    .block_on(rtc.create_data_channel(label, Some(options.to_init())))?
                    .map_err(|e| Error::InvalidParameter(e.to_string()))?;
                DataChannel::start(
                    &self.inner.runtime,
                    dc,
                    label.to_owned(),
                    options.clone(),
                    &self.inner.sink.inbox,
                    self.inner.sink.kick.clone(),
                    None,
                )
            }
            Backend::Own(driver) => driver.create_data_channel(label, options)?,
        };
        self.inner.channels.lock().push(channel.clone());
        Ok(channel)
    }

    /// Takes the oldest pending event.
    pub fn poll_event(&self) -> Option<ConnectionEvent> {
        self.inner.sink.events.lock().pop_front()
    }

    /// Overall connection state.
    pub fn connection_state(&self) -> ConnectionState {
        ConnectionState::from_i32(self.inner.sink.connection.load(Ordering::Acquire))
            .unwrap_or(ConnectionState::Closed)
    }

    /// ICE candidate gathering state.
    pub fn gathering_state(&self) -> GatheringState {
        GatheringState::from_i32(self.inner.sink.gathering.load(Ordering::Acquire))
            .unwrap_or(GatheringState::Complete)
    }

    /// Offer/answer state.
    pub fn signaling_state(&self) -> SignalingState {
        SignalingState::from_i32(self.inner.sink.signaling.load(Ordering::Acquire))
            .unwrap_or(SignalingState::Closed)
    }

    /// Closes the connection: the remote end sees its channels close. Pending events stay
    /// readable. Returns at once; the close completes in the background.
    pub fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let sink = &self.inner.sink;
        sink.connection
            .store(ConnectionState::Closed as i32, Ordering::Release);
        sink.signaling
            .store(SignalingState::Closed as i32, Ordering::Release);
        for channel in self.inner.channels.lock().iter() {
            channel.close();
        }
        self.inner.shut_down();
    }

    /// Statistics of the selected candidate pair and the transport.
    pub fn stats(&self) -> Result<ConnectionStats> {
        let report = match &self.inner.backend {
            Backend::WebRtc { rtc, .. } => self
                .inner
                .runtime
                .block_on(rtc.get_stats(Instant::now(), StatsSelector::None))?,
            Backend::Own(driver) => driver.stats()?,
        };
        Ok(ConnectionStats::from_report(
            &report,
            self.connection_state(),
        ))
    }

    fn set_signaling(&self, state: SignalingState) {
        self.inner
            .sink
            .signaling
            .store(state as i32, Ordering::Release);
    }

    fn remember_mid(&self, sdp: &str) {
        if let Some(mid) = sdp.lines().find_map(|l| l.trim().strip_prefix("a=mid:")) {
            *self.inner.sink.mid.lock() = mid.to_owned();
        }
    }

    fn local_description_applied(&self, sdp_type: SdpType, sdp: String) {
        self.remember_mid(&sdp);
        *self.inner.created.lock() = Some((sdp_type, sdp.clone()));
        self.inner
            .sink
            .push(ConnectionEvent::SessionDescription { sdp_type, sdp });
    }
}

fn parse_sdp_type(s: &str) -> Result<SdpType> {
    SdpType::parse(s).ok_or_else(|| {
        Error::InvalidSdp(format!(
            "type {s:?} is not \"offer\", \"answer\", \"pranswer\" or \"rollback\""
        ))
    })
}

fn build_description(kind: SdpType, sdp: &str) -> Result<RTCSessionDescription> {
    if sdp.len() > MAX_DESCRIPTION_SIZE {
        return Err(Error::LimitExceeded(format!(
            "a session description of {} bytes is larger than the maximum of \
             {MAX_DESCRIPTION_SIZE} bytes",
            sdp.len()
        )));
    }
    let sdp = sdp.to_owned();
    let parsed = match kind {
        SdpType::Offer => RTCSessionDescription::offer(sdp),
        SdpType::Answer => RTCSessionDescription::answer(sdp),
        SdpType::Pranswer => RTCSessionDescription::pranswer(sdp),
        SdpType::Rollback => RTCSessionDescription::rollback(Some(sdp)),
    };
    let desc = parsed.map_err(|e| Error::InvalidSdp(e.to_string()))?;
    debug_assert!(desc.sdp_type != RTCSdpType::Unspecified);
    Ok(desc)
}

/// Picks the local UDP address: any port, or a free one from the configured range.
fn local_udp_address(ip: IpAddr, range: Option<&RangeInclusive<u16>>) -> Result<SocketAddr> {
    let Some(range) = range else {
        return Ok(SocketAddr::new(ip, 0));
    };
    // Rotate the starting point so connections created together do not race for one port.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let len = u32::from(*range.end() - *range.start()) + 1;
    let start = u32::from(NEXT.fetch_add(1, Ordering::Relaxed)) % len;
    for k in 0..len {
        let port = *range.start() + ((start + k) % len) as u16;
        // Probing with a throwaway socket: webrtc-rs binds the address itself.
        if UdpSocket::bind((ip, port)).is_ok() {
            return Ok(SocketAddr::new(ip, port));
        }
    }
    Err(Error::Io(format!(
        "no free UDP port in {}..={} on {ip}",
        range.start(),
        range.end()
    )))
}
