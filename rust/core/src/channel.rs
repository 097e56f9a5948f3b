//! A data channel: its options, its inbox (which the driver fills), and the narrow
//! [`Carrier`] interface through which it asks the driver to send.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::BytesMut;
use parking_lot::Mutex;
use rtc::data_channel::RTCDataChannelId;
use tokio::sync::Notify;

use crate::budget::{Budget, MESSAGE_OVERHEAD};
use crate::config::MAX_MESSAGE_SIZE;
use crate::error::{Error, Result};
use crate::state::ChannelState;

/// Options of a data channel, as in `WebRTCPeerConnection.create_data_channel`'s dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOptions {
    /// Delivered in order (`true`) or as they arrive.
    pub ordered: bool,
    /// Give up retransmitting after this many milliseconds. Exclusive with `max_retransmits`.
    pub max_packet_life_time: Option<u16>,
    /// Give up after this many retransmissions. Exclusive with `max_packet_life_time`.
    pub max_retransmits: Option<u16>,
    /// Sub-protocol name.
    pub protocol: String,
    /// `Some(id)`: both ends create the channel with this SCTP stream id, nothing is announced.
    /// `None`: announced in-band, the remote end gets it as a new channel.
    pub negotiated_id: Option<u16>,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        ChannelOptions {
            ordered: true,
            max_packet_life_time: None,
            max_retransmits: None,
            protocol: String::new(),
            negotiated_id: None,
        }
    }
}

impl ChannelOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_packet_life_time.is_some() && self.max_retransmits.is_some() {
            return Err(Error::InvalidParameter(
                "a channel takes maxPacketLifeTime or maxRetransmits, not both".into(),
            ));
        }
        if self.negotiated_id == Some(u16::MAX) {
            return Err(Error::InvalidParameter(
                "channel id 65535 is reserved by SCTP".into(),
            ));
        }
        Ok(())
    }

    /// Whether every message is retransmitted until it arrives (no lifetime, no retransmit cap).
    pub fn is_reliable(&self) -> bool {
        self.max_packet_life_time.is_none() && self.max_retransmits.is_none()
    }

    pub(crate) fn to_settings(&self, label: &str) -> crate::session::ChannelSettings {
        use crate::sctp::Reliability;
        crate::session::ChannelSettings {
            label: label.to_owned(),
            protocol: self.protocol.clone(),
            ordered: self.ordered,
            // Both set is refused by `validate`; a lifetime wins if it ever comes to that.
            reliability: match (self.max_packet_life_time, self.max_retransmits) {
                (Some(ms), _) => {
                    Reliability::Lifetime(std::time::Duration::from_millis(u64::from(ms)))
                }
                (None, Some(count)) => Reliability::MaxRetransmits(u32::from(count)),
                (None, None) => Reliability::Reliable,
            },
            negotiated: self.negotiated_id,
        }
    }
}

/// A received message. The payload is the buffer SCTP reassembled it into: no copy.
#[derive(Debug, Clone)]
pub struct Message {
    /// The payload.
    pub data: BytesMut,
    /// Sent as text (UTF-8) rather than binary.
    pub is_string: bool,
}

/// What bounds a channel's inbox: a count of messages, and the bytes of its connection's
/// receive budget (which every channel of the connection, in-band ones too, draws from).
#[derive(Clone)]
pub(crate) struct InboxLimits {
    pub(crate) messages: usize,
    pub(crate) budget: Arc<Budget>,
}

struct Inbox {
    queue: Mutex<VecDeque<Message>>,
    len: AtomicUsize,
    limits: InboxLimits,
    // Partially reliable channels drop their oldest message when full instead of holding back
    // SCTP: a stale unreliable message is worth less than the fresh one behind it.
    drop_oldest: bool,
    // Woken when room is made for a message the inbox refused: the pump task's own, or the
    // driver's for every channel of its connection.
    waker: Arc<Notify>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let queued: usize = self.queue.get_mut().iter().map(charge).sum();
        self.limits.budget.give(queued);
    }
}

/// Bytes a queued message holds: its buffer (SCTP reassembles into one of exactly the message's
/// size) and the bookkeeping around it.
fn charge(message: &Message) -> usize {
    message.data.capacity() + MESSAGE_OVERHEAD
}

/// What a channel has carried, as [`DataChannel::traffic`] reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelTraffic {
    /// Messages handed to `send` and accepted.
    pub messages_sent: u64,
    /// Bytes of those messages.
    pub bytes_sent: u64,
    /// Messages received (including unreliable ones later dropped from a full inbox).
    pub messages_received: u64,
    /// Bytes of those messages.
    pub bytes_received: u64,
}

/// Counters of one channel, updated without locks.
#[derive(Default)]
struct Counters {
    messages_sent: AtomicU64,
    bytes_sent: AtomicU64,
    messages_received: AtomicU64,
    bytes_received: AtomicU64,
    messages_dropped: AtomicU64,
}

/// What a channel needs of the driver that carries it. The driver holds its channels, and
/// a channel reaches its driver only through this.
pub(crate) trait Carrier: Send + Sync {
    /// Sends one message on channel `id`; `is_string` marks `data` as UTF-8 text.
    fn send(&self, id: RTCDataChannelId, data: &[u8], is_string: bool) -> Result<()>;
    /// Bytes sent on channel `id` that SCTP has not yet released.
    fn buffered_amount(&self, id: RTCDataChannelId) -> usize;
    /// Starts closing channel `id`.
    fn close_channel(&self, id: RTCDataChannelId);
}

/// The protocol side of a channel: its driver (weakly, as the driver holds its channels) and
/// its stream id there.
struct Link {
    carrier: Weak<dyn Carrier>,
    id: RTCDataChannelId,
}

impl Link {
    fn carrier(&self) -> Result<Arc<dyn Carrier>> {
        self.carrier.upgrade().ok_or(Error::Closed)
    }
}

/// What the driver shares with the handles.
struct Shared {
    link: Link,
    state: AtomicU8,
    // `close` was called here: what still arrives is dropped, not queued for nobody.
    closed_locally: AtomicBool,
    inbox: Inbox,
    counters: Counters,
}

impl Shared {
    /// Puts a received message in the inbox. A reliable channel whose inbox or budget is full
    /// gives it back (the caller holds it and stops reading until the waker is woken); a
    /// partially reliable one drops its oldest messages to make room, or this one if the
    /// budget is held by other channels.
    fn enqueue_received(&self, message: Message) -> std::result::Result<(), Message> {
        if self.closed_locally.load(Ordering::Acquire) {
            return Ok(());
        }
        let inbox = &self.inbox;
        let cost = charge(&message);
        let c = &self.counters;
        let mut queue = inbox.queue.lock();
        if inbox.drop_oldest {
            while queue.len() >= inbox.limits.messages || !inbox.limits.budget.try_take(cost) {
                c.messages_dropped.fetch_add(1, Ordering::Relaxed);
                match queue.pop_front() {
                    Some(oldest) => inbox.limits.budget.give(charge(&oldest)),
                    None => {
                        inbox.len.store(0, Ordering::Release);
                        c.messages_received.fetch_add(1, Ordering::Relaxed);
                        c.bytes_received
                            .fetch_add(message.data.len() as u64, Ordering::Relaxed);
                        return Ok(());
                    }
                }
            }
        } else if queue.len() >= inbox.limits.messages
            || !inbox.limits.budget.take_or_wait(cost, &inbox.waker)
        {
            return Err(message);
        }
        c.messages_received.fetch_add(1, Ordering::Relaxed);
        c.bytes_received
            .fetch_add(message.data.len() as u64, Ordering::Relaxed);
        queue.push_back(message);
        inbox.len.store(queue.len(), Ordering::Release);
        Ok(())
    }
}

struct Inner {
    label: String,
    options: ChannelOptions,
    shared: Arc<Shared>,
}

/// A channel reference that does not keep the channel's handles alive; see
/// [`DataChannel::downgrade`].
#[derive(Clone)]
pub(crate) struct WeakDataChannel(Weak<Inner>);

impl WeakDataChannel {
    pub(crate) fn upgrade(&self) -> Option<DataChannel> {
        self.0.upgrade().map(|inner| DataChannel { inner })
    }
}

/// One data channel of a [`Connection`](crate::Connection). Clones share the channel.
///
/// Received messages wait in the channel's inbox until [`DataChannel::recv`] takes them; the
/// inbox is bounded. When a reliable channel's inbox is full the channel stops reading so SCTP
/// slows the sender; a partially reliable channel drops its oldest message instead and counts it
/// (see [`DataChannel::dropped`]).
#[derive(Clone)]
pub struct DataChannel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DataChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataChannel")
            .field("label", &self.inner.label)
            .field("id", &self.id())
            .field("state", &self.ready_state())
            .finish()
    }
}

impl DataChannel {
    /// A channel carried by `carrier`, which fills its inbox and sets its state; `waker` (the
    /// driver's) is woken when a refused message may fit.
    pub(crate) fn new(
        carrier: Weak<dyn Carrier>,
        id: RTCDataChannelId,
        label: String,
        options: ChannelOptions,
        limits: &InboxLimits,
        waker: Arc<Notify>,
    ) -> DataChannel {
        DataChannel::with_link(Link { carrier, id }, label, options, limits, waker)
    }

    fn with_link(
        link: Link,
        label: String,
        options: ChannelOptions,
        limits: &InboxLimits,
        waker: Arc<Notify>,
    ) -> DataChannel {
        let shared = Arc::new(Shared {
            link,
            state: AtomicU8::new(ChannelState::Connecting as u8),
            closed_locally: AtomicBool::new(false),
            inbox: Inbox {
                queue: Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
                limits: limits.clone(),
                drop_oldest: !options.is_reliable(),
                waker,
            },
            counters: Counters::default(),
        });
        DataChannel {
            inner: Arc::new(Inner {
                label,
                options,
                shared,
            }),
        }
    }

    /// Puts a received message in the inbox. A reliable channel with a full inbox or budget
    /// gives it back: the driver holds it and stops reading until woken.
    pub(crate) fn enqueue_received(&self, message: Message) -> std::result::Result<(), Message> {
        self.inner.shared.enqueue_received(message)
    }

    /// A reference for the driver, which must not keep alive a channel nobody else holds.
    pub(crate) fn downgrade(&self) -> WeakDataChannel {
        WeakDataChannel(Arc::downgrade(&self.inner))
    }

    /// The channel opened. A close requested before stays requested.
    pub(crate) fn opened(&self) {
        let _ = self.inner.shared.state.compare_exchange(
            ChannelState::Connecting as u8,
            ChannelState::Open as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Sets the state as the driver saw it change.
    pub(crate) fn state_changed(&self, state: ChannelState) {
        self.set_state(state);
    }

    /// The label given at creation.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The SCTP stream id of a negotiated channel; in-band channels give `None` (their stream
    /// is picked by the DTLS role once the descriptions are exchanged).
    pub fn id(&self) -> Option<u16> {
        self.inner.options.negotiated_id
    }

    /// The options given at creation.
    pub fn options(&self) -> &ChannelOptions {
        &self.inner.options
    }

    /// Current state.
    pub fn ready_state(&self) -> ChannelState {
        ChannelState::from_i32(self.inner.shared.state.load(Ordering::Acquire) as i32)
            .unwrap_or(ChannelState::Closed)
    }

    /// Whether messages can be sent now.
    pub fn is_open(&self) -> bool {
        self.ready_state() == ChannelState::Open
    }

    /// Sends a binary message. Never waits for the network: the message is queued for SCTP, or
    /// an error says why not ([`Error::BufferFull`] when the peer is not keeping up).
    pub fn send(&self, data: &[u8]) -> Result<()> {
        self.check_send(data.len())?;
        let link = &self.inner.shared.link;
        link.carrier()?.send(link.id, data, false)?;
        self.count_sent(data.len());
        Ok(())
    }

    /// Sends a text message.
    pub fn send_text(&self, text: &str) -> Result<()> {
        self.check_send(text.len())?;
        let link = &self.inner.shared.link;
        link.carrier()?.send(link.id, text.as_bytes(), true)?;
        self.count_sent(text.len());
        Ok(())
    }

    fn check_send(&self, len: usize) -> Result<()> {
        match self.ready_state() {
            ChannelState::Open => {}
            ChannelState::Connecting => {
                return Err(Error::InvalidState(format!(
                    "channel {:?} is not open yet",
                    self.inner.label
                )));
            }
            ChannelState::Closing | ChannelState::Closed => return Err(Error::Closed),
        }
        if len > MAX_MESSAGE_SIZE {
            return Err(Error::PacketTooLarge {
                size: len,
                max: MAX_MESSAGE_SIZE,
            });
        }
        Ok(())
    }

    fn count_sent(&self, len: usize) {
        let c = &self.inner.shared.counters;
        c.messages_sent.fetch_add(1, Ordering::Relaxed);
        c.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// Takes the oldest received message.
    pub fn recv(&self) -> Option<Message> {
        let inbox = &self.inner.shared.inbox;
        if inbox.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let (message, left) = {
            let mut queue = inbox.queue.lock();
            let message = queue.pop_front()?;
            // Counted under the lock so the count never runs ahead of the queue.
            inbox.len.store(queue.len(), Ordering::Release);
            (message, queue.len())
        };
        // Wakes whoever waits for these bytes (this channel's reader or another's).
        inbox.limits.budget.give(charge(&message));
        if left + 1 >= inbox.limits.messages {
            inbox.waker.notify_one();
        }
        Some(message)
    }

    /// Number of received messages waiting in the inbox.
    pub fn available(&self) -> usize {
        self.inner.shared.inbox.len.load(Ordering::Acquire)
    }

    /// Bytes handed to `send` that SCTP has not yet delivered or given up on.
    pub fn buffered_amount(&self) -> usize {
        if !self.is_open() {
            return 0;
        }
        let link = &self.inner.shared.link;
        link.carrier()
            .map_or(0, |carrier| carrier.buffered_amount(link.id))
    }

    /// Counts a message the caller chose to drop rather than send (for instance an unreliable
    /// packet refused with [`Error::BufferFull`]), so [`dropped`](Self::dropped) reports it.
    pub fn note_dropped(&self) {
        let c = &self.inner.shared.counters;
        c.messages_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages of this channel dropped on this side: received ones pushed out of a full inbox
    /// of a partially reliable channel, plus those counted with
    /// [`note_dropped`](Self::note_dropped). Messages SCTP abandons in flight when their
    /// lifetime or retransmit cap runs out are not visible here.
    pub fn dropped(&self) -> u64 {
        self.inner
            .shared
            .counters
            .messages_dropped
            .load(Ordering::Relaxed)
    }

    /// Messages and bytes this channel has carried each way so far.
    pub fn traffic(&self) -> ChannelTraffic {
        let c = &self.inner.shared.counters;
        ChannelTraffic {
            messages_sent: c.messages_sent.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            messages_received: c.messages_received.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
        }
    }

    /// Closes the channel; the remote end sees it closed. Messages already received stay
    /// readable; later ones are dropped.
    pub fn close(&self) {
        self.inner
            .shared
            .closed_locally
            .store(true, Ordering::Release);
        let state = self.ready_state();
        if matches!(state, ChannelState::Closing | ChannelState::Closed) {
            return;
        }
        self.set_state(ChannelState::Closing);
        let link = &self.inner.shared.link;
        match link.carrier() {
            Ok(carrier) => carrier.close_channel(link.id),
            Err(_) => self.set_state(ChannelState::Closed),
        }
    }

    fn set_state(&self, state: ChannelState) {
        set_state(&self.inner.shared, state);
    }
}

fn set_state(inner: &Shared, state: ChannelState) {
    inner.state.store(state as u8, Ordering::Release);
}

/// One of a connection's in-band channel slots, given back when dropped.
pub(crate) struct RemoteSlot(pub(crate) Arc<AtomicUsize>);

impl Drop for RemoteSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A carrier whose connection is gone.
    struct Gone;

    impl Carrier for Gone {
        fn send(&self, _: RTCDataChannelId, _: &[u8], _: bool) -> Result<()> {
            Err(Error::Closed)
        }
        fn buffered_amount(&self, _: RTCDataChannelId) -> usize {
            0
        }
        fn close_channel(&self, _: RTCDataChannelId) {}
    }

    fn channel(budget: &Arc<Budget>, reliable: bool) -> DataChannel {
        let options = ChannelOptions {
            max_packet_life_time: (!reliable).then_some(100),
            ..Default::default()
        };
        let limits = InboxLimits {
            messages: 100,
            budget: budget.clone(),
        };
        let id = RTCDataChannelId::default();
        let waker = Arc::new(Notify::new());
        DataChannel::new(Weak::<Gone>::new(), id, "t".into(), options, &limits, waker)
    }

    fn message(len: usize, tag: u8) -> Message {
        Message {
            data: BytesMut::from(&vec![tag; len][..]),
            is_string: false,
        }
    }

    #[test]
    fn a_reliable_inbox_refuses_past_the_budget_and_takes_again_once_read() {
        let budget = Budget::new(3000, None);
        let c = channel(&budget, true);
        assert!(c.enqueue_received(message(1000, 1)).is_ok());
        assert!(c.enqueue_received(message(1000, 2)).is_ok());
        let refused = c.enqueue_received(message(1000, 3)).unwrap_err();
        assert_eq!(refused.data[0], 3, "the refused message comes back intact");
        assert_eq!(c.available(), 2);
        assert_eq!(c.recv().unwrap().data[0], 1);
        assert!(c.enqueue_received(refused).is_ok());
        assert_eq!(budget.used(), 2 * (1000 + MESSAGE_OVERHEAD));
        drop(c);
        assert_eq!(budget.used(), 0, "a dropped channel gives its bytes back");
    }

    #[test]
    fn an_unreliable_inbox_drops_its_oldest_or_the_new_one_when_others_hold_the_budget() {
        let budget = Budget::new(3000, None);
        let unreliable = channel(&budget, false);
        for tag in 0..4 {
            assert!(unreliable.enqueue_received(message(1000, tag)).is_ok());
        }
        assert_eq!(unreliable.available(), 2, "the two newest fit");
        assert_eq!(unreliable.dropped(), 2);
        assert_eq!(unreliable.recv().unwrap().data[0], 2);
        // Another channel takes what is left; the unreliable one cannot make room.
        let reliable = channel(&budget, true);
        assert!(reliable.enqueue_received(message(1800, 9)).is_ok());
        assert!(unreliable.enqueue_received(message(1500, 5)).is_ok());
        assert_eq!(
            unreliable.available(),
            0,
            "its own oldest went, then the new one"
        );
        assert!(unreliable.recv().is_none());
        assert_eq!(unreliable.dropped(), 4);
        assert_eq!(budget.used(), 1800 + MESSAGE_OVERHEAD);
    }

    #[test]
    fn a_channel_closed_here_drops_what_still_arrives() {
        let budget = Budget::new(3000, None);
        let c = channel(&budget, true);
        assert!(c.enqueue_received(message(10, 1)).is_ok());
        c.close();
        assert!(c.enqueue_received(message(10, 2)).is_ok());
        assert_eq!(
            c.available(),
            1,
            "what arrived before the close stays readable"
        );
        assert_eq!(c.recv().unwrap().data[0], 1);
        assert_eq!(budget.used(), 0);
    }
}
