//! What the peer connection reports, handed on: received messages to their channels' inboxes,
//! channel and connection state changes, local candidates, channels the remote peer opens.

use std::sync::atomic::Ordering;

use rtc::data_channel::RTCDataChannelId;
use rtc::peer_connection::event::{RTCDataChannelEvent, RTCPeerConnectionEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::state::RTCIceConnectionState;
use rtc::sansio::Protocol;

use super::{Core, Driver};
use crate::channel::{ChannelOptions, DataChannel, Message, WeakDataChannel};
use crate::connection_shared::ConnectionEvent;
use crate::state::{ChannelState, ConnectionState, GatheringState, SignalingState};

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
            if let Err(message) = channel.enqueue_received(message) {
                core.held = Some((id, message));
                break;
            }
        }
        any
    }

    pub(super) fn on_event(&self, core: &mut Core, event: RTCPeerConnectionEvent) {
        let shared = &self.shared;
        match event {
            RTCPeerConnectionEvent::OnIceCandidateEvent(event) => {
                if let Ok(init) = event.candidate.to_json() {
                    let media = shared.mid.lock().clone();
                    shared.push(ConnectionEvent::IceCandidate {
                        media,
                        index: 0,
                        name: init.candidate,
                    });
                }
            }
            RTCPeerConnectionEvent::OnSignalingStateChangeEvent(state) => {
                shared
                    .signaling
                    .store(SignalingState::from(state) as i32, Ordering::Release);
            }
            RTCPeerConnectionEvent::OnIceGatheringStateChangeEvent(state) => {
                shared
                    .gathering
                    .store(GatheringState::from(state) as i32, Ordering::Release);
            }
            RTCPeerConnectionEvent::OnIceConnectionStateChangeEvent(state) => {
                if matches!(
                    state,
                    RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
                ) {
                    core.handshake.set_ice_connected();
                }
            }
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                let state = ConnectionState::from(state);
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
            RTCPeerConnectionEvent::OnDataChannel(event) => match event {
                RTCDataChannelEvent::OnOpen(id) => {
                    core.opened = true;
                    if let Some(channel) = self.channel(core, id) {
                        channel.opened();
                    }
                }
                RTCDataChannelEvent::OnClosing(id) => {
                    if let Some(channel) = core.channels.get(&id).and_then(WeakDataChannel::upgrade)
                    {
                        channel.state_changed(ChannelState::Closing);
                    }
                }
                RTCDataChannelEvent::OnClose(id) => {
                    let channel = core.channels.remove(&id);
                    if let Some(channel) = channel.as_ref().and_then(WeakDataChannel::upgrade) {
                        channel.state_changed(ChannelState::Closed);
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
    /// connection refuses it (see [`ConnectionShared::admit_remote_channel`]).
    fn remote_channel(&self, core: &mut Core, id: RTCDataChannelId) -> Option<DataChannel> {
        if core.refused.contains(&id) {
            return None;
        }
        let rtc = core.pc.data_channel(id)?;
        let Some(slot) = self.shared.admit_remote_channel() else {
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
