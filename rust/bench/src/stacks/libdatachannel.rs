//! libdatachannel (C++, the stack of Godot's official WebRTC plugin) through the `datachannel`
//! crate: one peer connection per pair of nodes with a reliable ordered channel and an
//! unreliable unordered one, negotiated with the same ids as ours.
//!
//! libdatachannel delivers messages on its own threads; they wait in a queue per node until
//! [`Net::poll`] hands them over, as a game would take them once per frame.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use datachannel::{
    ConnectionState, DataChannelHandler, DataChannelInfo, DataChannelInit, IceCandidate,
    PeerConnectionHandler, Reliability, RtcConfig, RtcDataChannel, RtcPeerConnection, SdpType,
    SessionDescription,
};
use parking_lot::Mutex;

use crate::net::Net;

/// Bytes a channel may hold unsent before `send` refuses more: the scenarios' own window, so
/// a sender is held back by the stack rather than by memory.
const SEND_BUFFER_LIMIT: usize = 1024 * 1024;

/// Messages that arrived at one node: (source node, data).
pub(crate) type Inbox = Arc<Mutex<VecDeque<(usize, Vec<u8>)>>>;

/// What one end has to tell the other through signaling.
pub(crate) enum Signal {
    // Boxed: a parsed description is some 300 bytes, a candidate a tenth of that.
    Description(Box<SessionDescription>),
    Candidate(IceCandidate),
}

/// Signals an end produced on libdatachannel's threads, waiting to be relayed.
#[derive(Default)]
struct Outbox {
    signals: VecDeque<Signal>,
    failed: bool,
}

/// Peer-connection callbacks: queue descriptions and candidates, note failure.
struct Signaling {
    outbox: Arc<Mutex<Outbox>>,
}

/// Handler for channels the remote end announces in-band: none here, every channel is
/// negotiated.
struct Unannounced;

impl DataChannelHandler for Unannounced {}

impl PeerConnectionHandler for Signaling {
    type DCH = Unannounced;

    fn data_channel_handler(&mut self, _info: DataChannelInfo) -> Unannounced {
        Unannounced
    }

    fn on_description(&mut self, description: SessionDescription) {
        self.outbox
            .lock()
            .signals
            .push_back(Signal::Description(Box::new(description)));
    }

    fn on_candidate(&mut self, candidate: IceCandidate) {
        self.outbox
            .lock()
            .signals
            .push_back(Signal::Candidate(candidate));
    }

    fn on_connection_state_change(&mut self, state: ConnectionState) {
        if state == ConnectionState::Failed {
            self.outbox.lock().failed = true;
        }
    }
}

/// Channel callbacks: count openings and queue messages for the receiving node.
struct Receiver {
    /// Node at the other end of the channel.
    peer: usize,
    inbox: Inbox,
    opened: Arc<AtomicUsize>,
}

impl DataChannelHandler for Receiver {
    fn on_open(&mut self) {
        self.opened.fetch_add(1, Ordering::Release);
    }

    fn on_message(&mut self, message: &[u8]) {
        self.inbox.lock().push_back((self.peer, message.to_vec()));
    }
}

/// One node's end of the connection to another node.
pub(crate) struct End {
    // Channels before the connection: fields drop in order, and a channel is deleted before
    // the connection that carries it.
    reliable: Box<RtcDataChannel<Receiver>>,
    unreliable: Box<RtcDataChannel<Receiver>>,
    connection: Box<RtcPeerConnection<Signaling>>,
    outbox: Arc<Mutex<Outbox>>,
    opened: Arc<AtomicUsize>,
}

impl End {
    /// One end of a connection to node `peer`; what arrives on it goes to `inbox`.
    pub(crate) fn new(config: &RtcConfig, peer: usize, inbox: &Inbox) -> Result<End, String> {
        let outbox = Arc::new(Mutex::new(Outbox::default()));
        let opened = Arc::new(AtomicUsize::new(0));
        let mut connection = RtcPeerConnection::new(
            config,
            Signaling {
                outbox: outbox.clone(),
            },
        )
        .map_err(|e| format!("peer connection: {e}"))?;
        let reliable = DataChannelInit::default()
            .negotiated()
            .manual_stream()
            .stream(1);
        let unreliable = DataChannelInit::default()
            .negotiated()
            .manual_stream()
            .stream(2)
            .reliability(
                Reliability::default()
                    .unordered()
                    .unreliable()
                    .max_retransmits(0),
            );
        let mut open = |label: &str, init: &DataChannelInit| {
            let receiver = Receiver {
                peer,
                inbox: inbox.clone(),
                opened: opened.clone(),
            };
            connection
                .create_data_channel_ex(label, receiver, init)
                .map_err(|e| format!("data channel {label}: {e}"))
        };
        Ok(End {
            reliable: open("reliable", &reliable)?,
            unreliable: open("unreliable", &unreliable)?,
            connection,
            outbox,
            opened,
        })
    }

    /// Makes an offer: its description and candidates then wait in [`take_signals`](Self::take_signals).
    pub(crate) fn offer(&mut self) -> Result<(), String> {
        self.connection
            .set_local_description(SdpType::Offer)
            .map_err(|e| format!("offer: {e}"))
    }

    /// Sends `data` on the reliable or the unreliable channel.
    pub(crate) fn send(&mut self, reliable: bool, data: &[u8]) -> Result<(), String> {
        let channel = if reliable {
            &mut self.reliable
        } else {
            &mut self.unreliable
        };
        channel.send(data).map_err(|e| e.to_string())
    }

    pub(crate) fn is_open(&self) -> bool {
        self.opened.load(Ordering::Acquire) >= 2
    }

    /// What this end produced for the other through signaling, or an error once it failed.
    pub(crate) fn take_signals(&self) -> Result<VecDeque<Signal>, String> {
        // Taken out first so the lock is not held while libdatachannel runs.
        let mut outbox = self.outbox.lock();
        if outbox.failed {
            return Err("a libdatachannel connection failed".into());
        }
        Ok(std::mem::take(&mut outbox.signals))
    }

    /// Applies what the other end sent through signaling, answering an offer.
    pub(crate) fn apply(&mut self, signal: Signal) -> Result<(), String> {
        match signal {
            Signal::Description(description) => {
                self.connection
                    .set_remote_description(&description)
                    .map_err(|e| format!("remote description: {e}"))?;
                if description.sdp_type == SdpType::Offer {
                    self.connection
                        .set_local_description(SdpType::Answer)
                        .map_err(|e| format!("answer: {e}"))?;
                }
                Ok(())
            }
            Signal::Candidate(candidate) => self
                .connection
                .add_remote_candidate(&candidate)
                .map_err(|e| format!("remote candidate: {e}")),
        }
    }
}

/// Hands what `from` produced to `to`, as a signaling server would, answering offers.
fn relay(from: &End, to: &mut End) -> Result<(), String> {
    for signal in from.take_signals()? {
        to.apply(signal)?;
    }
    Ok(())
}

struct LibDataChannel {
    n: usize,
    // ends[i * n + j]: node i's end of the connection to node j.
    ends: Vec<Option<End>>,
    inboxes: Vec<Inbox>,
    /// Emptied queue swapped in at each poll, so the lock is held only for the swap.
    spare: VecDeque<(usize, Vec<u8>)>,
}

/// Loopback only and no ICE servers, like ours. Negotiation is driven by the caller rather than
/// automatically, so the answering end does not make an offer of its own when its channels are
/// created.
pub(crate) fn loopback_config() -> RtcConfig {
    let mut config = RtcConfig::new::<&str>(&[]).bind_address(&"127.0.0.1");
    config.disable_auto_negotiation = true;
    config
}

/// Connects `n` nodes pairwise over loopback.
pub fn connect(n: usize) -> Result<Box<dyn Net>, String> {
    let config = loopback_config();
    let inboxes: Vec<Inbox> = (0..n).map(|_| Inbox::default()).collect();
    let mut ends: Vec<Option<End>> = (0..n * n).map(|_| None).collect();
    let mut pairs = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let mut offerer = End::new(&config, j, &inboxes[i])?;
            let answerer = End::new(&config, i, &inboxes[j])?;
            offerer.offer()?;
            ends[i * n + j] = Some(offerer);
            ends[j * n + i] = Some(answerer);
            pairs.push((i * n + j, j * n + i));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut open = true;
        for &(a, b) in &pairs {
            // a < b (a = i * n + j with i < j), so one split gives both ends mutably.
            let (low, high) = ends.split_at_mut(b);
            let (Some(offerer), Some(answerer)) = (&mut low[a], &mut high[0]) else {
                return Err("a connection end is missing".into());
            };
            relay(offerer, answerer)?;
            relay(answerer, offerer)?;
            open &= offerer.is_open() && answerer.is_open();
        }
        if open {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{n} nodes did not connect within 60 s"));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(Box::new(LibDataChannel {
        n,
        ends,
        inboxes,
        spare: VecDeque::new(),
    }))
}

impl Net for LibDataChannel {
    fn send(&mut self, from: usize, to: usize, data: &[u8], reliable: bool) -> bool {
        let Some(end) = &mut self.ends[from * self.n + to] else {
            return false;
        };
        let channel = if reliable {
            &end.reliable
        } else {
            &end.unreliable
        };
        // libdatachannel queues without bound; refusing here lets the scenario poll and retry.
        channel.buffered_amount() <= SEND_BUFFER_LIMIT && end.send(reliable, data).is_ok()
    }

    fn poll(&mut self, node: usize, sink: &mut dyn FnMut(usize, &[u8])) {
        std::mem::swap(&mut *self.inboxes[node].lock(), &mut self.spare);
        for (peer, message) in self.spare.drain(..) {
            sink(peer, &message);
        }
    }
}
