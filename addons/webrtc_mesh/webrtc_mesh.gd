## Makes this addon's objects in a way that compiles and runs on every platform: the extension's
## classes where its library is loaded (desktop, mobile), Godot's built-in WebRTC where it is not
## (web exports).
##
## A script that names [code]WebRTCMeshSession[/code] or [code]WebRTCMultiplayerPeerExtension[/code]
## does not compile in a web export; one that asks this class does:
## [codeblock]
## var session := WebRTCMesh.new_session()      # a Node with WebRTCMeshSession's API
## add_child(session)
## session.joined.connect(func(lobby, id): print("lobby ", lobby, ", id ", id))
## session.join("wss://example.com/signaling")
## [/codeblock]
class_name WebRTCMesh
extends RefCounted

const _Fallback := preload("res://addons/webrtc_mesh/web/mesh_session.gd")


## Whether the extension's classes are here (false in web exports).
static func is_native() -> bool:
	return ClassDB.class_exists(&"WebRTCMeshSession")


## A new session node: the extension's [code]WebRTCMeshSession[/code], or its GDScript twin over
## Godot's built-in [WebRTCMultiplayerPeer] where the extension is not loaded.
static func new_session() -> Node:
	if is_native():
		return ClassDB.instantiate(&"WebRTCMeshSession")
	return _Fallback.new()


## A new multiplayer peer: [code]WebRTCMultiplayerPeerExtension[/code], or the built-in
## [WebRTCMultiplayerPeer] (same methods: [code]create_mesh[/code], [code]add_peer[/code]...).
static func new_multiplayer_peer() -> MultiplayerPeer:
	if ClassDB.class_exists(&"WebRTCMultiplayerPeerExtension"):
		return ClassDB.instantiate(&"WebRTCMultiplayerPeerExtension")
	return WebRTCMultiplayerPeer.new()
