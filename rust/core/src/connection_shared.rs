//! What a connection shares with its driver, which runs on the runtime's threads: the queue
//! of events for [`Connection::poll_event`](crate::Connection::poll_event), the states the
//! caller reads, and the rules for channels the remote peer opens.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::channel::{DataChannel, InboxLimits, RemoteSlot};
use crate::state::{ConnectionState, GatheringState, SdpType, SignalingState};

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

/// State shared with the [`Driver`], which runs on the runtime's threads.
pub(crate) struct ConnectionShared {
    events: Mutex<VecDeque<ConnectionEvent>>,
    pub(crate) connection: AtomicI32,
    pub(crate) gathering: AtomicI32,
    pub(crate) signaling: AtomicI32,
    // The `a=mid` of our data section, which gathered candidates do not carry.
    pub(crate) mid: Mutex<String>,
    // What bounds every channel's inbox: the connection's receive budget among them.
    pub(crate) inbox: InboxLimits,
    // In-band channels the remote peer has open, their cap, and whether they are refused
    // outright (a mesh negotiates all of its channels).
    remote_channels: Arc<AtomicUsize>,
    max_remote_channels: usize,
    refuse_remote_channels: AtomicBool,
    // Candidates gathered while the description that announces them is being made. Gathering
    // starts inside `set_local_description`, so without holding them a candidate could be
    // polled (and signaled) before its offer or answer: the other side would refuse it.
    held: Mutex<Option<Vec<ConnectionEvent>>>,
    // When a datagram last came from the remote peer: microseconds since `EPOCH`.
    heard: AtomicU64,
}

/// The instant `heard` counts from, shared by every connection.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

impl ConnectionShared {
    /// Notes that a datagram came from the remote peer at `now`.
    pub(crate) fn heard(&self, now: Instant) {
        let micros = now.saturating_duration_since(*EPOCH).as_micros() as u64;
        self.heard.fetch_max(micros, Ordering::Relaxed);
    }

    /// How long since anything came from the remote peer (or since the connection was made).
    pub(crate) fn silence(&self) -> Duration {
        let heard = Duration::from_micros(self.heard.load(Ordering::Relaxed));
        EPOCH.elapsed().saturating_sub(heard)
    }

    pub(crate) fn new(inbox: InboxLimits, max_remote_channels: usize) -> ConnectionShared {
        ConnectionShared {
            events: Mutex::new(VecDeque::new()),
            connection: AtomicI32::new(ConnectionState::New as i32),
            gathering: AtomicI32::new(GatheringState::New as i32),
            signaling: AtomicI32::new(SignalingState::Stable as i32),
            mid: Mutex::new("0".to_owned()),
            inbox,
            remote_channels: Arc::default(),
            max_remote_channels,
            refuse_remote_channels: AtomicBool::new(false),
            held: Mutex::new(None),
            heard: AtomicU64::new(EPOCH.elapsed().as_micros() as u64),
        }
    }

    /// Takes the oldest event.
    pub(crate) fn pop_event(&self) -> Option<ConnectionEvent> {
        self.events.lock().pop_front()
    }

    /// Closes every channel the remote peer announces in-band from now on.
    pub(crate) fn refuse_remote_channels(&self) {
        self.refuse_remote_channels.store(true, Ordering::Release);
    }

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

    /// Holds back candidates until [`release_candidates`](Self::release_candidates): the
    /// description that announces them is being made.
    pub(crate) fn hold_candidates(&self) {
        self.held.lock().get_or_insert_with(Vec::new);
    }

    pub(crate) fn release_candidates(&self) {
        let held = self.held.lock().take();
        if let Some(held) = held {
            self.events.lock().extend(held);
        }
    }
}
