## The Godot side of rust/session/tests/browser.rs's fallback test: the GDScript session web
## exports use (on the built-in WebRTCMultiplayerPeer) creates a lobby on the signaling server
## named after `--`, prints "lobby NAME", then for the browser peer "peer_joined ID", and for each
## packet "packet FROM CHANNEL_ID TEXT", sending it back on the channel it came on ("native:" +
## text, or a big message as it is). Runs until killed (at most 60 s).
extends SceneTree

const Fallback := preload("res://addons/webrtc_mesh/web/mesh_session.gd")
## Godot's channel layout: transfer mode by data channel id.
const MODE := {
	1: MultiplayerPeer.TRANSFER_MODE_RELIABLE,
	2: MultiplayerPeer.TRANSFER_MODE_UNRELIABLE_ORDERED,
	3: MultiplayerPeer.TRANSFER_MODE_UNRELIABLE,
}

var session: Node


func _initialize() -> void:
	create_timer(60.0).timeout.connect(quit)
	session = Fallback.new()
	# The packets are the page's raw bytes, not MultiplayerAPI's: this script reads the peer.
	session.assign_multiplayer = false
	root.add_child(session)
	session.joined.connect(func(lobby: String, _id: int) -> void: print("lobby ", lobby))
	session.peer_joined.connect(func(id: int) -> void: print("peer_joined ", id))
	session.error.connect(func(message: String) -> void: print("error ", message))
	var err: Error = session.join(OS.get_cmdline_user_args()[0])
	if err != OK:
		print("error join: ", error_string(err))


func _process(_delta: float) -> bool:
	var peer: WebRTCMultiplayerPeer = session.get_multiplayer_peer()
	if peer == null:
		return false
	peer.poll()
	while peer.get_available_packet_count() > 0:
		var from := peer.get_packet_peer()
		var data := peer.get_packet()
		var big := data.size() > 1000
		var text := "big:%d" % data.size() if big else data.get_string_from_utf8()
		# The channel comes from the page's message ("browser:CHANNEL:N"; the big one is on 1):
		# the built-in peer's get_packet_mode() names the channel it chose at its last look, and
		# get_packet() takes from the lowest channel with a packet now, which may have changed.
		var channel := 1 if big else text.get_slice(":", 1).to_int()
		print("packet %d %d %s" % [from, channel, text])
		peer.set_target_peer(from)
		peer.transfer_channel = 0
		peer.transfer_mode = MODE.get(channel, MultiplayerPeer.TRANSFER_MODE_RELIABLE)
		peer.put_packet(data if big else ("native:" + text).to_utf8_buffer())
	return false
