use godot::classes::web_rtc_data_channel::{ChannelState as GdChannelState, WriteMode};
use godot::classes::{IWebRtcDataChannelExtension, WebRtcDataChannelExtension};
use godot::global::Error as GdError;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use webrtc_mesh_core::{ChannelState, DataChannel, MAX_MESSAGE_SIZE, Message};

use crate::errors;
use crate::raw_packet;

/// A WebRTC data channel of the webrtc_mesh backend.
///
/// You do not create it yourself: `WebRTCPeerConnection.create_data_channel` returns one, and
/// `data_channel_received` delivers those the remote peer announces. Use it through the
/// `WebRTCDataChannel` API (`put_packet`, `get_packet`, `get_ready_state`, ...).
#[derive(GodotClass)]
#[class(tool, base = WebRtcDataChannelExtension, no_init, rename = WebRTCMeshDataChannel)]
pub struct MeshDataChannel {
    base: Base<WebRtcDataChannelExtension>,
    channel: DataChannel,
    write_mode: WriteMode,
    // The packet last returned by `get_packet`; Godot reads its bytes until the next call.
    current: Option<Message>,
}

impl MeshDataChannel {
    /// Wraps a core channel in a Godot object.
    pub fn wrap(channel: DataChannel) -> Gd<Self> {
        Gd::from_init_fn(|base| MeshDataChannel {
            base,
            channel,
            write_mode: WriteMode::BINARY,
            current: None,
        })
    }
}

pub fn godot_state(state: ChannelState) -> GdChannelState {
    match state {
        ChannelState::Connecting => GdChannelState::CONNECTING,
        ChannelState::Open => GdChannelState::OPEN,
        ChannelState::Closing => GdChannelState::CLOSING,
        ChannelState::Closed => GdChannelState::CLOSED,
    }
}

#[godot_api]
impl IWebRtcDataChannelExtension for MeshDataChannel {
    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> GdError {
        self.current = self.channel.recv();
        let Some(message) = &self.current else {
            return errors::refuse(
                "WebRTCDataChannel.get_packet",
                GdError::ERR_UNAVAILABLE,
                "no packet is waiting",
            );
        };
        // SAFETY: Godot's own out-pointers; the bytes stay put until the next `get_packet`.
        unsafe { raw_packet::hand_out(r_buffer, r_buffer_size, &message.data) };
        GdError::OK
    }

    unsafe fn put_packet_rawptr(
        &mut self,
        p_buffer: RawPtr<*const u8>,
        p_buffer_size: i32,
    ) -> GdError {
        // SAFETY: Godot's own buffer, used only during this call.
        let data = unsafe { raw_packet::taken_in(p_buffer, p_buffer_size) };
        let result = if self.write_mode == WriteMode::TEXT {
            match std::str::from_utf8(data) {
                Ok(text) => self.channel.send_text(text),
                Err(_) => {
                    return errors::refuse(
                        "WebRTCDataChannel.put_packet",
                        GdError::ERR_INVALID_PARAMETER,
                        "write mode is TEXT but the packet is not valid UTF-8",
                    );
                }
            }
        } else {
            self.channel.send(data)
        };
        errors::check("WebRTCDataChannel.put_packet", result)
    }

    fn get_available_packet_count(&self) -> i32 {
        self.channel.available() as i32
    }

    fn get_max_packet_size(&self) -> i32 {
        MAX_MESSAGE_SIZE as i32
    }

    fn poll(&mut self) -> GdError {
        GdError::OK
    }

    fn close(&mut self) {
        self.channel.close();
    }

    fn set_write_mode(&mut self, p_write_mode: WriteMode) {
        self.write_mode = p_write_mode;
    }

    fn get_write_mode(&self) -> WriteMode {
        self.write_mode
    }

    fn was_string_packet(&self) -> bool {
        self.current.as_ref().is_some_and(|m| m.is_string)
    }

    fn get_ready_state(&self) -> GdChannelState {
        godot_state(self.channel.ready_state())
    }

    fn get_label(&self) -> GString {
        self.channel.label().into()
    }

    fn is_ordered(&self) -> bool {
        self.channel.options().ordered
    }

    fn get_id(&self) -> i32 {
        self.channel.id().map_or(-1, i32::from)
    }

    fn get_max_packet_life_time(&self) -> i32 {
        self.channel
            .options()
            .max_packet_life_time
            .map_or(65535, i32::from)
    }

    fn get_max_retransmits(&self) -> i32 {
        self.channel
            .options()
            .max_retransmits
            .map_or(65535, i32::from)
    }

    fn get_protocol(&self) -> GString {
        self.channel.options().protocol.as_str().into()
    }

    fn is_negotiated(&self) -> bool {
        self.channel.options().negotiated_id.is_some()
    }

    fn get_buffered_amount(&self) -> i32 {
        self.channel.buffered_amount().min(i32::MAX as usize) as i32
    }
}
