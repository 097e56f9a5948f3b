//! The core's own driver for connections with host candidates only (no STUN or TURN server:
//! LAN and loopback), over the sans-IO peer connection of the `rtc` crate.
//!
//! webrtc-rs's driver hands every message across tasks and channels (caller -> driver task ->
//! data-channel task -> application) and wakes for each; on a 60 Hz mesh that costs ~55 us of
//! CPU per message. Here the peer connection sits behind one lock: a send runs on the caller's
//! thread down to the socket, a datagram is read, decrypted and put in its channel's inbox by
//! the task that read it, and one more task per connection runs the protocol timers. No
//! message crosses a thread on the way out, and one crossing on the way in.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use rtc::data_channel::RTCDataChannelId;
use rtc::peer_connection::event::{RTCDataChannelEvent, RTCPeerConnectionEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc::statistics::StatsSelector;
use rtc::statistics::report::RTCStatsReport;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use webrtc::runtime::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};

use crate::channel::{ChannelOptions, DataChannel, Message, RemoteSlot, WeakDataChannel};
use crate::connection::{ConnectionEvent, Sink};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::state::{ChannelState, ConnectionState, GatheringState, SignalingState};

/// Datagrams read per pass before the protocol's output is flushed: enough to batch a burst's
/// acknowledgements, few enough that timers and senders are not held up.
const READ_BATCH: usize = 64;

/// A send this soon after the connection's last flush is left for the timer task to flush
/// with whatever follows it: a burst leaves in full packets (SCTP bundles small messages) and
/// one pass of the protocol per packet, not per message. A lone message, or the first of a
/// burst, goes out at once from the caller's thread.
const COALESCE: Duration = Duration::from_micros(20);

/// Room for one read: a datagram, or the run of datagrams the kernel coalesced (GRO) into it.
const READ_SLOT: usize = 64 * 1024;

/// Most bytes handed to the kernel in one segmented (GSO) send.
const GSO_BYTES: usize = 64 * 1024;

/// One local UDP socket: its address (the host candidate), a handle for sending from any
/// thread, the reactor's handle for the reading task, and the batching state (segmented sends
/// and coalesced reads where the kernel offers them).
struct Socket {
    local: SocketAddr,
    send: StdUdpSocket,
    recv: Arc<UdpSocket>,
    batch: UdpSocketState,
}

thread_local! {
    // The read buffer, one per runtime thread rather than per connection: a 16-peer mesh has
    // 240 connections, and only the one being read needs it. One buffer per call, not a
    // `recvmmsg` batch: with eight, 1% of round trips took ~4 ms here (p99 189 us with one),
    // and coalesced reads already bring a burst in at once.
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

struct Core {
    pc: RTCPeerConnection,
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
    gathered: bool,
    closed: bool,
    // When datagrams were last sent, and whether messages wait for the timer task to send
    // them (see `COALESCE`).
    last_flush: Instant,
    flush_pending: bool,
}

impl Core {
    /// Closes channel `id` for good: nobody will read it, so what still arrives is dropped.
    fn refuse(&mut self, id: RTCDataChannelId) {
        self.channels.remove(&id);
        self.refused.insert(id);
        if let Some(mut rtc) = self.pc.data_channel(id) {
            let _ = rtc.close();
        }
    }
}

/// A connection driven by this module: see the module documentation.
pub(crate) struct Driver {
    core: Mutex<Core>,
    sockets: Vec<Socket>,
    sink: Arc<Sink>,
    // Wakes the timer task: its deadline moved earlier, or reading may resume (a reader made
    // room in an inbox or a receive budget).
    wake: Arc<Notify>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    runtime: Runtime,
    send_buffer_limit: usize,
    // For channels made inside a pass (announced by the peer), which hold the driver weakly.
    me: Weak<Driver>,
}

impl Driver {
    /// Binds the connection's sockets (one per local address) and starts its tasks.
    pub(crate) fn start(
        runtime: &Runtime,
        pc: RTCPeerConnection,
        addresses: &[SocketAddr],
        sink: Arc<Sink>,
        send_buffer_limit: usize,
    ) -> Result<Arc<Driver>> {
        let _entered = runtime.tokio_handle().enter();
        let mut sockets = Vec::with_capacity(addresses.len());
        let mut failure = None;
        for address in addresses {
            // An interface that refuses the bind (going down, say) only loses its candidate.
            match bind(runtime, *address) {
                Ok(socket) => sockets.push(socket),
                Err(e) => failure = Some(Error::Io(format!("cannot bind UDP {address}: {e}"))),
            }
        }
        if sockets.is_empty() {
            return Err(failure.unwrap_or_else(|| Error::Io("no local address to bind".into())));
        }
        let driver = Arc::new_cyclic(|me| Driver {
            core: Mutex::new(Core {
                pc,
                channels: HashMap::new(),
                deadline: None,
                held: None,
                remote: HashMap::new(),
                refused: HashSet::new(),
                gathered: false,
                closed: false,
                last_flush: Instant::now(),
                flush_pending: false,
            }),
            sockets,
            sink,
            wake: Arc::new(Notify::new()),
            tasks: Mutex::new(Vec::new()),
            runtime: runtime.clone(),
            send_buffer_limit,
            me: me.clone(),
        });
        let mut tasks = Vec::with_capacity(driver.sockets.len() + 1);
        for index in 0..driver.sockets.len() {
            tasks.push(
                runtime
                    .tokio_handle()
                    .spawn(read_loop(Arc::downgrade(&driver), index)),
            );
        }
        tasks.push(runtime.tokio_handle().spawn(timer_loop(driver.clone())));
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
        let offer = core
            .pc
            .create_offer(None)
            .map_err(|e| Error::InvalidState(e.to_string()))?;
        let sdp = offer.sdp.clone();
        core.pc
            .set_local_description(Instant::now(), offer)
            .map_err(|e| Error::InvalidState(e.to_string()))?;
        self.gather(&mut core);
        self.settle(&mut core);
        Ok(sdp)
    }

    /// Applies a description made elsewhere as the local one.
    pub(crate) fn set_local_description(&self, desc: RTCSessionDescription) -> Result<()> {
        let mut core = self.lock()?;
        core.pc
            .set_local_description(Instant::now(), desc)
            .map_err(|e| Error::InvalidSdp(e.to_string()))?;
        self.gather(&mut core);
        self.settle(&mut core);
        Ok(())
    }

    /// Applies the remote description; a remote offer is answered and the answer applied.
    /// Returns the answer's SDP, if one was made.
    pub(crate) fn set_remote_description(
        &self,
        desc: RTCSessionDescription,
        answer: bool,
    ) -> Result<Option<String>> {
        let mut core = self.lock()?;
        let now = Instant::now();
        core.pc
            .set_remote_description(now, desc)
            .map_err(|e| Error::InvalidSdp(e.to_string()))?;
        let mut made = None;
        if answer {
            let answer = core
                .pc
                .create_answer(None)
                .map_err(|e| Error::InvalidSdp(e.to_string()))?;
            made = Some(answer.sdp.clone());
            core.pc
                .set_local_description(now, answer)
                .map_err(|e| Error::InvalidSdp(e.to_string()))?;
            self.gather(&mut core);
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
            .add_remote_candidate(candidate)
            .map_err(|e| Error::InvalidCandidate(e.to_string()))?;
        // Checks of the new pair start on the next timer; run it now rather than an interval later.
        let now = Instant::now();
        let _ = core.pc.handle_timeout(now);
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
            .create_data_channel(label, Some(options.to_init()))
            .map_err(|e| Error::InvalidParameter(e.to_string()))?
            .id();
        let channel = DataChannel::driven(
            &self.runtime,
            self.me.clone(),
            id,
            label.to_owned(),
            options.clone(),
            &self.sink.inbox,
            self.wake.clone(),
        );
        core.channels.insert(id, channel.downgrade());
        Ok(channel)
    }

    /// Sends one message on channel `id`, from the caller's thread to the socket. `is_string`
    /// marks `data` as UTF-8 text.
    pub(crate) fn send(&self, id: RTCDataChannelId, data: &[u8], is_string: bool) -> Result<()> {
        let mut core = self.lock()?;
        let limit = self.send_buffer_limit;
        let mut channel = core.pc.data_channel(id).ok_or(Error::Closed)?;
        if channel.outstanding_bytes() + data.len() > limit {
            return Err(Error::BufferFull);
        }
        let now = Instant::now();
        let sent = match std::str::from_utf8(data) {
            Ok(text) if is_string => channel.send_text(now, text),
            _ => channel.send(now, BytesMut::from(data)),
        };
        sent.map_err(|e| from_rtc(e, data.len()))?;
        if core.flush_pending {
            return Ok(());
        }
        if now.duration_since(core.last_flush) < COALESCE {
            core.flush_pending = true;
            self.wake.notify_one();
            return Ok(());
        }
        self.flush(&mut core);
        self.settle_deadline(&mut core);
        Ok(())
    }

    /// Bytes sent on channel `id` that SCTP has not yet released.
    pub(crate) fn buffered_amount(&self, id: RTCDataChannelId) -> usize {
        let mut core = self.core.lock();
        core.pc
            .data_channel(id)
            .map_or(0, |channel| channel.outstanding_bytes())
    }

    /// Starts closing channel `id`.
    pub(crate) fn close_channel(&self, id: RTCDataChannelId) {
        let Ok(mut core) = self.lock() else {
            return;
        };
        if let Some(mut channel) = core.pc.data_channel(id) {
            let _ = channel.close();
        }
        self.settle(&mut core);
    }

    /// Statistics of the transport and the selected pair.
    pub(crate) fn stats(&self) -> Result<RTCStatsReport> {
        let mut core = self.lock()?;
        Ok(core.pc.get_stats(Instant::now(), StatsSelector::None))
    }

    /// Closes the connection: the peer is told at once (SCTP ABORT, DTLS close_notify), the
    /// tasks stop, channels report closed.
    pub(crate) fn close(&self) {
        let channels = {
            let mut core = self.core.lock();
            if core.closed {
                return;
            }
            let _ = core.pc.close();
            self.flush(&mut core);
            core.closed = true;
            core.held = None;
            core.remote.clear();
            std::mem::take(&mut core.channels)
        };
        for channel in channels.values().filter_map(WeakDataChannel::upgrade) {
            channel.set_driven_state(ChannelState::Closed);
        }
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }

    /// Adds a host candidate per local socket once a local description exists, then marks
    /// gathering complete.
    fn gather(&self, core: &mut Core) {
        if core.gathered {
            return;
        }
        core.gathered = true;
        for socket in &self.sockets {
            let host = CandidateHostConfig {
                base_config: CandidateConfig {
                    network: "udp".to_owned(),
                    address: socket.local.ip().to_string(),
                    port: socket.local.port(),
                    component: 1,
                    ..Default::default()
                },
                ..Default::default()
            };
            let init = host
                .new_candidate_host()
                .ok()
                .and_then(|candidate| RTCIceCandidate::from(&candidate).to_json().ok());
            if let Some(init) = init {
                let _ = core.pc.add_local_candidate(init);
            }
        }
        let _ = core.pc.add_local_candidate(RTCIceCandidateInit::default());
    }

    /// Moves everything the protocol has for the outside out: events, received messages,
    /// datagrams; then re-arms the timer.
    fn settle(&self, core: &mut Core) {
        // Events and reads can queue datagrams, and datagrams sent can unblock nothing, so a
        // few passes end it; the bound only guards against a protocol that keeps producing.
        for _ in 0..4 {
            let mut busy = false;
            let mut advanced = false;
            while let Some(event) = core.pc.poll_event() {
                busy = true;
                advanced |= matches!(
                    event,
                    RTCPeerConnectionEvent::OnIceConnectionStateChangeEvent(_)
                        | RTCPeerConnectionEvent::OnConnectionStateChangeEvent(_)
                );
                self.on_event(core, event);
            }
            if advanced {
                // ICE connecting starts DTLS and DTLS completing starts SCTP, but their first
                // packets leave only from a timer pass: run one now rather than at the next
                // retransmission deadline.
                let _ = core.pc.handle_timeout(Instant::now());
            }
            busy |= self.deliver(core);
            busy |= self.flush(core);
            if !busy {
                break;
            }
        }
        self.settle_deadline(core);
    }

    fn settle_deadline(&self, core: &mut Core) {
        let next = core.pc.poll_timeout();
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

    /// Sends every queued datagram. Returns whether there was any.
    fn flush(&self, core: &mut Core) -> bool {
        core.flush_pending = false;
        let mut any = false;
        // Datagrams of one size to one destination from one socket go out as one segmented
        // send: the kernel walks its stack once for the run, not once per datagram.
        let mut run = Run::default();
        while let Some(datagram) = core.pc.poll_write() {
            any = true;
            let transport = &datagram.transport;
            let index = self
                .sockets
                .iter()
                .position(|s| s.local == transport.local_addr)
                .unwrap_or(0);
            let Some(socket) = self.sockets.get(index) else {
                continue;
            };
            let len = datagram.message.len();
            if !run.extends(
                index,
                transport.peer_addr,
                len,
                socket.batch.max_gso_segments(),
            ) {
                run.send(&self.sockets);
                run.start(index, transport.peer_addr, len);
            }
            run.bytes.extend_from_slice(&datagram.message);
            run.count += 1;
            // Segments are all one size; a shorter datagram can only be the last.
            run.last_short = len < run.size;
        }
        run.send(&self.sockets);
        if any {
            core.last_flush = Instant::now();
        }
        any
    }

    /// Hands received messages to their channels' inboxes. Returns whether there was any.
    fn deliver(&self, core: &mut Core) -> bool {
        let mut any = false;
        if let Some((id, message)) = core.held.take()
            && let Some(channel) = self.channel(core, id)
            && let Err(message) = channel.offer(message)
        {
            core.held = Some((id, message));
            return false;
        }
        while let Some(tagged) = core.pc.poll_read() {
            let RTCMessage::DataChannelMessage(id, message) = tagged.message else {
                continue;
            };
            any = true;
            let Some(channel) = self.channel(core, id) else {
                continue;
            };
            let message = Message {
                data: message.data,
                is_string: message.is_string,
            };
            if let Err(message) = channel.offer(message) {
                core.held = Some((id, message));
                break;
            }
        }
        any
    }

    fn on_event(&self, core: &mut Core, event: RTCPeerConnectionEvent) {
        let sink = &self.sink;
        match event {
            RTCPeerConnectionEvent::OnIceCandidateEvent(event) => {
                if let Ok(init) = event.candidate.to_json() {
                    let media = sink.mid.lock().clone();
                    sink.push(ConnectionEvent::IceCandidate {
                        media,
                        index: 0,
                        name: init.candidate,
                    });
                }
            }
            RTCPeerConnectionEvent::OnSignalingStateChangeEvent(state) => {
                sink.signaling
                    .store(SignalingState::from(state) as i32, Ordering::Release);
            }
            RTCPeerConnectionEvent::OnIceGatheringStateChangeEvent(state) => {
                sink.gathering
                    .store(GatheringState::from(state) as i32, Ordering::Release);
            }
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                let state = ConnectionState::from(state) as i32;
                // Closed is final, as with the other driver.
                let _ = sink
                    .connection
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                        (old != ConnectionState::Closed as i32).then_some(state)
                    });
            }
            RTCPeerConnectionEvent::OnDataChannel(event) => match event {
                RTCDataChannelEvent::OnOpen(id) => {
                    if let Some(channel) = self.channel(core, id) {
                        channel.driven_opened();
                    }
                }
                RTCDataChannelEvent::OnClosing(id) => {
                    if let Some(channel) = core.channels.get(&id).and_then(WeakDataChannel::upgrade)
                    {
                        channel.set_driven_state(ChannelState::Closing);
                    }
                }
                RTCDataChannelEvent::OnClose(id) => {
                    let channel = core.channels.remove(&id);
                    if let Some(channel) = channel.as_ref().and_then(WeakDataChannel::upgrade) {
                        channel.set_driven_state(ChannelState::Closed);
                    }
                    core.remote.remove(&id);
                    core.refused.remove(&id);
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// The channel a message or event for `id` goes to: a known one while someone holds it,
    /// else one the remote peer has just announced. `None` when nobody will read it: refused,
    /// or every handle gone (then it is closed here).
    fn channel(&self, core: &mut Core, id: RTCDataChannelId) -> Option<DataChannel> {
        match core.channels.get(&id).map(WeakDataChannel::upgrade) {
            Some(Some(channel)) => Some(channel),
            Some(None) => {
                core.refuse(id);
                None
            }
            None => self.remote_channel(core, id),
        }
    }

    /// Wraps a channel the remote peer announced in-band and reports it, or closes it when the
    /// connection refuses it (see [`Sink::admit_remote_channel`]).
    fn remote_channel(&self, core: &mut Core, id: RTCDataChannelId) -> Option<DataChannel> {
        if core.refused.contains(&id) {
            return None;
        }
        let rtc = core.pc.data_channel(id)?;
        let Some(slot) = self.sink.admit_remote_channel() else {
            core.refuse(id);
            return None;
        };
        let options = ChannelOptions {
            ordered: rtc.ordered(),
            max_packet_life_time: rtc.max_packet_life_time(),
            max_retransmits: rtc.max_retransmits(),
            protocol: rtc.protocol().to_owned(),
            negotiated_id: None,
        };
        let label = rtc.label().to_owned();
        let channel = DataChannel::driven(
            &self.runtime,
            self.me.clone(),
            id,
            label,
            options,
            &self.sink.inbox,
            self.wake.clone(),
        );
        core.channels.insert(id, channel.downgrade());
        core.remote.insert(id, slot);
        self.sink
            .push(ConnectionEvent::DataChannel(channel.clone()));
        Some(channel)
    }
}

/// Datagrams gathered for one segmented send: all `size` bytes but the last, which may be
/// shorter and ends the run.
#[derive(Default)]
struct Run {
    socket: usize,
    destination: Option<SocketAddr>,
    size: usize,
    count: usize,
    last_short: bool,
    bytes: Vec<u8>,
}

impl Run {
    fn extends(&self, socket: usize, to: SocketAddr, len: usize, max_segments: usize) -> bool {
        self.destination == Some(to)
            && self.socket == socket
            && !self.last_short
            && len <= self.size
            && self.count < max_segments
            && self.bytes.len() + len <= GSO_BYTES
    }

    fn start(&mut self, socket: usize, to: SocketAddr, len: usize) {
        self.socket = socket;
        self.destination = Some(to);
        self.size = len;
        self.count = 0;
        self.last_short = false;
        self.bytes.clear();
    }

    fn send(&mut self, sockets: &[Socket]) {
        let (Some(destination), Some(socket)) = (self.destination, sockets.get(self.socket)) else {
            return;
        };
        if self.count > 0 {
            let transmit = Transmit {
                destination,
                ecn: None,
                contents: &self.bytes,
                segment_size: (self.count > 1).then_some(self.size),
                src_ip: None,
            };
            // A full send buffer drops the datagrams, as the network would: SCTP resends
            // what matters.
            let _ = socket
                .batch
                .try_send(UdpSockRef::from(&socket.send), &transmit);
        }
        self.destination = None;
        self.count = 0;
        self.bytes.clear();
    }
}

fn bind(runtime: &Runtime, address: SocketAddr) -> std::io::Result<Socket> {
    let socket = StdUdpSocket::bind(address)?;
    let sock = socket2::SockRef::from(&socket);
    let _ = sock.set_recv_buffer_size(runtime.socket_buffer_size());
    let _ = sock.set_send_buffer_size(runtime.socket_buffer_size());
    socket.set_nonblocking(true)?;
    let local = socket.local_addr()?;
    let batch = UdpSocketState::new(UdpSockRef::from(&socket))?;
    let send = socket.try_clone()?;
    let recv = Arc::new(UdpSocket::from_std(socket)?);
    Ok(Socket {
        local,
        send,
        recv,
        batch,
    })
}

/// The core's error for a refused send of `len` bytes.
fn from_rtc(e: rtc::shared::error::Error, len: usize) -> Error {
    use rtc::shared::error::Error as E;
    match e {
        E::ErrDataChannelClosed | E::ErrConnectionClosed => Error::Closed,
        E::ErrDataChannelNotOpen => Error::InvalidState("channel is not open yet".into()),
        E::ErrOutboundPacketTooLarge => Error::PacketTooLarge {
            size: len,
            max: crate::config::MAX_MESSAGE_SIZE,
        },
        other => Error::Internal(other.to_string()),
    }
}

/// Reads one socket: what is waiting (several datagrams per system call where the kernel
/// batches), then one pass of the protocol over them.
async fn read_loop(driver: Weak<Driver>, index: usize) {
    let Some(socket) = driver.upgrade().map(|d| d.sockets[index].recv.clone()) else {
        return;
    };
    let mut batch: Vec<(BytesMut, SocketAddr)> = Vec::with_capacity(READ_BATCH);
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        let Some(driver) = driver.upgrade() else {
            return;
        };
        let local = driver.sockets[index].local;
        while batch.len() < READ_BATCH && read_some(&driver.sockets[index], &mut batch) {}
        if batch.is_empty() {
            continue;
        }
        let mut core = driver.core.lock();
        if core.closed {
            return;
        }
        let now = Instant::now();
        for (message, peer_addr) in batch.drain(..) {
            let _ = core.pc.handle_read(TaggedBytesMut {
                now,
                transport: TransportContext {
                    local_addr: local,
                    peer_addr,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message,
            });
        }
        driver.settle(&mut core);
    }
}

/// One batched read into `batch`. False when nothing more is waiting.
fn read_some(socket: &Socket, batch: &mut Vec<(BytesMut, SocketAddr)>) -> bool {
    READ_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.is_empty() {
            buffer.resize(READ_SLOT, 0);
        }
        let mut bufs = [IoSliceMut::new(&mut buffer)];
        let mut meta = [RecvMeta::default()];
        let read = socket.recv.try_io(Interest::READABLE, || {
            socket
                .batch
                .recv(UdpSockRef::from(&*socket.recv), &mut bufs, &mut meta)
        });
        match read {
            Ok(count) => {
                for (buf, meta) in bufs.iter().zip(&meta).take(count) {
                    let stride = meta.stride.max(1);
                    for datagram in buf[..meta.len].chunks(stride) {
                        batch.push((BytesMut::from(datagram), meta.addr));
                    }
                }
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            // An ICMP error of an earlier send (port unreachable): nothing read this time; the
            // next wake reads on.
            Err(_) => false,
        }
    })
}

/// Runs the protocol's timers when they are due, and a pass whenever woken. Holds the driver
/// until [`Driver::close`] aborts it.
async fn timer_loop(driver: Arc<Driver>) {
    loop {
        let notified = driver.wake.notified();
        let deadline = driver.core.lock().deadline;
        match deadline {
            Some(deadline) => {
                let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
                tokio::select! {
                    _ = sleep => {}
                    _ = notified => {}
                }
            }
            None => notified.await,
        }
        let mut core = driver.core.lock();
        if core.closed {
            return;
        }
        let now = Instant::now();
        if core.deadline.is_some_and(|deadline| deadline <= now) {
            let _ = core.pc.handle_timeout(now);
        }
        driver.settle(&mut core);
    }
}

/// The local addresses a host-only connection binds: the configured one, or for the
/// unspecified address one per usable interface of its family (an address no peer can reach
/// makes no candidate).
pub(crate) fn host_addresses(bind: SocketAddr) -> Vec<SocketAddr> {
    if !bind.ip().is_unspecified() {
        return vec![bind];
    }
    let mut addresses: Vec<SocketAddr> = Vec::new();
    if let Ok(interfaces) = rtc::shared::ifaces::ifaces() {
        for address in interfaces.into_iter().filter_map(|i| i.addr) {
            let ip = address.ip();
            let usable = ip.is_ipv4() == bind.is_ipv4()
                && !ip.is_loopback()
                && !ip.is_unspecified()
                && !is_link_local(ip);
            let address = SocketAddr::new(ip, bind.port());
            if usable && !addresses.contains(&address) {
                addresses.push(address);
            }
        }
    }
    if addresses.is_empty() {
        // No network but loopback: the wildcard still binds, and peers on this machine reach it.
        addresses.push(bind);
    }
    addresses
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// A builder for the sans-IO peer connection; kept here so `connection` names no `rtc` builder.
pub(crate) fn build(
    configuration: rtc::peer_connection::configuration::RTCConfiguration,
    settings: rtc::peer_connection::configuration::setting_engine::SettingEngine,
) -> Result<RTCPeerConnection> {
    RTCPeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_setting_engine(settings)
        .build(Instant::now())
        .map_err(|e| Error::InvalidConfig(e.to_string()))
}
