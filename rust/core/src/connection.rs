//! One WebRTC peer connection, driven from the caller's thread.
//!
//! Signaling calls (`create_offer`, `set_remote_description`, `add_ice_candidate`, ...) run to
//! completion before they return, so their errors come back to the caller; what the driver
//! reports later (local candidates, descriptions, state changes) waits in a queue that
//! [`Connection::poll_event`] drains.
//!
//! Underneath, this crate's [`Driver`] runs the connection: its sockets, its STUN and TURN
//! servers and its sans-IO session (ICE and DTLS from the `rtc` crate, our SCTP).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rtc::peer_connection::transport::RTCIceCandidateInit;

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
use crate::session::{Session, SessionConfig};
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
        let certificate = runtime.certificate().ok_or_else(|| {
            Error::Internal("no DTLS certificate could be made on this machine".into())
        })?;
        let relay_only = config.ice_transport_policy == IceTransportPolicy::Relay;
        if relay_only
            && !config
                .ice_servers
                .iter()
                .any(|server| server.urls.iter().any(|url| url.starts_with("turn")))
        {
            return Err(Error::InvalidConfig(
                "a relay-only policy needs a TURN server to relay through".into(),
            ));
        }
        let pc = Session::new(
            std::time::Instant::now(),
            SessionConfig {
                certificate,
                max_message_size: MAX_MESSAGE_SIZE,
                check_interval: config.ice_check_interval,
                disconnected_timeout: config.ice_disconnected_timeout,
                failed_timeout: config.ice_failed_timeout,
                keepalive_interval: config.ice_keepalive_interval,
                relay_only,
                sctp: crate::sctp::Config {
                    max_message_size: MAX_MESSAGE_SIZE,
                    receive_buffer: config
                        .receive_window
                        .min(runtime.receive_window_cap())
                        .max(64 * 1024),
                    // Each channel is held to the send buffer limit by the driver; all of them
                    // together to four times it.
                    send_buffer: config.send_buffer_limit.saturating_mul(4),
                    ..crate::sctp::Config::default()
                },
            },
        )
        .map_err(Error::Internal)?;
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
        check_description(kind, sdp)?;
        self.inner.driver.set_local_description()?;
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
        check_description(kind, sdp)?;
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
        let result = self.apply_remote(kind, sdp);
        self.inner.shared.release_candidates();
        if result.is_err() {
            // Refused descriptions bring no candidates.
            self.inner
                .remote_candidates
                .fetch_sub(candidates, Ordering::AcqRel);
        }
        result
    }

    fn apply_remote(&self, kind: SdpType, sdp: &str) -> Result<()> {
        let answer = self
            .inner
            .driver
            .set_remote_description(sdp, kind == SdpType::Offer)?;
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
        Ok(ConnectionStats {
            state: self.connection_state(),
            ..self.inner.driver.stats()?
        })
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

/// What any description must be before it is read: within the size bound, an offer or an
/// answer, and SDP.
fn check_description(kind: SdpType, sdp: &str) -> Result<()> {
    if sdp.len() > MAX_DESCRIPTION_SIZE {
        return Err(Error::LimitExceeded(format!(
            "a session description of {} bytes is larger than the maximum of \
             {MAX_DESCRIPTION_SIZE} bytes",
            sdp.len()
        )));
    }
    if matches!(kind, SdpType::Pranswer | SdpType::Rollback) {
        return Err(Error::InvalidSdp(format!(
            "{} descriptions are not supported: a connection is offered and answered once",
            kind.as_str()
        )));
    }
    if !sdp.trim_start().starts_with("v=0") {
        return Err(Error::InvalidSdp(
            "a session description starts with v=0".into(),
        ));
    }
    Ok(())
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
