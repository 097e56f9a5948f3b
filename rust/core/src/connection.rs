//! One WebRTC peer connection, driven from the caller's thread.
//!
//! Signaling calls (`create_offer`, `set_remote_description`, `add_ice_candidate`, ...) run to
//! completion before they return, so their errors come back to the caller; what the driver
//! reports later (local candidates, descriptions, state changes) waits in a queue that
//! [`Connection::poll_event`] drains.
//!
//! Underneath, this crate's [`Driver`] runs the connection: its sockets, its STUN and TURN
//! servers and the sans-IO peer connection of the `rtc` crate.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rtc::peer_connection::configuration::setting_engine::{
    SctpMaxMessageSize, SettingEngineBuilder,
};
use rtc::peer_connection::configuration::{
    RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy,
};
use rtc::peer_connection::sdp::{RTCSdpType, RTCSessionDescription};
use rtc::peer_connection::transport::{RTCDtlsRole, RTCIceCandidateInit};

use crate::channel::{ChannelOptions, DataChannel, InboxLimits};
use crate::conditions::NetworkConditions;
use crate::config::{
    ConnectionConfig, IceTransportPolicy, MAX_DESCRIPTION_SIZE, MAX_MESSAGE_SIZE,
    MAX_REMOTE_CANDIDATES,
};
use crate::connection_shared::{ConnectionEvent, ConnectionShared};
use crate::driver::{self, Driver, Limits, Plan};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::state::{ConnectionState, GatheringState, SdpType, SignalingState};
use crate::stats::ConnectionStats;

struct Inner {
    runtime: Runtime,
    driver: Arc<Driver>,
    shared: Arc<ConnectionShared>,
    remote_set: AtomicBool,
    // Candidates that arrived before the remote description; applied right after it.
    early_candidates: Mutex<Vec<RTCIceCandidateInit>>,
    // Remote candidates taken so far, trickled or in descriptions; see `MAX_REMOTE_CANDIDATES`.
    remote_candidates: AtomicUsize,
    channels: Mutex<Vec<DataChannel>>,
    // The last description this connection created, as sent out: scripts pass it back to
    // `set_local_description`, which must not apply it twice.
    created: Mutex<Option<(SdpType, String)>>,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without an explicit close the driver's tasks would keep running.
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.driver.close();
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
        let shared = Arc::new(ConnectionShared::new(
            InboxLimits {
                messages: config.receive_queue_limit,
                budget: runtime.connection_budget(config.receive_budget),
            },
            config.max_remote_channels,
        ));
        let plan = Plan::new(config)?;
        let rtc_config = RTCConfigurationBuilder::new()
            .with_certificates(runtime.certificate().into_iter().collect())
            // The driver asks the servers; the peer connection only checks that a relay-only
            // policy has a TURN server to relay through.
            .with_ice_servers(
                config
                    .ice_servers
                    .iter()
                    .map(|server| RTCIceServer {
                        urls: server.urls.clone(),
                        username: server.username.clone(),
                        credential: server.credential.clone(),
                    })
                    .collect(),
            )
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
            // The driver's probe sends lost datagrams again from behind the newest (see
            // `driver/probe.rs`): a record up to 1024 behind still gets in (64 by default).
            .with_dtls_replay_protection_window(1024)
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
        let pc = driver::build(rtc_config, settings)?;
        let addresses = driver::host_addresses(udp_addr);
        let driver = Driver::start(
            runtime,
            pc,
            &addresses,
            plan,
            Limits {
                conditions: match config.network_conditions.is_perfect() {
                    true => runtime.network_conditions().clone(),
                    false => config.network_conditions.clone(),
                },
                connect_timeout: config.connect_timeout,
                send_buffer_limit: config.send_buffer_limit,
            },
            shared.clone(),
        )?;
        Ok(Connection {
            inner: Arc::new(Inner {
                runtime: runtime.clone(),
                driver,
                shared,
                remote_set: AtomicBool::new(false),
                early_candidates: Mutex::new(Vec::new()),
                remote_candidates: AtomicUsize::new(0),
                channels: Mutex::new(Vec::new()),
                created: Mutex::new(None),
                closed: AtomicBool::new(false),
            }),
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
        self.inner.shared.hold_candidates();
        let result = self.make_offer();
        self.inner.shared.release_candidates();
        result
    }

    fn make_offer(&self) -> Result<()> {
        let sdp = self.inner.driver.create_offer()?;
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
        self.inner.driver.set_local_description(desc)?;
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
            self.inner.shared.hold_candidates();
        }
        let result = self.apply_remote(kind, desc);
        self.inner.shared.release_candidates();
        if result.is_err() {
            // Refused descriptions bring no candidates.
            self.inner
                .remote_candidates
                .fetch_sub(candidates, Ordering::AcqRel);
        }
        result
    }

    fn apply_remote(&self, kind: SdpType, desc: RTCSessionDescription) -> Result<()> {
        let answer = self
            .inner
            .driver
            .set_remote_description(desc, kind == SdpType::Offer)?;
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
        Ok(())
    }

    fn apply_candidate(&self, candidate: RTCIceCandidateInit) -> Result<()> {
        self.inner.driver.add_remote_candidate(candidate)
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
        self.inner.shared.refuse_remote_channels();
    }

    /// Applies network conditions (delay, loss, outages, ...) to what this connection sends
    /// from now on, replacing those it had; a perfect link
    /// ([`NetworkConditions::default`]) turns them off. Outages count from this call.
    pub fn set_network_conditions(&self, conditions: &NetworkConditions) -> Result<()> {
        self.check_open()?;
        conditions.validate()?;
        self.inner.driver.set_network_conditions(conditions.clone())
    }

    /// How long since anything (data, keepalives, handshake) arrived from the remote peer, or
    /// since the connection was made if nothing has.
    pub fn silence(&self) -> Duration {
        self.inner.shared.silence()
    }

    /// Bytes of received messages waiting unread on this connection's channels.
    pub fn received_bytes_waiting(&self) -> usize {
        self.inner.shared.inbox.budget.used()
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
        let channel = self.inner.driver.create_data_channel(label, options)?;
        self.inner.channels.lock().push(channel.clone());
        Ok(channel)
    }

    /// Takes the oldest pending event.
    pub fn poll_event(&self) -> Option<ConnectionEvent> {
        self.inner.shared.pop_event()
    }

    /// Overall connection state.
    pub fn connection_state(&self) -> ConnectionState {
        ConnectionState::from_i32(self.inner.shared.connection.load(Ordering::Acquire))
            .unwrap_or(ConnectionState::Closed)
    }

    /// ICE candidate gathering state.
    pub fn gathering_state(&self) -> GatheringState {
        GatheringState::from_i32(self.inner.shared.gathering.load(Ordering::Acquire))
            .unwrap_or(GatheringState::Complete)
    }

    /// Offer/answer state.
    pub fn signaling_state(&self) -> SignalingState {
        SignalingState::from_i32(self.inner.shared.signaling.load(Ordering::Acquire))
            .unwrap_or(SignalingState::Closed)
    }

    /// Closes the connection: the remote end sees its channels close. Pending events stay
    /// readable. Returns at once; the close completes in the background.
    pub fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = &self.inner.shared;
        shared
            .connection
            .store(ConnectionState::Closed as i32, Ordering::Release);
        shared
            .signaling
            .store(SignalingState::Closed as i32, Ordering::Release);
        for channel in self.inner.channels.lock().iter() {
            channel.close();
        }
        self.inner.driver.close();
    }

    /// Statistics of the selected candidate pair and the transport.
    pub fn stats(&self) -> Result<ConnectionStats> {
        let report = self.inner.driver.stats()?;
        Ok(ConnectionStats::from_report(
            &report,
            self.connection_state(),
        ))
    }

    fn set_signaling(&self, state: SignalingState) {
        self.inner
            .shared
            .signaling
            .store(state as i32, Ordering::Release);
    }

    fn remember_mid(&self, sdp: &str) {
        if let Some(mid) = sdp.lines().find_map(|l| l.trim().strip_prefix("a=mid:")) {
            *self.inner.shared.mid.lock() = mid.to_owned();
        }
    }

    fn local_description_applied(&self, sdp_type: SdpType, sdp: String) {
        self.remember_mid(&sdp);
        *self.inner.created.lock() = Some((sdp_type, sdp.clone()));
        self.inner
            .shared
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
        // Probing with a throwaway socket: the driver binds the address (on every interface
        // when it is unspecified).
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
