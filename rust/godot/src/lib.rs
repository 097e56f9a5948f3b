//! The webrtc_mesh GDExtension: Godot classes over the engine-free core.
//!
//! - `WebRTCMultiplayerPeerExtension`: a `MultiplayerPeer` with the API of Godot's
//!   `WebRTCMultiplayerPeer`.
//! - `WebRTCMeshPeerConnection` and `WebRTCMeshDataChannel`: a WebRTC backend, registered as
//!   Godot's default so `WebRTCPeerConnection.new()` uses it.
//! - `WebRTCSignalingServer`: the signaling server, inside the game.
//! - `WebRTCMeshSession`: joins a lobby through signaling and runs its multiplayer peer.

use godot::classes::WebRtcPeerConnection;
use godot::init::InitStage;
use godot::prelude::*;
use webrtc_mesh_core::Runtime;

mod config;
mod data_channel;
mod errors;
mod mesh_session;
mod multiplayer_peer;
mod peer_connection;
mod project_settings;
mod raw_packet;
mod signaling_server;
mod warnings;

struct WebRtcMeshExtension;

#[gdextension]
unsafe impl ExtensionLibrary for WebRtcMeshExtension {
    fn on_stage_init(stage: InitStage) {
        if stage == InitStage::Scene {
            project_settings::load();
            warnings::install();
            WebRtcPeerConnection::set_default_extension("WebRTCMeshPeerConnection");
        }
    }

    fn on_stage_deinit(stage: InitStage) {
        if stage == InitStage::Scene {
            // Connections leaked by scripts would keep the runtime's threads running code of
            // this library while Godot unloads it.
            Runtime::shutdown_shared();
        }
    }
}

#[cfg(test)]
mod docs_check;
