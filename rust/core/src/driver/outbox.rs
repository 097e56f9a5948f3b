//! Messages sent while a flush is deferred (see `COALESCE`) wait here, outside SCTP.
//!
//! SCTP starts a message's lifetime when the message is written to it. Written at once but sent
//! only at the deferred flush, a message on a 1 ms channel would spend its lifetime waiting for
//! this driver (all of it when the machine is busy) and be abandoned before it was ever sent.
//! Written at the flush, just before the datagrams leave, every message gets its first
//! transmission; its lifetime then counts only the time SCTP itself holds it (a full congestion
//! window), which is what the lifetime is for.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::BytesMut;
use rtc::data_channel::{RTCDataChannelId, RTCDataChannelState};
use rtc::peer_connection::RTCPeerConnection;

use crate::error::{Error, Result};

struct Queued {
    id: RTCDataChannelId,
    data: BytesMut,
    is_string: bool,
}

/// The deferred messages, in the order they were sent, and their bytes per channel (part of
/// the channel's buffered amount, so the send buffer limit covers them).
#[derive(Default)]
pub(super) struct Outbox {
    queue: VecDeque<Queued>,
    bytes: HashMap<RTCDataChannelId, usize>,
}

impl Outbox {
    /// Queues a message for the next flush, after the checks the peer connection would make
    /// now, so the caller still gets the error of a send that cannot succeed.
    pub(super) fn push(
        &mut self,
        pc: &mut RTCPeerConnection,
        id: RTCDataChannelId,
        data: &[u8],
        is_string: bool,
    ) -> Result<()> {
        let channel = pc.data_channel(id).ok_or(Error::Closed)?;
        match channel.ready_state() {
            RTCDataChannelState::Open => {}
            RTCDataChannelState::Connecting => {
                return Err(Error::InvalidState("channel is not open yet".into()));
            }
            _ => return Err(Error::Closed),
        }
        let max = pc.sctp().and_then(|sctp| sctp.max_message_size());
        if let Some(max) = max.map(|max| max as usize)
            && data.len() > max
        {
            return Err(Error::PacketTooLarge {
                size: data.len(),
                max,
            });
        }
        *self.bytes.entry(id).or_default() += data.len();
        self.queue.push_back(Queued {
            id,
            data: BytesMut::from(data),
            is_string,
        });
        Ok(())
    }

    /// Bytes queued here for channel `id`.
    pub(super) fn bytes(&self, id: RTCDataChannelId) -> usize {
        self.bytes.get(&id).copied().unwrap_or(0)
    }

    /// Writes every queued message to its channel, stamped `now`. A channel that closed in
    /// the meantime loses its messages, as it would have lost them inside SCTP.
    pub(super) fn write(&mut self, pc: &mut RTCPeerConnection, now: Instant) {
        self.bytes.clear();
        for Queued {
            id,
            data,
            is_string,
        } in self.queue.drain(..)
        {
            let Some(mut channel) = pc.data_channel(id) else {
                continue;
            };
            // Checked as UTF-8 when it was queued.
            let text = is_string
                .then(|| std::str::from_utf8(&data).ok().map(str::to_owned))
                .flatten();
            let sent = match text {
                Some(text) => channel.send_text(now, text),
                None => channel.send(now, data),
            };
            if let Err(e) = sent {
                log::debug!("a queued message on channel {id} was not sent: {e}");
            }
        }
    }
}
