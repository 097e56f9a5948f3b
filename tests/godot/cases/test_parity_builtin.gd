## The same mesh scenario on Godot's built-in WebRTCMultiplayerPeer, running on this backend.
extends "res://lib/mesh_rpc.gd"


func _init() -> void:
	peer_class = "WebRTCMultiplayerPeer"
