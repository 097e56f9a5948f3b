//! What the session reports, handed on: received messages to their channels' inboxes, channel
//! and connection state changes, channels the remote peer opens.

use std::sync::atomic::Ordering;

use bytes::BytesMut;
use rtc::data_channel::RTCDataChannelId;

use super::{Core, Driver};
use crate::channel::{ChannelOptions, DataChannel, Message, WeakDataChannel};
use crate::connection_shared::ConnectionEvent;
use crate::sctp::Reliability;
use crate::session::SessionEvent;
use crate::state::{ChannelState, ConnectionState};

impl Driver {
    /// Hands received messages to their channels' inboxes. Returns whether there was any.
    pub(super) fn deliver(&self, core: &mut Core) -> bool {
        let mut any = false;
        if let Some((id, message)) = core.held.take()
            && let Some(channel) = self.channel(core, id)
            && let Err(message) = channel.enqueue_received(message)
        {
            core.held = Some((id, message));
            return false;
        }
        while let Some((id, data, is_string)) = core.pc.poll_message() {
            any = true;
            let Some(channel) = self.channel(core, id) else {
                continue;
            };
            let message = Message {
                // The association assembled it into a buffer of its own: no copy.
                data: BytesMut::from(data),
                is_string,
            };
            if let Err(message) = channel.enqueue_received(message) {
                core.held = Some((id, message));
                break;
            }
        }
        any
    }

    pub(super) fn on_event(&self, core: &mut Core, event: SessionEvent) {
        let shared = &self.shared;
        match event {
            SessionEvent::State(state) => {
                if state == ConnectionState::Connected {
                    core.connect_deadline = None;
                }
                let state = state as i32;
                // Closed is final: a late report must not revive a connection closed here.
                let _ =
                    shared
                        .connection
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                            (old != ConnectionState::Closed as i32).then_some(state)
                        });
            }
            SessionEvent::Failed(why) => log::warn!("a connection failed: {why}"),
            SessionEvent::ChannelOpen(id) => {
                core.opened = true;
                if let Some(channel) = self.channel(core, id) {
                    channel.opened();
                }
            }
            SessionEvent::RemoteChannel(id) => {
                // Announced (or refused) here, before its first message.
                let _ = self.channel(core, id);
            }
            SessionEvent::ChannelClosing(id) => {
                if let Some(channel) = core.channels.get(&id).and_then(WeakDataChannel::upgrade) {
                    channel.state_changed(ChannelState::Closing);
                }
            }
            SessionEvent::ChannelClosed(id) => {
                let channel = core.channels.remove(&id);
                if let Some(channel) = channel.as_ref().and_then(WeakDataChannel::upgrade) {
                    channel.state_changed(ChannelState::Closed);
                }
                core.remote.remove(&id);
                core.refused.remove(&id);
            }
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
    /// connection refuses it (see [`ConnectionShared::admit_remote_channel`]).
    fn remote_channel(&self, core: &mut Core, id: RTCDataChannelId) -> Option<DataChannel> {
        if core.refused.contains(&id) {
            return None;
        }
        let settings = core.pc.channel(id)?.settings.clone();
        let Some(slot) = self.shared.admit_remote_channel() else {
            core.refuse(id);
            return None;
        };
        let millis = |value: u64| u16::try_from(value).unwrap_or(u16::MAX);
        let options = ChannelOptions {
            ordered: settings.ordered,
            max_packet_life_time: match settings.reliability {
                Reliability::Lifetime(lifetime) => Some(millis(lifetime.as_millis() as u64)),
                _ => None,
            },
            max_retransmits: match settings.reliability {
                Reliability::MaxRetransmits(count) => Some(millis(u64::from(count))),
                _ => None,
            },
            protocol: settings.protocol,
            negotiated_id: None,
        };
        let label = settings.label;
        let channel = DataChannel::new(
            self.me.clone(),
            id,
            label,
            options,
            &self.shared.inbox,
            self.wake.clone(),
        );
        core.channels.insert(id, channel.downgrade());
        core.remote.insert(id, slot);
        self.shared
            .push(ConnectionEvent::DataChannel(channel.clone()));
        Some(channel)
    }
}
