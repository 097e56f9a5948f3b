//! Messages sent within `COALESCE` of a flush, kept until the timer task's flush writes them
//! to the association together: a burst leaves in full packets and one pass of the protocol,
//! not one per message. Every message is written to the association, whose own queue decides
//! what an unreliable burst beyond the link's capacity keeps (its newest messages), and whose
//! lifetimes start at a message's first transmission, so waiting here costs a message nothing.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use rtc::data_channel::RTCDataChannelId;

use crate::session::Session;

struct Queued {
    id: RTCDataChannelId,
    data: Bytes,
    is_string: bool,
}

#[derive(Default)]
pub(super) struct Outbox {
    /// Deferred messages of every channel, in the order they were sent.
    queue: VecDeque<Queued>,
    /// Bytes here per channel: part of the channel's buffered amount, so the send buffer limit
    /// covers them.
    bytes: HashMap<RTCDataChannelId, usize>,
}

impl Outbox {
    /// Takes a message (already checked as the association would check it).
    pub(super) fn push(&mut self, id: RTCDataChannelId, data: Bytes, is_string: bool) {
        *self.bytes.entry(id).or_default() += data.len();
        self.queue.push_back(Queued {
            id,
            data,
            is_string,
        });
    }

    /// Bytes here for every channel.
    pub(super) fn total(&self) -> usize {
        self.bytes.values().sum()
    }

    /// Bytes here for channel `id`.
    pub(super) fn bytes(&self, id: RTCDataChannelId) -> usize {
        self.bytes.get(&id).copied().unwrap_or(0)
    }

    /// Writes the deferred messages to the association. A channel that closed in the
    /// meantime loses its messages, as it would inside SCTP.
    pub(super) fn write(&mut self, session: &mut Session, _now: Instant) {
        while let Some(Queued {
            id,
            data,
            is_string,
        }) = self.queue.pop_front()
        {
            if let Some(bytes) = self.bytes.get_mut(&id) {
                *bytes = bytes.saturating_sub(data.len());
            }
            if let Err(e) = session.send(id, data, is_string) {
                log::debug!("a queued message on channel {id} was not sent: {e:?}");
            }
        }
        self.bytes.retain(|_, bytes| *bytes > 0);
    }
}
