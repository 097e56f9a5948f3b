//! The driver of every connection: its sans-IO session (see `session`), its sockets, its STUN
//! and TURN servers and its timers.
//!
//! A driver that hands every message across tasks and channels (caller -> driver task ->
//! data-channel task -> application) wakes for each; on a 60 Hz mesh that cost ~55 us of CPU
//! per message. Here the session sits behind one lock: a send runs on the caller's
//! thread down to the socket, a datagram is read, decrypted and put in its channel's inbox by
//! the task that read it, and one more task per connection runs the protocol timers. No
//! message crosses a thread on the way out, and one crossing on the way in.
//!
//! ```text
//!   caller ── send ──────────────> session ─────────> flush ──> sockets (GSO) / relays
//!          └─ within COALESCE of a flush ─> outbox ──> (timer task's flush) ─┘
//!   socket task ── datagram ──> servers? ──no──> session ─────────> channel inboxes
//!                                   └─yes─> TURN client: candidates, relayed datagrams
//!   timer task ── deadline ──> session + servers' timers ──> flush
//!   resolve task ── server names ──> servers asked once gathering starts
//! ```

mod copies;
mod events;
mod gather;
mod handshake;
mod outbox;
mod output;
mod probe;
mod servers;
mod sockets;
mod tasks;
mod turn_stream;

pub(crate) use sockets::host_addresses;
#[cfg(feature = "fuzzing")]
pub(crate) use turn_stream::{frame_for_stream, next_message};

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rtc::data_channel::RTCDataChannelId;
use rtc::ice::candidate::unmarshal_candidate;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub(crate) use gather::Plan;
#[cfg(test)]
pub(crate) use gather::host_candidate;
use outbox::Outbox;
use servers::{Servers, Target};
use sockets::Socket;
use turn_stream::Stream;

use crate::channel::{Carrier, ChannelOptions, DataChannel, Message, RemoteSlot, WeakDataChannel};
use crate::conditions::{LinkSimulator, NetworkConditions};
use crate::connection_shared::ConnectionShared;
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::session::Session;
use crate::state::{ChannelState, ConnectionState, GatheringState};
use crate::stats::ConnectionStats;
use handshake::HandshakeGuard;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
/// Datagrams read per pass before the protocol's output is flushed: enough to batch a burst's
/// acknowledgements, few enough that timers and senders are not held up.
const READ_BATCH: usize = 64;

/// A send this soon after the connection's last flush is left for the timer task to flush
/// with whatever follows it: a burst leaves in full packets (SCTP bundles small messages) and
/// one pass of the protocol per packet, not per message. A lone message, or the first of a
/// burst, goes out at once from the caller's thread.
const COALESCE: Duration = Duration::from_micros(20);

struct Core {
    pc: Session,
    // Held weakly: a channel whose every handle is gone (an in-band one the application
    // ignored, say) is closed rather than filled for nobody.
    channels: HashMap<RTCDataChannelId, WeakDataChannel>,
    // When the timer task next has to run the protocol's timers.
    deadline: Option<Instant>,
    // A message whose reliable channel has a full inbox: reading stops until the application
    // makes room, so SCTP's window closes and the sender slows down.
    held: Option<(RTCDataChannelId, Message)>,
    // In-band channels of the remote peer: the slots of those admitted, and those refused (closing;
    // what still arrives on them is dropped).
    remote: HashMap<RTCDataChannelId, RemoteSlot>,
    refused: HashSet<RTCDataChannelId>,
    // The STUN and TURN servers, the ones ready to ask (names resolved), and whether names
    // are still resolving.
    servers: Servers,
    targets: Vec<Target>,
    resolving: bool,
    gathering: Gathering,
    relay_only: bool,
    // The streams to TCP and TLS TURN servers; dropped on close, which ends them.
    streams: Vec<Stream>,
    // What the network conditions hold back, when any are set.
    simulator: Option<LinkSimulator>,
    // When the connection fails if it has not connected by then: set with the remote
    // description, cleared once connected.
    connect_deadline: Option<Instant>,
    connect_timeout: Duration,
    // Our last DTLS handshake flight, and what of it is to be sent again (see `handshake`).
    handshake: HandshakeGuard,
    resend: Vec<handshake::Sent>,
    closed: bool,
    // When datagrams were last sent, and whether messages wait for the timer task to send
    // them (see `COALESCE`).
    last_flush: Instant,
    flush_pending: bool,
    // What was sent while a flush was pending, for that flush to write (see `outbox`).
    outbox: Outbox,
    // Until the first channel opens, DTLS datagrams leave in copies (see `SETUP_COPIES`); set
    // `opened` when it does, so that the flush sending the last handshake answer still copies.
    setting_up: bool,
    opened: bool,
    // Sends recent datagrams again when reliable data stays unacknowledged (see `probe`).
    probe: probe::TailProbe,
    // Sends the datagrams of a sparse reliable message twice (see `copies`).
    copies: copies::ReliableCopies,
}

/// How far gathering has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gathering {
    /// No local description yet.
    Idle,
    /// Host candidates given; the servers are asked once their names resolve.
    Hosts,
    /// The servers are asked; complete when all have answered.
    Servers,
    Complete,
}

impl Core {
    /// Closes channel `id` for good: nobody will read it, so what still arrives is dropped.
    fn refuse(&mut self, id: RTCDataChannelId) {
        self.channels.remove(&id);
        self.refused.insert(id);
        self.pc.close_channel(Instant::now(), id);
    }
}

/// How a driver treats its connection: the network conditions it applies, how long it may take
/// to connect, how much may wait unsent per channel.
pub(crate) struct Limits {
    pub(crate) conditions: NetworkConditions,
    pub(crate) connect_timeout: Duration,
    pub(crate) send_buffer_limit: usize,
}

/// A connection driven by this module: see the module documentation.
pub(crate) struct Driver {
    core: Mutex<Core>,
    sockets: Vec<Socket>,
    shared: Arc<ConnectionShared>,
    // Wakes the timer task: its deadline moved earlier, or reading may resume (a reader made
    // room in an inbox or a receive budget).
    wake: Arc<Notify>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    send_buffer_limit: usize,
    // For channels made inside a pass (announced by the peer), which hold the driver weakly.
    me: Weak<Driver>,
}

impl Driver {
    /// Binds the connection's sockets (one per local address), starts its tasks and, when
    /// its servers have names, their resolution.
    pub(crate) fn start(
        runtime: &Runtime,
        pc: Session,
        addresses: &[SocketAddr],
        plan: Plan,
        limits: Limits,
        shared: Arc<ConnectionShared>,
    ) -> Result<Arc<Driver>> {
        let Limits {
            conditions,
            connect_timeout,
            send_buffer_limit,
        } = limits;
        let _entered = runtime.tokio_handle().enter();
        let sockets = sockets::bind_all(runtime, addresses)?;
        let Plan {
            ready,
            unresolved,
            streams,
            pending_streams,
            relay_only,
        } = plan;
        let driver = Arc::new_cyclic(|me| Driver {
            core: Mutex::new(Core {
                pc,
                channels: HashMap::new(),
                deadline: None,
                held: None,
                remote: HashMap::new(),
                refused: HashSet::new(),
                servers: Servers::default(),
                targets: ready,
                resolving: !unresolved.is_empty(),
                gathering: Gathering::Idle,
                relay_only,
                streams,
                simulator: (!conditions.is_perfect())
                    .then(|| LinkSimulator::new(conditions, Instant::now())),
                connect_deadline: None,
                connect_timeout,
                handshake: HandshakeGuard::default(),
                resend: Vec::new(),
                closed: false,
                last_flush: Instant::now(),
                flush_pending: false,
                outbox: Outbox::default(),
                setting_up: true,
                opened: false,
                probe: probe::TailProbe::default(),
                copies: copies::ReliableCopies::new(Instant::now()),
            }),
            sockets,
            shared,
            wake: Arc::new(Notify::new()),
            tasks: Mutex::new(Vec::new()),
            send_buffer_limit,
            me: me.clone(),
        });
        let handle = runtime.tokio_handle();
        let mut tasks = Vec::with_capacity(driver.sockets.len() + 2);
        for index in 0..driver.sockets.len() {
            tasks.push(handle.spawn(tasks::read_loop(Arc::downgrade(&driver), index)));
        }
        tasks.push(handle.spawn(tasks::timer_loop(driver.clone())));
        if !unresolved.is_empty() {
            tasks.push(handle.spawn(tasks::resolve(Arc::downgrade(&driver), unresolved)));
        }
        // Not among the tasks aborted on close: a stream ends once the driver drops its end,
        // after writing what is queued (the release of its allocation).
        for pending in pending_streams {
            let me = Arc::downgrade(&driver);
            drop(handle.spawn(
                pending.run(move |from, message| tasks::stream_received(&me, from, message)),
            ));
        }
        *driver.tasks.lock() = tasks;
        Ok(driver)
    }

    fn lock(&self) -> Result<parking_lot::MutexGuard<'_, Core>> {
        let core = self.core.lock();
        if core.closed {
            return Err(Error::Closed);
        }
        Ok(core)
    }

    /// Creates an offer and applies it locally; returns its SDP.
    pub(crate) fn create_offer(&self) -> Result<String> {
        let mut core = self.lock()?;
        let sdp = core.pc.create_offer().map_err(Error::from)?;
        // Candidates trickle after the description, as the peer's signaling expects them.
        self.gather(&mut core);
        self.settle(&mut core);
        Ok(sdp)
    }

    /// A description made elsewhere cannot be the local one: the session writes its own.
    pub(crate) fn set_local_description(&self) -> Result<()> {
        let _core = self.lock()?;
        Err(Error::InvalidSdp(
            "only a description this connection created can be applied locally".into(),
        ))
    }

    /// Applies the remote description; a remote offer is answered and the answer applied.
    /// Returns the answer's SDP, if one was made.
    pub(crate) fn set_remote_description(&self, sdp: &str, answer: bool) -> Result<Option<String>> {
        let mut core = self.lock()?;
        let now = Instant::now();
        let made = core.pc.set_remote(now, sdp, answer).map_err(Error::from)?;
        if answer {
            self.gather(&mut core);
        }
        if core.connect_deadline.is_none()
            && ConnectionState::from_i32(self.shared.connection.load(Ordering::Acquire))
                != Some(ConnectionState::Connected)
        {
            core.connect_deadline = Some(now + core.connect_timeout);
        }
        self.settle(&mut core);
        Ok(made)
    }

    /// Adds a remote candidate.
    pub(crate) fn add_remote_candidate(&self, candidate: RTCIceCandidateInit) -> Result<()> {
        // A browser hides its host addresses behind mDNS names, which need a resolver this
        // driver does not run. Its checks reach us anyway and make a peer-reflexive pair, so
        // leaving the name out loses nothing.
        if candidate
            .candidate
            .split_whitespace()
            .nth(4)
            .is_some_and(|address| address.ends_with(".local"))
        {
            return Ok(());
        }
        let mut core = self.lock()?;
        core.pc
            .add_remote_candidate(&candidate.candidate)
            .map_err(Error::from)?;
        // Checks of the new pair start on the next timer; run it now rather than an interval later.
        core.pc.handle_timeout(Instant::now());
        self.settle(&mut core);
        Ok(())
    }

    /// Creates a data channel of this connection.
    pub(crate) fn create_data_channel(
        &self,
        label: &str,
        options: &ChannelOptions,
    ) -> Result<DataChannel> {
        let mut core = self.lock()?;
        let id = core
            .pc
            .create_channel(options.to_settings(label))
            .map_err(Error::from)?;
        let channel = DataChannel::new(
            self.me.clone(),
            id,
            label.to_owned(),
            options.clone(),
            &self.shared.inbox,
            self.wake.clone(),
        );
        core.channels.insert(id, channel.downgrade());
        Ok(channel)
    }

    /// Applies `conditions` to what is sent from now on; what the previous ones hold back
    /// still leaves when it was due.
    pub(crate) fn set_network_conditions(&self, conditions: NetworkConditions) -> Result<()> {
        let mut core = self.lock()?;
        match core.simulator.as_mut() {
            Some(simulator) => simulator.change(conditions, Instant::now()),
            None if conditions.is_perfect() => {}
            None => core.simulator = Some(LinkSimulator::new(conditions, Instant::now())),
        }
        self.settle(&mut core);
        Ok(())
    }

    /// Statistics of the transport and the selected pair.
    pub(crate) fn stats(&self) -> Result<ConnectionStats> {
        let core = self.lock()?;
        Ok(core.pc.stats(Instant::now()))
    }

    /// Closes the connection: the peer is told at once (SCTP ABORT, DTLS close_notify), the
    /// tasks stop, channels report closed.
    pub(crate) fn close(&self) {
        let channels = {
            let mut core = self.core.lock();
            if core.closed {
                return;
            }
            core.pc.close(Instant::now());
            core.servers.close(Instant::now());
            self.flush(&mut core);
            core.streams.clear();
            core.closed = true;
            core.held = None;
            core.remote.clear();
            std::mem::take(&mut core.channels)
        };
        for channel in channels.values().filter_map(WeakDataChannel::upgrade) {
            channel.state_changed(ChannelState::Closed);
        }
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }

    /// Starts gathering once a local description exists: a host candidate per local socket
    /// (unless only relays may be used), then the servers'. See [`gather`].
    fn gather(&self, core: &mut Core) {
        if core.gathering != Gathering::Idle {
            return;
        }
        core.gathering = Gathering::Hosts;
        // Reported here, as is its end.
        self.shared
            .gathering
            .store(GatheringState::Gathering as i32, Ordering::Release);
        if !core.relay_only {
            for socket in &self.sockets {
                if let Some(candidate) = gather::host_candidate(socket.local) {
                    self.local_candidate(core, candidate);
                }
            }
        }
        let _ = self.gather_servers(core);
    }

    /// Asks the servers once their names are resolved, and completes gathering once they have
    /// all answered. Returns whether there is something new to report.
    fn gather_servers(&self, core: &mut Core) -> bool {
        if core.gathering == Gathering::Hosts && !core.resolving {
            let locals: Vec<SocketAddr> = self.sockets.iter().map(|s| s.local).collect();
            let targets = std::mem::take(&mut core.targets);
            core.servers
                .start(Instant::now(), &targets, &locals, core.relay_only);
            core.gathering = Gathering::Servers;
        }
        if core.gathering == Gathering::Servers && core.servers.finished() {
            core.gathering = Gathering::Complete;
            core.pc.gathering_done();
            self.shared
                .gathering
                .store(GatheringState::Complete as i32, Ordering::Release);
            return true;
        }
        false
    }

    /// Gives the session a candidate we gathered, and signals it.
    fn local_candidate(&self, core: &mut Core, candidate: RTCIceCandidateInit) {
        let line = candidate.candidate.trim_start_matches("candidate:");
        let parsed = match unmarshal_candidate(line) {
            Ok(parsed) => parsed,
            Err(e) => {
                log::warn!("a local candidate was refused: {e}");
                return;
            }
        };
        if let Some(line) = core.pc.add_local_candidate(parsed) {
            let media = self.shared.mid.lock().clone();
            self.shared
                .push(crate::connection_shared::ConnectionEvent::IceCandidate {
                    media,
                    index: 0,
                    name: format!("candidate:{line}"),
                });
        }
    }

    /// Hands a datagram from the peer (directly or through a relay) to the session,
    /// and has our last handshake flight sent again if the datagram shows it was lost.
    fn receive(&self, core: &mut Core, datagram: TaggedBytesMut) {
        self.shared.heard(datagram.now);
        if let Some(flight) = core.handshake.received(&datagram.message, datagram.now) {
            core.resend.extend_from_slice(flight);
        }
        core.pc.handle_read(
            datagram.now,
            datagram.transport.local_addr,
            datagram.transport.peer_addr,
            datagram.message,
        );
    }

    /// Hands what the servers produced to the session: candidates, and datagrams their
    /// relays forwarded. Returns whether there was any.
    fn serve(&self, core: &mut Core) -> bool {
        let mut any = false;
        while let Some(candidate) = core.servers.poll_candidate() {
            any = true;
            self.local_candidate(core, candidate);
        }
        while let Some(datagram) = core.servers.poll_received() {
            any = true;
            self.receive(core, datagram);
        }
        while let Some(problem) = core.servers.poll_problem() {
            log::warn!("ICE server {problem}");
        }
        self.gather_servers(core) || any
    }

    /// Moves everything the protocol has for the outside out: events, received messages,
    /// datagrams; then re-arms the timer.
    fn settle(&self, core: &mut Core) {
        // Events and reads can queue datagrams, and datagrams sent can unblock nothing, so a
        // few passes end it; the bound only guards against a protocol that keeps producing.
        for _ in 0..4 {
            let mut busy = false;
            busy |= self.deliver(core);
            while let Some(event) = core.pc.poll_event() {
                busy = true;
                self.on_event(core, event);
            }
            busy |= self.serve(core);
            busy |= self.flush(core);
            if !busy {
                break;
            }
        }
        self.watch_reliable(core);
        self.settle_deadline(core);
    }

    fn settle_deadline(&self, core: &mut Core) {
        let next = [
            core.pc.poll_timeout(),
            core.servers.poll_timeout(),
            core.simulator.as_ref().and_then(LinkSimulator::next_due),
            core.connect_deadline,
            core.probe.deadline(),
            core.copies.deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let earlier = match (next, core.deadline) {
            (Some(next), Some(current)) => next < current,
            (Some(_), None) => true,
            (None, _) => false,
        };
        core.deadline = next;
        if earlier {
            self.wake.notify_one();
        }
    }
}

impl Carrier for Driver {
    /// Sends one message on channel `id`, from the caller's thread to the socket. `is_string`
    /// marks `data` as UTF-8 text.
    fn send(&self, id: RTCDataChannelId, data: &[u8], is_string: bool) -> Result<()> {
        let mut guard = self.lock()?;
        let core = &mut *guard;
        let queued = core.outbox.bytes(id);
        core.pc.check_send(id, data.len()).map_err(Error::from)?;
        let (total, capacity) = core.pc.buffered_total();
        if core.pc.buffered_amount(id) + queued + data.len() > self.send_buffer_limit
            || total + core.outbox.total() + data.len() > capacity
        {
            return Err(Error::BufferFull);
        }
        if core.pc.is_reliable(id) {
            core.probe.reliable_sent();
            core.copies.reliable_sent();
        }
        let is_string = is_string && std::str::from_utf8(data).is_ok();
        let data = Bytes::copy_from_slice(data);
        let now = Instant::now();
        if core.flush_pending || now.duration_since(core.last_flush) < COALESCE {
            core.outbox.push(id, data, is_string);
            if !core.flush_pending {
                core.flush_pending = true;
                self.wake.notify_one();
            }
            return Ok(());
        }
        core.pc.send(id, data, is_string).map_err(Error::from)?;
        self.flush(core);
        self.settle_deadline(core);
        Ok(())
    }

    /// Bytes sent on channel `id` that SCTP has not yet released.
    fn buffered_amount(&self, id: RTCDataChannelId) -> usize {
        let core = self.core.lock();
        let queued = core.outbox.bytes(id);
        core.pc.buffered_amount(id) + queued
    }

    /// Starts closing channel `id`.
    fn close_channel(&self, id: RTCDataChannelId) {
        let Ok(mut core) = self.lock() else {
            return;
        };
        // What the channel still has queued leaves before its close.
        self.flush(&mut core);
        core.pc.close_channel(Instant::now(), id);
        self.settle(&mut core);
    }
}

/// A datagram between `local` and `peer` as the protocol's parts take it.
fn tagged(now: Instant, local: SocketAddr, peer: SocketAddr, message: BytesMut) -> TaggedBytesMut {
    TaggedBytesMut {
        now,
        transport: TransportContext {
            local_addr: local,
            peer_addr: peer,
            ecn: None,
            transport_protocol: TransportProtocol::UDP,
        },
        message,
    }
}
