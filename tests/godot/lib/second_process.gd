## The other process of test_two_process: mesh peer 2, which makes the offer, sends 100 reliable
## packets to peer 1, waits for "done" and exits 0 (or 1 after 20 s).
extends SceneTree

const FileSignaling := preload("res://lib/file_signaling.gd")

var signaling: FileSignaling
var peer := WebRTCMultiplayerPeerExtension.new()
var connection := WebRTCPeerConnection.new()
var sent := false
var deadline := 0


func _initialize() -> void:
	signaling = FileSignaling.new(OS.get_cmdline_user_args()[0], 2)
	deadline = Time.get_ticks_msec() + 20000
	connection.initialize({"bindAddress": "127.0.0.1"})
	peer.create_mesh(2)
	signaling.attach(connection, 1)
	peer.add_peer(connection, 1)
	connection.create_offer()


func _process(_delta: float) -> bool:
	peer.poll()
	for m in signaling.apply(connection):
		if m.type == "done":
			quit(0)
			return true
	if not sent and peer.get_peer(1).get("connected", false):
		peer.set_target_peer(1)
		peer.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
		for i in 100:
			peer.put_packet(var_to_bytes(i))
		sent = true
	if Time.get_ticks_msec() > deadline:
		quit(1)
		return true
	return false
