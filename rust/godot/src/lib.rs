use godot::prelude::*;

struct WebRtcMeshExtension;

#[gdextension]
unsafe impl ExtensionLibrary for WebRtcMeshExtension {}
