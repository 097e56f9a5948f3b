//! A data-channel peer connection assembled from parts, sans-IO: `rtc`'s ICE agent and DTLS
//! endpoint, our SCTP association and our data channel layer, described by our own SDP.
//!
//! ```text
//!   create_offer / set_remote (sdp.rs)          create_channel / send / close (channels.rs)
//!                    |                                           |
//!   handle_read -> demux --STUN (0-3)----> ICE agent            |
//!                    \---DTLS (20-63)----> DTLS endpoint --app data--> SCTP association
//!   poll_transmit <- STUN from the agent, DTLS records over the selected pair <-+
//! ```
//!
//! `rtc`'s own peer connection runs SCTP inside its pipeline with no way to replace it; here
//! DTLS application data is the seam, so the association (`crate::sctp`) carries the data
//! channels with loss recovery suited to games.
//!
//! Each side takes a role from the descriptions: the offerer controls ICE; the answerer is
//! the DTLS server (`a=setup:passive`) unless the offer insists otherwise. The DTLS client
//! starts the SCTP association; a peer that also starts one (a browser) is answered.

mod channels;
mod sdp;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::crypto::{HashAlgorithm, RTCCryptoProvider};
use rtc::dtls::config::{
    ClientAuthType, ConfigBuilder, ExtendedMasterSecretType, HandshakeConfig,
    VerifyPeerCertificateFn,
};
use rtc::dtls::endpoint::{Endpoint, EndpointEvent};
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::ice::agent::agent_config::AgentConfig;
use rtc::ice::agent::{Agent, Event as IceEvent};
use rtc::ice::candidate::{Candidate, unmarshal_candidate};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::state::ConnectionState as IceState;
use rtc::peer_connection::certificate::RTCCertificate;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use crate::sctp::{self, Association, Reliability};
use crate::state::ConnectionState;
pub(crate) use channels::ChannelSettings;
use channels::{Channel, ChannelState, Dcep, ppid};
pub(crate) use sdp::Setup;
use sdp::{LocalDescription, RemoteDescription};

/// The DTLS endpoint keys its one connection by this address; the selected ICE pair says
/// where records really go, so a path change is not a new peer.
const DTLS_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 65535);

/// Channels a session keeps track of over its life (closed ones stay, as indices are ids, but
/// small), and the bytes of label and protocol a peer's channel may have.
const MAX_CHANNELS: usize = 2048;
const MAX_NAMES: usize = 4096;

/// Settings of a session.
pub(crate) struct SessionConfig {
    pub(crate) certificate: RTCCertificate,
    /// Largest message we accept, announced as `a=max-message-size`.
    pub(crate) max_message_size: usize,
    pub(crate) check_interval: Duration,
    pub(crate) disconnected_timeout: Duration,
    pub(crate) failed_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    /// Only relayed candidates are used (the ICE transport policy "relay").
    pub(crate) relay_only: bool,
    pub(crate) sctp: sctp::Config,
}

/// What a session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionEvent {
    /// The connection's state changed (as `RTCPeerConnectionState` derives it: connected once
    /// DTLS is, disconnected and failed as ICE is, closed when either side closes).
    State(ConnectionState),
    /// Why the connection failed, when something other than ICE failed it.
    Failed(String),
    /// A channel we made, or the peer announced, is open.
    ChannelOpen(usize),
    /// The peer opened a channel.
    RemoteChannel(usize),
    ChannelClosing(usize),
    ChannelClosed(usize),
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionError {
    Description(String),
    Candidate(String),
    State(&'static str),
    TooLarge { size: usize, max: usize },
    Full,
    Closed,
}

pub(crate) struct Session {
    config: SessionConfig,
    crypto: Arc<dyn RTCCryptoProvider>,
    agent: Agent,
    fingerprint: String,
    session_id: u64,
    version: u64,
    local_candidates: Vec<String>,
    gathering_complete: bool,
    /// Set by the first description either way.
    offerer: Option<bool>,
    local_setup: Setup,
    remote: Option<RemoteDescription>,
    dtls: Option<Endpoint>,
    dtls_handshake: Option<Arc<HandshakeConfig>>,
    dtls_client: bool,
    dtls_started: bool,
    dtls_connected: bool,
    /// Where DTLS records go: the selected pair, or before one the last address a valid
    /// DTLS datagram came from (so an early ClientHello is answered, not left to its resend).
    route: Option<(SocketAddr, SocketAddr)>,
    sctp: Option<Association>,
    channels: Vec<Channel>,
    events: VecDeque<SessionEvent>,
    state: ConnectionState,
    ice: IceState,
    seed: u64,
    /// Datagrams and bytes each way, for the statistics.
    sent: (u64, u64),
    received: (u64, u64),
}

/// Something unpredictable for SCTP's tags and the SDP session id.
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.finish()
}

impl Session {
    pub(crate) fn new(now: Instant, config: SessionConfig) -> Result<Session, String> {
        let crypto = rtc::crypto::default_provider().map_err(|error| error.to_string())?;
        let agent_config = AgentConfig {
            // Candidates are gathered by the caller; no mDNS queries leave through the agent.
            multicast_dns_mode: MulticastDnsMode::Disabled,
            check_interval: config.check_interval,
            disconnected_timeout: Some(config.disconnected_timeout),
            failed_timeout: Some(config.failed_timeout),
            keepalive_interval: Some(config.keepalive_interval),
            prflx_acceptance_min_wait: Some(Duration::ZERO),
            // With only relays allowed nothing better can turn up: no reason to wait for one.
            relay_acceptance_min_wait: config.relay_only.then_some(Duration::ZERO),
            candidate_types: if config.relay_only {
                vec![rtc::ice::candidate::CandidateType::Relay]
            } else {
                Vec::new()
            },
            ..AgentConfig::default()
        };
        let agent = Agent::new(now, Arc::new(agent_config), crypto.clone())
            .map_err(|error| error.to_string())?;
        let fingerprint = config
            .certificate
            .get_fingerprints(crypto.crypto())
            .map_err(|error| error.to_string())?
            .into_iter()
            .find(|fingerprint| fingerprint.algorithm == "sha-256")
            .ok_or("the certificate has no sha-256 fingerprint")?
            .value
            .to_uppercase();
        let seed = random_u64();
        Ok(Session {
            config,
            crypto,
            agent,
            fingerprint,
            session_id: seed >> 2,
            version: 1,
            local_candidates: Vec::new(),
            gathering_complete: false,
            offerer: None,
            local_setup: Setup::ActPass,
            remote: None,
            dtls: None,
            dtls_handshake: None,
            dtls_client: false,
            dtls_started: false,
            dtls_connected: false,
            route: None,
            sctp: None,
            channels: Vec::new(),
            events: VecDeque::new(),
            state: ConnectionState::New,
            ice: IceState::New,
            seed,
            sent: (0, 0),
            received: (0, 0),
        })
    }

    /// Adds a candidate we gathered; returns its line (without `candidate:`) to signal.
    pub(crate) fn add_local_candidate(&mut self, candidate: Candidate) -> Option<String> {
        let line = candidate.marshal();
        match self.agent.add_local_candidate(candidate) {
            Ok(true) => {
                self.local_candidates.push(line.clone());
                Some(line)
            }
            _ => None,
        }
    }

    pub(crate) fn gathering_done(&mut self) {
        self.gathering_complete = true;
    }

    fn describe(&mut self, setup: Setup, mid: &str) -> String {
        self.version += 1;
        let credentials = self.agent.get_local_credentials();
        LocalDescription {
            session_id: self.session_id,
            version: self.version,
            ufrag: &credentials.ufrag,
            pwd: &credentials.pwd,
            fingerprint: &self.fingerprint,
            setup,
            mid,
            max_message_size: self.config.max_message_size,
            candidates: &self.local_candidates,
            gathering_complete: self.gathering_complete,
        }
        .render()
    }

    /// Our offer.
    pub(crate) fn create_offer(&mut self) -> Result<String, SessionError> {
        if self.offerer == Some(false) {
            return Err(SessionError::State("this side answered; it does not offer"));
        }
        self.offerer = Some(true);
        self.local_setup = Setup::ActPass;
        Ok(self.describe(Setup::ActPass, "0"))
    }

    /// Takes the peer's offer (returning our answer) or answer.
    pub(crate) fn set_remote(
        &mut self,
        now: Instant,
        text: &str,
        is_offer: bool,
    ) -> Result<Option<String>, SessionError> {
        if self.remote.is_some() {
            return Err(SessionError::State(
                "the remote description is already set; renegotiation is not supported",
            ));
        }
        if is_offer == (self.offerer == Some(true)) {
            return Err(SessionError::State(if is_offer {
                "an offer arrived while ours is pending"
            } else {
                "an answer arrived without our offer"
            }));
        }
        let remote = sdp::parse(text).map_err(SessionError::Description)?;
        if remote.sctp_port != 5000 {
            // Every stack uses 5000; ours listens nowhere else.
            return Err(SessionError::Description(format!(
                "a=sctp-port:{} (only 5000 is supported)",
                remote.sctp_port
            )));
        }
        self.offerer = Some(!is_offer);
        // DTLS roles (RFC 8842 §5): an answer takes what the offer leaves open.
        self.dtls_client = match (is_offer, remote.setup) {
            (true, Setup::Passive) => true,
            (true, _) => false,
            (false, Setup::Active) => false,
            (false, _) => true,
        };
        self.local_setup = if self.dtls_client {
            Setup::Active
        } else {
            Setup::Passive
        };
        let controlling = if remote.ice_lite { true } else { !is_offer };
        self.agent
            .start_connectivity_checks(now, controlling, remote.ufrag.clone(), remote.pwd.clone())
            .map_err(|error| SessionError::Description(error.to_string()))?;
        for line in &remote.candidates {
            // A candidate we cannot use (an mDNS name, TCP) is not an error.
            let _ = self.add_remote_candidate(line);
        }
        let handshake = self.handshake_config(&remote);
        self.dtls = Some(Endpoint::new(
            DTLS_PEER,
            TransportProtocol::UDP,
            (!self.dtls_client).then(|| handshake.clone()),
        ));
        self.dtls_handshake = Some(handshake);
        let mid = remote.mid.clone();
        self.remote = Some(remote);
        self.assign_streams();
        self.set_state(ConnectionState::Connecting);
        Ok(is_offer.then(|| self.describe(self.local_setup, &mid)))
    }

    /// A candidate the peer signalled (with or without the `candidate:` prefix).
    pub(crate) fn add_remote_candidate(&mut self, line: &str) -> Result<(), SessionError> {
        let line = line.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        let line = line.strip_prefix("candidate:").unwrap_or(line);
        if line.is_empty() {
            // An end-of-candidates marker.
            return Ok(());
        }
        let candidate = unmarshal_candidate(line)
            .map_err(|error| SessionError::Candidate(error.to_string()))?;
        self.agent
            .add_remote_candidate(candidate)
            .map_err(|error| SessionError::Candidate(error.to_string()))?;
        Ok(())
    }

    /// DTLS as every WebRTC stack expects it: a certificate from both sides, checked against
    /// the fingerprint in the description rather than a CA, the extended master secret, and
    /// SRTP profiles offered even without media (a browser's ClientHello carries `use_srtp`,
    /// and a server without a profile in common refuses it).
    fn handshake_config(&self, remote: &RemoteDescription) -> Arc<HandshakeConfig> {
        let expected: Vec<String> = remote
            .fingerprints
            .iter()
            .filter(|(algorithm, _)| algorithm == "sha-256")
            .map(|(_, value)| value.clone())
            .collect();
        let crypto = self.crypto.clone();
        let verify: VerifyPeerCertificateFn = Arc::new(move |certificates, _| {
            let first = certificates
                .first()
                .ok_or(rtc::shared::error::Error::ErrNonCertificate)?;
            let hash = crypto
                .crypto()
                .hash(HashAlgorithm::Sha256, first)
                .map_err(|error| rtc::shared::error::Error::Crypto(error.to_string()))?;
            let presented = hash
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            if expected.contains(&presented) {
                Ok(())
            } else {
                Err(rtc::shared::error::Error::ErrNoMatchingCertificateFingerprint)
            }
        });
        let built = ConfigBuilder::default()
            .with_crypto_provider(self.crypto.clone())
            .with_certificates(vec![self.config.certificate.dtls_certificate.clone()])
            .with_srtp_protection_profiles(vec![
                SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                SrtpProtectionProfile::Srtp_Aead_Aes_256_Gcm,
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32,
            ])
            .with_client_auth(ClientAuthType::RequireAnyClientCert)
            .with_insecure_skip_verify(true)
            .with_verify_peer_certificate(Some(verify))
            .with_extended_master_secret(ExtendedMasterSecretType::Require)
            // Copies and probes resend records: the peer's replay window drops the extras.
            .with_replay_protection_window(1024)
            .build(self.dtls_client, None);
        Arc::new(built.expect("a fixed, valid DTLS configuration"))
    }

    /// Gives each channel waiting for one a stream of our parity.
    fn assign_streams(&mut self) {
        if self.remote.is_none() {
            return;
        }
        let first = if self.dtls_client { 0 } else { 1 };
        for index in 0..self.channels.len() {
            if self.channels[index].stream.is_some() {
                continue;
            }
            let stream = (first..u16::MAX)
                .step_by(2)
                .find(|candidate| !self.channels.iter().any(|c| c.stream == Some(*candidate)));
            self.channels[index].stream = stream;
        }
        self.open_waiting_channels();
    }

    /// Announces channels that have a stream, once the association is up.
    fn open_waiting_channels(&mut self) {
        let Some(association) = self.sctp.as_mut() else {
            return;
        };
        if !association.is_established() {
            return;
        }
        for (index, channel) in self.channels.iter_mut().enumerate() {
            let (ChannelState::Waiting, Some(stream)) = (channel.state, channel.stream) else {
                continue;
            };
            if channel.settings.negotiated.is_some() {
                channel.state = ChannelState::Open;
                self.events.push_back(SessionEvent::ChannelOpen(index));
                continue;
            }
            let open = Dcep::Open {
                ordered: channel.settings.ordered,
                reliability: channel.settings.reliability,
                label: channel.settings.label.clone(),
                protocol: channel.settings.protocol.clone(),
            };
            // DCEP messages are reliable and ordered, whatever the channel (RFC 8832 §6).
            if association
                .send(
                    stream,
                    ppid::DCEP,
                    open.encode(),
                    true,
                    Reliability::Reliable,
                )
                .is_ok()
            {
                channel.state = ChannelState::Opening;
            }
        }
    }

    /// Makes a channel; it opens once connected. Returns its index.
    pub(crate) fn create_channel(
        &mut self,
        settings: ChannelSettings,
    ) -> Result<usize, SessionError> {
        if let Some(stream) = settings.negotiated
            && self
                .channels
                .iter()
                .any(|channel| channel.stream == Some(stream))
        {
            return Err(SessionError::State("a channel already uses this stream"));
        }
        self.channels.push(Channel {
            stream: settings.negotiated,
            settings,
            state: ChannelState::Waiting,
        });
        self.assign_streams();
        Ok(self.channels.len() - 1)
    }

    pub(crate) fn channel(&self, index: usize) -> Option<&Channel> {
        self.channels.get(index)
    }

    /// Sends a message on an open channel.
    pub(crate) fn send(
        &mut self,
        index: usize,
        data: Bytes,
        is_string: bool,
    ) -> Result<(), SessionError> {
        let channel = self.channels.get(index).ok_or(SessionError::Closed)?;
        let (ChannelState::Open | ChannelState::Opening, Some(stream)) =
            (channel.state, channel.stream)
        else {
            return Err(SessionError::State("the channel is not open"));
        };
        let max = self
            .remote
            .as_ref()
            .map_or(65_536, |remote| remote.max_message_size)
            .min(self.config.sctp.max_message_size);
        if data.len() > max {
            return Err(SessionError::TooLarge {
                size: data.len(),
                max,
            });
        }
        let (ordered, reliability) = (channel.settings.ordered, channel.settings.reliability);
        let (ppid, payload) = channels::outgoing(data, is_string);
        let association = self.sctp.as_mut().ok_or(SessionError::Closed)?;
        association
            .send(stream, ppid, payload, ordered, reliability)
            .map_err(|error| match error {
                sctp::SendError::Full => SessionError::Full,
                sctp::SendError::TooLarge => SessionError::TooLarge {
                    size: 0,
                    max: self.config.sctp.max_message_size,
                },
                sctp::SendError::Empty | sctp::SendError::Closed => SessionError::Closed,
            })
    }

    /// Whether `send` on channel `index` would be refused now: not open, or too large.
    pub(crate) fn check_send(&self, index: usize, len: usize) -> Result<(), SessionError> {
        let channel = self.channels.get(index).ok_or(SessionError::Closed)?;
        match channel.state {
            ChannelState::Open | ChannelState::Opening if channel.stream.is_some() => {}
            ChannelState::Waiting => {
                return Err(SessionError::State("the channel is not open yet"));
            }
            _ => return Err(SessionError::Closed),
        }
        let max = self.max_message_size().unwrap_or(65_536);
        if len > max {
            return Err(SessionError::TooLarge { size: len, max });
        }
        Ok(())
    }

    /// Whether channel `index` retransmits until delivery.
    pub(crate) fn is_reliable(&self, index: usize) -> bool {
        self.channels
            .get(index)
            .is_some_and(|channel| channel.settings.reliability == Reliability::Reliable)
    }

    /// Bytes of every channel's messages not yet acknowledged, and how many may be.
    pub(crate) fn buffered_total(&self) -> (usize, usize) {
        let used = self
            .sctp
            .as_ref()
            .map_or(0, |association| association.buffered());
        (used, self.config.sctp.send_buffer)
    }

    /// Bytes of a channel's messages not yet acknowledged.
    pub(crate) fn buffered_amount(&self, index: usize) -> usize {
        match (
            self.sctp.as_ref(),
            self.channels.get(index).and_then(|c| c.stream),
        ) {
            (Some(association), Some(stream)) => association.buffered_amount(stream),
            _ => 0,
        }
    }

    /// Closes a channel: its stream is reset, and the peer resets its side.
    pub(crate) fn close_channel(&mut self, now: Instant, index: usize) {
        let Some(channel) = self.channels.get_mut(index) else {
            return;
        };
        match (channel.state, channel.stream, self.sctp.as_mut()) {
            (ChannelState::Open | ChannelState::Opening, Some(stream), Some(association)) => {
                channel.state = ChannelState::Closing;
                association.reset_streams(now, &[stream]);
                self.events.push_back(SessionEvent::ChannelClosing(index));
            }
            (ChannelState::Closed, ..) => {}
            _ => {
                channel.close();
                self.events.push_back(SessionEvent::ChannelClosed(index));
            }
        }
    }

    /// Takes a datagram that arrived on `local` from `remote`.
    pub(crate) fn handle_read(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: BytesMut,
    ) {
        let transport = TransportContext {
            local_addr: local,
            peer_addr: remote,
            transport_protocol: TransportProtocol::UDP,
            ecn: None,
        };
        if self.state == ConnectionState::Closed {
            return;
        }
        self.received.0 += 1;
        self.received.1 += bytes.len() as u64;
        match bytes.first() {
            // RFC 7983: STUN.
            Some(0..=3) => {
                let _ = self.agent.handle_read(TaggedBytesMut {
                    now,
                    transport,
                    message: bytes,
                });
                self.drain_agent(now);
            }
            // DTLS, from a peer ICE knows.
            Some(20..=63) => {
                if self.dtls.is_none() || !self.agent.is_valid_non_stun_traffic(now, transport) {
                    return;
                }
                if self.route.is_none() {
                    self.route = Some((local, remote));
                }
                let events = match self.dtls.as_mut() {
                    Some(dtls) => dtls.read(now, DTLS_PEER, None, bytes),
                    None => return,
                };
                match events {
                    Ok(events) => {
                        for event in events {
                            self.on_dtls(now, event);
                        }
                    }
                    Err(error) => {
                        if !self.dtls_connected {
                            self.fail(format!("DTLS: {error}"));
                        }
                    }
                }
            }
            // Media, or nothing WebRTC sends: dropped.
            _ => {}
        }
    }

    fn drain_agent(&mut self, now: Instant) {
        while let Some(event) = self.agent.poll_event() {
            match event.event {
                IceEvent::ConnectionStateChange(state) => {
                    self.ice = state;
                    match state {
                        IceState::Disconnected if self.dtls_connected => {
                            self.set_state(ConnectionState::Disconnected);
                        }
                        IceState::Connected | IceState::Completed if self.dtls_connected => {
                            self.set_state(ConnectionState::Connected);
                        }
                        IceState::Failed => self.fail("ICE failed: no candidate pair works".into()),
                        _ => {}
                    }
                }
                IceEvent::SelectedCandidatePairChange(local, remote) => {
                    self.route = Some((local.base_addr(), remote.addr()));
                    self.start_dtls(now);
                }
                _ => {}
            }
        }
    }

    /// The DTLS client connects once ICE has a pair.
    fn start_dtls(&mut self, now: Instant) {
        if !self.dtls_client || self.dtls_started {
            return;
        }
        let (Some(dtls), Some(handshake)) = (self.dtls.as_mut(), self.dtls_handshake.clone())
        else {
            return;
        };
        if dtls.connect(now, DTLS_PEER, handshake, None).is_ok() {
            self.dtls_started = true;
        }
    }

    fn on_dtls(&mut self, now: Instant, event: EndpointEvent) {
        match event {
            EndpointEvent::HandshakeComplete => {
                self.dtls_connected = true;
                if !matches!(self.ice, IceState::Disconnected | IceState::Failed) {
                    self.set_state(ConnectionState::Connected);
                }
                let seed = self.seed;
                self.sctp = Some(Association::new(
                    self.config.sctp.clone(),
                    now,
                    seed,
                    self.dtls_client,
                ));
            }
            EndpointEvent::ApplicationData(data) => {
                if let Some(association) = self.sctp.as_mut() {
                    association.handle_packet(now, data.freeze());
                }
                self.drain_sctp(now);
            }
            EndpointEvent::PeerClosed => self.peer_closed(),
            _ => {}
        }
    }

    fn drain_sctp(&mut self, now: Instant) {
        loop {
            let Some(event) = self.sctp.as_mut().and_then(Association::poll_event) else {
                return;
            };
            match event {
                sctp::Event::Connected => self.open_waiting_channels(),
                sctp::Event::StreamReset(stream) => self.on_reset(now, stream),
                sctp::Event::Closed => self.peer_closed(),
            }
        }
    }

    fn channel_of(&self, stream: u16) -> Option<usize> {
        self.channels.iter().position(|channel| {
            channel.stream == Some(stream) && channel.state != ChannelState::Closed
        })
    }

    /// The next message for a channel: (channel, data, is_string). DCEP messages are handled
    /// on the way. Messages left here hold the peer back (see `Association::poll_message`).
    pub(crate) fn poll_message(&mut self) -> Option<(usize, Bytes, bool)> {
        loop {
            let message = self.sctp.as_mut()?.poll_message()?;
            if message.ppid == ppid::DCEP {
                self.on_dcep(message.stream, &message.data);
                continue;
            }
            let Some(index) = self.channel_of(message.stream) else {
                continue;
            };
            let Some((data, is_string)) = channels::incoming(message.ppid, message.data) else {
                continue;
            };
            // Data on a stream shows the peer had our OPEN: its ACK went before it.
            if self.channels[index].state == ChannelState::Opening {
                self.channels[index].state = ChannelState::Open;
                self.events.push_back(SessionEvent::ChannelOpen(index));
            }
            return Some((index, data, is_string));
        }
    }

    fn set_state(&mut self, state: ConnectionState) {
        // Closed and failed are final.
        if self.state != state
            && !matches!(
                self.state,
                ConnectionState::Closed | ConnectionState::Failed
            )
        {
            self.state = state;
            self.events.push_back(SessionEvent::State(state));
        }
    }

    fn fail(&mut self, why: String) {
        if !matches!(
            self.state,
            ConnectionState::Closed | ConnectionState::Failed
        ) {
            self.events.push_back(SessionEvent::Failed(why));
            self.set_state(ConnectionState::Failed);
        }
    }

    /// The peer ended the association or DTLS: every channel is closed.
    fn peer_closed(&mut self) {
        for index in 0..self.channels.len() {
            if self.channels[index].state != ChannelState::Closed {
                self.channels[index].close();
                self.events.push_back(SessionEvent::ChannelClosed(index));
            }
        }
        self.set_state(ConnectionState::Closed);
    }

    /// Ends the connection, telling the peer (SCTP ABORT, then DTLS close_notify): what
    /// `poll_transmit` returns next.
    pub(crate) fn close(&mut self, now: Instant) {
        if let Some(association) = self.sctp.as_mut() {
            association.abort();
        }
        if self.dtls_connected
            && let (Some(association), Some(dtls)) = (self.sctp.as_mut(), self.dtls.as_mut())
        {
            while let Some(packet) = association.poll_transmit(now) {
                let _ = dtls.write(now, DTLS_PEER, &packet);
            }
        }
        if let Some(dtls) = self.dtls.as_mut() {
            let _ = dtls.close(now);
        }
        for channel in &mut self.channels {
            channel.close();
        }
        self.set_state(ConnectionState::Closed);
        self.state = ConnectionState::Closed;
    }

    /// The association's smoothed round trip, once measured.
    pub(crate) fn round_trip(&self) -> Option<Duration> {
        self.sctp.as_ref().and_then(Association::round_trip)
    }

    /// The largest message the peer accepts, once its description is in.
    pub(crate) fn max_message_size(&self) -> Option<usize> {
        self.remote.as_ref().map(|remote| {
            remote
                .max_message_size
                .min(self.config.sctp.max_message_size)
        })
    }

    /// The kind of a remote candidate as the peer signalled it. A pair found by the peer's
    /// checks before its candidate arrived is peer-reflexive to ICE, though the candidate later
    /// signalled for the same address says what it is; when no signalled candidate matches,
    /// a peer whose candidates are all of one kind (a relay-only peer's) shares it.
    fn signalled_kind(
        &self,
        remote: &Candidate,
        kind: impl Fn(&Candidate) -> Option<crate::stats::CandidateType>,
    ) -> Option<crate::stats::CandidateType> {
        use rtc::ice::candidate::CandidateType;
        if remote.candidate_type() != CandidateType::PeerReflexive {
            return kind(remote);
        }
        let signalled: Vec<&Candidate> = self
            .agent
            .get_remote_candidates()
            .iter()
            .filter(|c| c.candidate_type() != CandidateType::PeerReflexive)
            .collect();
        if let Some(twin) = signalled.iter().find(|c| c.addr() == remote.addr()) {
            return kind(twin);
        }
        match signalled.first() {
            Some(first)
                if signalled
                    .iter()
                    .all(|c| c.candidate_type() == first.candidate_type()) =>
            {
                kind(first)
            }
            _ => kind(remote),
        }
    }

    /// The statistics of the selected pair.
    pub(crate) fn stats(&self, now: Instant) -> crate::stats::ConnectionStats {
        use crate::stats::CandidateType as Kind;
        use rtc::ice::candidate::CandidateType;
        let kind = |candidate: &Candidate| match candidate.candidate_type() {
            CandidateType::Host => Some(Kind::Host),
            CandidateType::ServerReflexive => Some(Kind::ServerReflexive),
            CandidateType::PeerReflexive => Some(Kind::PeerReflexive),
            CandidateType::Relay => Some(Kind::Relay),
            _ => None,
        };
        let selected = self.agent.get_selected_candidate_pair();
        let round_trip_time = self
            .agent
            .get_candidate_pairs_stats(now)
            .into_iter()
            .filter(|pair| pair.nominated)
            .map(|pair| pair.current_round_trip_time)
            .find(|rtt| *rtt > 0.0)
            .map(Duration::from_secs_f64)
            .or_else(|| self.round_trip());
        crate::stats::ConnectionStats {
            state: self.state,
            round_trip_time,
            bytes_sent: self.sent.1,
            bytes_received: self.received.1,
            packets_sent: self.sent.0,
            packets_received: self.received.0,
            local_candidate: selected.and_then(|(local, _)| kind(local)),
            remote_candidate: selected.and_then(|(_, remote)| self.signalled_kind(remote, kind)),
        }
    }

    fn on_dcep(&mut self, stream: u16, data: &[u8]) {
        match Dcep::decode(data) {
            Ok(Dcep::Open {
                ordered,
                reliability,
                label,
                protocol,
            }) => {
                // A peer may only open streams of its parity (RFC 8832 §6), within the streams
                // agreed, with names of a sane length and up to `MAX_CHANNELS` over the
                // connection's life; anything else is left unanswered.
                let theirs = if self.dtls_client { 1 } else { 0 };
                if stream % 2 != theirs
                    || stream >= self.config.sctp.streams
                    || label.len() + protocol.len() > MAX_NAMES
                    || self.channels.len() >= MAX_CHANNELS
                    || self.channel_of(stream).is_some()
                {
                    return;
                }
                self.channels.push(Channel {
                    settings: ChannelSettings {
                        label,
                        protocol,
                        ordered,
                        reliability,
                        negotiated: None,
                    },
                    stream: Some(stream),
                    state: ChannelState::Open,
                });
                let index = self.channels.len() - 1;
                if let Some(association) = self.sctp.as_mut() {
                    let _ = association.send(
                        stream,
                        ppid::DCEP,
                        Dcep::Ack.encode(),
                        true,
                        Reliability::Reliable,
                    );
                }
                self.events.push_back(SessionEvent::RemoteChannel(index));
                self.events.push_back(SessionEvent::ChannelOpen(index));
            }
            Ok(Dcep::Ack) => {
                if let Some(index) = self.channel_of(stream)
                    && self.channels[index].state == ChannelState::Opening
                {
                    self.channels[index].state = ChannelState::Open;
                    self.events.push_back(SessionEvent::ChannelOpen(index));
                }
            }
            Err(_) => {}
        }
    }

    /// The peer reset its side of a stream: the channel is closed, and ours is reset too.
    fn on_reset(&mut self, now: Instant, stream: u16) {
        let Some(index) = self
            .channels
            .iter()
            .position(|channel| channel.stream == Some(stream))
        else {
            return;
        };
        let channel = &mut self.channels[index];
        if channel.state == ChannelState::Closed {
            return;
        }
        if channel.state != ChannelState::Closing
            && let Some(association) = self.sctp.as_mut()
        {
            association.reset_streams(now, &[stream]);
        }
        channel.close();
        self.events.push_back(SessionEvent::ChannelClosed(index));
    }

    pub(crate) fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// The next datagram to send: (from local, to remote, bytes).
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
    ) -> Option<(SocketAddr, SocketAddr, BytesMut)> {
        let datagram = self.next_datagram(now)?;
        self.sent.0 += 1;
        self.sent.1 += datagram.2.len() as u64;
        Some(datagram)
    }

    fn next_datagram(&mut self, now: Instant) -> Option<(SocketAddr, SocketAddr, BytesMut)> {
        if let Some(datagram) = self.agent.poll_write() {
            return Some((
                datagram.transport.local_addr,
                datagram.transport.peer_addr,
                datagram.message,
            ));
        }
        if self.dtls_connected
            && let (Some(association), Some(dtls)) = (self.sctp.as_mut(), self.dtls.as_mut())
        {
            while let Some(packet) = association.poll_transmit(now) {
                let _ = dtls.write(now, DTLS_PEER, &packet);
            }
        }
        let record = self.dtls.as_mut()?.poll_transmit()?;
        let (local, remote) = self.route?;
        Some((local, remote, record.message))
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.agent.poll_timeout(),
            self.dtls
                .as_ref()
                .and_then(|dtls| dtls.poll_timeout(&DTLS_PEER)),
            self.sctp.as_ref().and_then(Association::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let _ = self.agent.handle_timeout(now);
        self.drain_agent(now);
        if let Some(dtls) = self.dtls.as_mut() {
            let _ = dtls.handle_timeout(DTLS_PEER, now);
        }
        if let Some(association) = self.sctp.as_mut() {
            association.handle_timeout(now);
        }
        self.drain_sctp(now);
    }
}
