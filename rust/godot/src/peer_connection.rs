use godot::classes::web_rtc_peer_connection::{
    ConnectionState as GdConnectionState, GatheringState as GdGatheringState,
    SignalingState as GdSignalingState,
};
use godot::classes::{
    IWebRtcPeerConnectionExtension, WebRtcDataChannel, WebRtcPeerConnectionExtension,
};
use godot::global::Error as GdError;
use godot::prelude::*;
use webrtc_mesh_core::{Connection, ConnectionEvent, ConnectionState, Runtime};

use crate::config;
use crate::data_channel::MeshDataChannel;
use crate::errors;

/// The webrtc_mesh WebRTC backend: a pure-Rust peer connection (ICE, DTLS, SCTP data channels).
///
/// It is registered as Godot's default WebRTC implementation when the extension loads, so
/// `WebRTCPeerConnection.new()` returns one and existing WebRTC scripts (and Godot's own
/// `WebRTCMultiplayerPeer`) work unchanged. Signals fire only inside `poll()`.
///
/// `initialize()` accepts the usual `{"iceServers": [...]}` plus `"iceTransportPolicy"`
/// (`"all"` or `"relay"`), `"bindAddress"` (an IP, e.g. `"127.0.0.1"` for peers on one machine)
/// and `"portRange"` (`[min, max]`). Without `initialize()` the defaults are used.
///
/// Limits against a hostile peer: unread messages of all channels together, those the peer
/// opened (`data_channel_received`) included, count against a receive budget (project setting
/// `network/webrtc_mesh/receive_budget_kib`); a peer may open at most 16 channels at once; more
/// than 64 remote ICE candidates, or a description over 48 KiB, fail with
/// `ERR_PARAMETER_RANGE_ERROR`. Keep a reference to each channel you receive and read it, or
/// close it: an unread channel holds the budget of its connection.
#[derive(GodotClass)]
#[class(tool, base = WebRtcPeerConnectionExtension, rename = WebRTCMeshPeerConnection)]
pub struct MeshPeerConnection {
    base: Base<WebRtcPeerConnectionExtension>,
    // Created by `initialize` or on first use, so that loading the extension (in the editor,
    // say) starts no network threads.
    connection: Option<Connection>,
    closed: bool,
}

impl MeshPeerConnection {
    /// The core connection, created with the default configuration if `initialize` was not
    /// called.
    pub fn core(&mut self) -> webrtc_mesh_core::Result<Connection> {
        if let Some(connection) = &self.connection {
            return Ok(connection.clone());
        }
        if self.closed {
            return Err(webrtc_mesh_core::Error::Closed);
        }
        let connection = Connection::new(
            &Runtime::shared()?,
            &crate::project_settings::connection_defaults(),
        )?;
        self.connection = Some(connection.clone());
        Ok(connection)
    }

    fn with_core(
        &mut self,
        call: &str,
        f: impl FnOnce(&Connection) -> webrtc_mesh_core::Result<()>,
    ) -> GdError {
        match self.core() {
            Ok(connection) => errors::check(call, f(&connection)),
            Err(e) => errors::report(call, &e),
        }
    }
}

#[godot_api]
impl IWebRtcPeerConnectionExtension for MeshPeerConnection {
    fn init(base: Base<WebRtcPeerConnectionExtension>) -> Self {
        MeshPeerConnection {
            base,
            connection: None,
            closed: false,
        }
    }

    fn get_connection_state(&self) -> GdConnectionState {
        let state = match &self.connection {
            Some(c) => c.connection_state(),
            None if self.closed => ConnectionState::Closed,
            None => ConnectionState::New,
        };
        GdConnectionState::from_ord(state as i32)
    }

    fn get_gathering_state(&self) -> GdGatheringState {
        GdGatheringState::from_ord(
            self.connection
                .as_ref()
                .map_or(0, |c| c.gathering_state() as i32),
        )
    }

    fn get_signaling_state(&self) -> GdSignalingState {
        let state = match &self.connection {
            Some(c) => c.signaling_state() as i32,
            None if self.closed => GdSignalingState::CLOSED.ord(),
            None => 0,
        };
        GdSignalingState::from_ord(state)
    }

    fn initialize(&mut self, p_config: VarDictionary) -> GdError {
        const CALL: &str = "WebRTCPeerConnection.initialize";
        let config = match config::connection_config(&p_config) {
            Ok(config) => config,
            Err(e) => return errors::report(CALL, &e),
        };
        let runtime = match Runtime::shared() {
            Ok(runtime) => runtime,
            Err(e) => return errors::report(CALL, &e),
        };
        match Connection::new(&runtime, &config) {
            Ok(connection) => {
                if let Some(old) = self.connection.replace(connection) {
                    old.close();
                }
                self.closed = false;
                GdError::OK
            }
            Err(e) => errors::report(CALL, &e),
        }
    }

    fn create_data_channel(
        &mut self,
        p_label: GString,
        p_config: VarDictionary,
    ) -> Option<Gd<WebRtcDataChannel>> {
        const CALL: &str = "WebRTCPeerConnection.create_data_channel";
        let created = config::channel_options(&p_config).and_then(|options| {
            self.core()?
                .create_data_channel(&p_label.to_string(), &options)
        });
        match created {
            Ok(channel) => Some(MeshDataChannel::wrap(channel).upcast()),
            Err(e) => {
                errors::report(CALL, &e);
                None
            }
        }
    }

    fn create_offer(&mut self) -> GdError {
        self.with_core(
            "WebRTCPeerConnection.create_offer",
            Connection::create_offer,
        )
    }

    fn set_remote_description(&mut self, p_type: GString, p_sdp: GString) -> GdError {
        self.with_core("WebRTCPeerConnection.set_remote_description", |c| {
            c.set_remote_description(&p_type.to_string(), &p_sdp.to_string())
        })
    }

    fn set_local_description(&mut self, p_type: GString, p_sdp: GString) -> GdError {
        self.with_core("WebRTCPeerConnection.set_local_description", |c| {
            c.set_local_description(&p_type.to_string(), &p_sdp.to_string())
        })
    }

    fn add_ice_candidate(
        &mut self,
        p_sdp_mid_name: GString,
        p_sdp_mline_index: i32,
        p_sdp_name: GString,
    ) -> GdError {
        self.with_core("WebRTCPeerConnection.add_ice_candidate", |c| {
            c.add_ice_candidate(
                &p_sdp_mid_name.to_string(),
                p_sdp_mline_index,
                &p_sdp_name.to_string(),
            )
        })
    }

    fn poll(&mut self) -> GdError {
        crate::warnings::show();
        let Some(connection) = self.connection.clone() else {
            return GdError::OK;
        };
        // Each signal may call back into this object (demos connect
        // `session_description_created` to `set_local_description`), so no borrow of `self`
        // is held while it runs.
        while let Some(event) = connection.poll_event() {
            match event {
                ConnectionEvent::SessionDescription { sdp_type, sdp } => {
                    self.base_mut().emit_signal(
                        "session_description_created",
                        &[sdp_type.as_str().to_variant(), sdp.to_variant()],
                    );
                }
                ConnectionEvent::IceCandidate { media, index, name } => {
                    self.base_mut().emit_signal(
                        "ice_candidate_created",
                        &[media.to_variant(), index.to_variant(), name.to_variant()],
                    );
                }
                ConnectionEvent::DataChannel(channel) => {
                    let channel = MeshDataChannel::wrap(channel);
                    self.base_mut()
                        .emit_signal("data_channel_received", &[channel.to_variant()]);
                }
            }
        }
        GdError::OK
    }

    fn close(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.close();
        }
        self.closed = true;
    }
}
