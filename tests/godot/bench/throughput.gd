## Messages per second of 1000-byte reliable packets between two peers polled in a tight loop:
## WebRTCMultiplayerPeerExtension and ENetMultiplayerPeer, on loopback, in one run.
## Run: godot --headless --path tests/godot --script res://bench/throughput.gd
extends SceneTree

const SECONDS := 3.0
const SIZE := 1000


func _initialize() -> void:
	var rounds := 3
	var results := {"WebRTCMultiplayerPeerExtension": [], "ENetMultiplayerPeer": []}
	for r in rounds:
		results["WebRTCMultiplayerPeerExtension"].append(_measure(_webrtc_pair()))
		results["ENetMultiplayerPeer"].append(_measure(_enet_pair()))
	for stack in results:
		var v: Array = results[stack]
		v.sort()
		print("%s: median %d msg/s (min %d, max %d, %d rounds of %.0f s, %d-byte reliable)" % [stack, v[v.size() / 2], v[0], v[-1], rounds, SECONDS, SIZE])
	var ratio: float = float(results["WebRTCMultiplayerPeerExtension"][1]) / max(1.0, float(results["ENetMultiplayerPeer"][1]))
	print("ratio WebRTCMultiplayerPeerExtension / ENet: %.2f" % ratio)
	quit(0)


## Sends from pair[1] to pair[0] for SECONDS; returns messages received per second.
func _measure(pair: Array) -> int:
	if pair.is_empty():
		return 0
	var receiver: MultiplayerPeer = pair[0]
	var sender: MultiplayerPeer = pair[1]
	var payload := PackedByteArray()
	payload.resize(SIZE)
	sender.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
	sender.set_target_peer(receiver.get_unique_id())
	var received := 0
	var start := Time.get_ticks_usec()
	var end := start + int(SECONDS * 1e6)
	while Time.get_ticks_usec() < end:
		for i in 64:
			if sender.put_packet(payload) != OK:
				break
		sender.poll()
		receiver.poll()
		while receiver.get_available_packet_count() > 0:
			receiver.get_packet()
			received += 1
	var took := (Time.get_ticks_usec() - start) / 1e6
	receiver.close()
	sender.close()
	return int(received / took)


func _webrtc_pair() -> Array:
	var a := WebRTCMultiplayerPeerExtension.new()
	var b := WebRTCMultiplayerPeerExtension.new()
	a.create_mesh(1)
	b.create_mesh(2)
	var ca := WebRTCPeerConnection.new()
	var cb := WebRTCPeerConnection.new()
	ca.initialize({"bindAddress": "127.0.0.1"})
	cb.initialize({"bindAddress": "127.0.0.1"})
	for pair in [[ca, cb], [cb, ca]]:
		var from: WebRTCPeerConnection = pair[0]
		var to: WebRTCPeerConnection = pair[1]
		from.session_description_created.connect(func(t: String, s: String) -> void: to.set_remote_description(t, s))
		from.ice_candidate_created.connect(func(m: String, i: int, c: String) -> void: to.add_ice_candidate(m, i, c))
	a.add_peer(ca, 2)
	b.add_peer(cb, 1)
	cb.create_offer()
	var deadline := Time.get_ticks_msec() + 10000
	while not (a.get_peer(2).connected and b.get_peer(1).connected):
		a.poll()
		b.poll()
		OS.delay_msec(1)
		if Time.get_ticks_msec() > deadline:
			printerr("WebRTC pair did not connect")
			return []
	return [a, b]


func _enet_pair() -> Array:
	var server := ENetMultiplayerPeer.new()
	var client := ENetMultiplayerPeer.new()
	var port := 27000 + randi() % 2000
	server.set_bind_ip("127.0.0.1")
	if server.create_server(port) != OK or client.create_client("127.0.0.1", port) != OK:
		printerr("ENet pair could not start")
		return []
	var deadline := Time.get_ticks_msec() + 10000
	while client.get_connection_status() != MultiplayerPeer.CONNECTION_CONNECTED:
		server.poll()
		client.poll()
		OS.delay_msec(1)
		if Time.get_ticks_msec() > deadline:
			printerr("ENet pair did not connect")
			return []
	# Let the server register the client too.
	for i in 20:
		server.poll()
		client.poll()
	return [server, client]
