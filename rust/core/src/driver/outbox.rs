//! Messages the driver keeps outside SCTP for a while, so that unreliable ones are sent.
//!
//! SCTP starts a message's lifetime when the message is written to it, and drops an unsent
//! unordered message whose lifetime has run out. Two waits would eat Godot's 1 ms lifetime
//! before a first transmission, so messages wait here instead:
//!
//! - **A deferred flush** (see `COALESCE`): written at that flush, just before the datagrams
//!   leave. Otherwise a busy driver made messages expire before they were ever sent.
//! - **A full congestion window**, on unordered channels with a lifetime: *held* here while the
//!   window is full (and, of one flush's burst, all past its first 16 KiB), then offered again
//!   newest first when an acknowledgement may have opened it.
//!   Inside SCTP they would expire between acknowledgements, and with none pending when an
//!   acknowledgement comes, `rtc-sctp` does not grow the window: a 1 MB/s flow over a 100 ms
//!   round trip stayed near the initial window and delivered 39%. Held messages are bounded in
//!   bytes and age, the oldest dropped first, so a burst beyond the link's capacity delivers its
//!   newest messages.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::data_channel::{RTCDataChannelId, RTCDataChannelState};
use rtc::peer_connection::RTCPeerConnection;

use crate::error::{Error, Result};

/// Most bytes held per channel while its window is full; older messages are dropped first.
const HOLD_LIMIT: usize = 64 * 1024;
/// A held message older than this is stale game state: dropped rather than sent. Channels with
/// a longer lifetime are left to SCTP, whose queue keeps their messages that long anyway.
const HOLD_MAX_AGE: Duration = Duration::from_millis(250);
/// Of one flush's deferred messages, a holding-kind channel writes this many bytes to SCTP at
/// once and holds the rest: a burst beyond what the link takes then delivers its newest
/// messages, not its oldest.
const BURST_WRITE: usize = 16 * 1024;

/// One channel's held messages, oldest first, and their bytes.
#[derive(Default)]
struct Held {
    messages: VecDeque<Queued>,
    bytes: usize,
}

struct Queued {
    id: RTCDataChannelId,
    data: BytesMut,
    is_string: bool,
    at: Instant,
}

#[derive(Default)]
pub(super) struct Outbox {
    /// Deferred messages of every channel, in the order they were sent.
    queue: VecDeque<Queued>,
    /// Held messages per channel (present while the channel holds), oldest first.
    held: HashMap<RTCDataChannelId, Held>,
    /// Bytes here per channel: part of the channel's buffered amount, so the send buffer limit
    /// covers them.
    bytes: HashMap<RTCDataChannelId, usize>,
}

impl Outbox {
    /// Takes a message, after the checks the peer connection would make now (the caller still
    /// gets the error of a send that cannot succeed): held if its channel holds, else queued
    /// for the next flush.
    pub(super) fn push(
        &mut self,
        pc: &mut RTCPeerConnection,
        id: RTCDataChannelId,
        data: &[u8],
        is_string: bool,
        now: Instant,
    ) -> Result<()> {
        check(pc, id, data.len())?;
        *self.bytes.entry(id).or_default() += data.len();
        let message = Queued {
            id,
            data: BytesMut::from(data),
            is_string,
            at: now,
        };
        match self.held.get_mut(&id) {
            Some(held) => {
                held.bytes += message.data.len();
                held.messages.push_back(message);
                self.trim(id, now);
            }
            None => self.queue.push_back(message),
        }
        Ok(())
    }

    /// Bytes here for channel `id`.
    pub(super) fn bytes(&self, id: RTCDataChannelId) -> usize {
        self.bytes.get(&id).copied().unwrap_or(0)
    }

    /// Whether channel `id` holds its messages (its window was full).
    pub(super) fn holding(&self, id: RTCDataChannelId) -> bool {
        self.held.contains_key(&id)
    }

    /// Channel `id`'s last message stayed in SCTP for want of window: from now on its messages
    /// are held, if it is an unordered channel with a lifetime (SCTP keeps the others).
    pub(super) fn start_holding(&mut self, pc: &mut RTCPeerConnection, id: RTCDataChannelId) {
        if holds(pc, id) {
            self.held.entry(id).or_default();
        }
    }

    /// Writes the deferred messages to their channels, stamped `now` (past `BURST_WRITE` bytes
    /// of a holding-kind channel, the rest are held); returns the channels written to. A
    /// channel that closed in the meantime loses its messages, as it would inside SCTP.
    pub(super) fn write(
        &mut self,
        pc: &mut RTCPeerConnection,
        now: Instant,
    ) -> Vec<RTCDataChannelId> {
        // (channel, whether it is of the holding kind, bytes written in this flush)
        let mut written: Vec<(RTCDataChannelId, bool, usize)> = Vec::new();
        while let Some(message) = self.queue.pop_front() {
            let index = match written.iter().position(|w| w.0 == message.id) {
                Some(index) => index,
                None => {
                    written.push((message.id, holds(pc, message.id), 0));
                    written.len() - 1
                }
            };
            let (id, holding_kind, bytes) = &mut written[index];
            if *holding_kind && *bytes >= BURST_WRITE {
                let id = *id;
                let held = self.held.entry(id).or_default();
                held.bytes += message.data.len();
                held.messages.push_back(message);
                self.trim(id, now);
                continue;
            }
            *bytes += message.data.len();
            self.write_one(pc, message, now);
        }
        written.into_iter().map(|w| w.0).collect()
    }

    /// Before input that may acknowledge data: writes each holding channel's newest message,
    /// so SCTP has data waiting when the acknowledgement comes, and grows its window.
    pub(super) fn offer_newest(&mut self, pc: &mut RTCPeerConnection, now: Instant) {
        if self.held.is_empty() {
            return;
        }
        let ids: Vec<RTCDataChannelId> = self.held.keys().copied().collect();
        for id in ids {
            self.trim(id, now);
            if let Some(message) = self.pop_newest(id) {
                self.write_one(pc, message, now);
            }
        }
    }

    /// Writes the newest held message of any channel; false when none is left.
    pub(super) fn write_newest_held(&mut self, pc: &mut RTCPeerConnection, now: Instant) -> bool {
        let newest = self
            .held
            .iter()
            .filter_map(|(id, held)| held.messages.back().map(|m| (m.at, *id)))
            .max();
        let Some((_, id)) = newest else {
            return false;
        };
        self.trim(id, now);
        match self.pop_newest(id) {
            Some(message) => self.write_one(pc, message, now),
            None => return self.write_newest_held(pc, now),
        }
        true
    }

    /// Every held message went out with room to spare: the channels send directly again.
    pub(super) fn stop_holding(&mut self) {
        self.held.retain(|_, held| !held.messages.is_empty());
    }

    fn pop_newest(&mut self, id: RTCDataChannelId) -> Option<Queued> {
        let held = self.held.get_mut(&id)?;
        let message = held.messages.pop_back()?;
        held.bytes -= message.data.len();
        Some(message)
    }

    /// Drops channel `id`'s held messages beyond the byte and age bounds, oldest first.
    fn trim(&mut self, id: RTCDataChannelId, now: Instant) {
        let Some(held) = self.held.get_mut(&id) else {
            return;
        };
        while let Some(oldest) = held.messages.front() {
            let stale = now.duration_since(oldest.at) > HOLD_MAX_AGE;
            if held.bytes <= HOLD_LIMIT && !stale {
                break;
            }
            let len = oldest.data.len();
            held.bytes -= len;
            held.messages.pop_front();
            if let Some(bytes) = self.bytes.get_mut(&id) {
                *bytes = bytes.saturating_sub(len);
            }
        }
    }

    fn write_one(&mut self, pc: &mut RTCPeerConnection, message: Queued, now: Instant) {
        let Queued {
            id,
            data,
            is_string,
            ..
        } = message;
        if let Some(bytes) = self.bytes.get_mut(&id) {
            *bytes = bytes.saturating_sub(data.len());
        }
        let Some(mut channel) = pc.data_channel(id) else {
            return;
        };
        // Checked as UTF-8 when it was taken.
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

/// Whether channel `id` holds its messages when the window is full: unordered, with a lifetime
/// short enough that SCTP would drop them before an acknowledgement could make room.
fn holds(pc: &mut RTCPeerConnection, id: RTCDataChannelId) -> bool {
    pc.data_channel(id).is_some_and(|channel| {
        !channel.ordered()
            && channel
                .max_packet_life_time()
                .is_some_and(|ms| Duration::from_millis(u64::from(ms)) <= HOLD_MAX_AGE)
    })
}

/// What the peer connection would refuse now: a closed or unopened channel, or a message larger
/// than the peer accepts.
fn check(pc: &mut RTCPeerConnection, id: RTCDataChannelId, len: usize) -> Result<()> {
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
        && len > max
    {
        return Err(Error::PacketTooLarge { size: len, max });
    }
    Ok(())
}
