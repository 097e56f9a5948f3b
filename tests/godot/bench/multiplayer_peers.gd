## Throughput, round trip and mesh setup of three MultiplayerPeers in one run, on loopback, peers
## polled in a tight loop: WebRTCMultiplayerPeerExtension, Godot's WebRTCMultiplayerPeer over this
## addon's WebRTCPeerConnection, and ENetMultiplayerPeer. Rounds are interleaved; medians shown
## with their ratio to ENet in the same run.
## Run: bash tests/godot/bench.sh [--json PATH]
extends SceneTree

const ROUNDS := 3
const SECONDS := 1.5
const ROUND_TRIPS := 2000
const WINDOW := 256
const OURS := "WebRTCMultiplayerPeerExtension"
const BUILTIN := "WebRTCMultiplayerPeer"
const ENET := "ENetMultiplayerPeer"
const STACKS := [OURS, BUILTIN, ENET]
const MESH_SETUP_TARGET_MS := 50.0

## name, unit, whether higher is better, target as a ratio to ENet (minimum when higher is
## better, maximum otherwise). The mesh setup target is absolute: MESH_SETUP_TARGET_MS.
const SCENARIOS := [
	["reliable_1000b", "msgs_per_s", true, 0.5],
	["unreliable_100b", "msgs_per_s", true, 1.0],
	["reliable_16000b", "MB_per_s", true, 0.6],
	["round_trip_64b_p50", "us", false, 2.0],
	["round_trip_64b_p99", "us", false, 4.0],
	["mesh_4_setup", "ms", false, INF],
]

var _results := {}


func _initialize() -> void:
	for scenario in SCENARIOS:
		_results[scenario[0]] = {}
		for stack in STACKS:
			_results[scenario[0]][stack] = []
	for r in ROUNDS:
		for stack in STACKS:
			_round(stack)
	_report()
	quit(0)


func _round(stack: String) -> void:
	var pair := _pair(stack)
	if pair.is_empty():
		return
	var receiver: MultiplayerPeer = pair[0]
	var sender: MultiplayerPeer = pair[1]
	_add("reliable_1000b", stack, _rate(sender, receiver, 1000, true))
	_add("unreliable_100b", stack, _rate(sender, receiver, 100, false))
	_add("reliable_16000b", stack, _rate(sender, receiver, 16000, true) * 16000 / 1e6)
	var rtts := _round_trips(sender, receiver)
	_add("round_trip_64b_p50", stack, _quantile(rtts, 0.5))
	_add("round_trip_64b_p99", stack, _quantile(rtts, 0.99))
	receiver.close()
	sender.close()
	_add("mesh_4_setup", stack, _mesh_setup(stack, 4))


func _add(scenario: String, stack: String, value: float) -> void:
	if not is_nan(value):
		_results[scenario][stack].append(value)


## Messages received per second from `sender` to `receiver`. Reliable sends keep at most WINDOW
## messages in flight (nothing is lost, so the count is exact); unreliable ones send a burst
## per loop and count what arrives.
func _rate(sender: MultiplayerPeer, receiver: MultiplayerPeer, size: int, reliable: bool) -> float:
	var payload := PackedByteArray()
	payload.resize(size)
	sender.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE if reliable else MultiplayerPeer.TRANSFER_MODE_UNRELIABLE
	sender.transfer_channel = 0
	sender.set_target_peer(receiver.get_unique_id())
	var sent := 0
	var received := 0
	var start := Time.get_ticks_usec()
	var end := start + int(SECONDS * 1e6)
	while Time.get_ticks_usec() < end:
		var burst := WINDOW - (sent - received) if reliable else 32
		for i in burst:
			if sender.put_packet(payload) != OK:
				break
			sent += 1
		sender.poll()
		receiver.poll()
		while receiver.get_available_packet_count() > 0:
			receiver.get_packet()
			received += 1
	var took := (Time.get_ticks_usec() - start) / 1e6
	# Leave nothing in flight for the next measurement.
	var settle := Time.get_ticks_msec() + 2000
	while (not reliable or received < sent) and Time.get_ticks_msec() < settle:
		sender.poll()
		receiver.poll()
		while receiver.get_available_packet_count() > 0:
			receiver.get_packet()
			received += 1
		if not reliable and Time.get_ticks_msec() > settle - 1900:
			break
	return received / took


## Round trips of a 64-byte reliable message, in microseconds.
func _round_trips(a: MultiplayerPeer, b: MultiplayerPeer) -> PackedFloat64Array:
	var payload := PackedByteArray()
	payload.resize(64)
	for peer in [a, b]:
		peer.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
		peer.transfer_channel = 0
	a.set_target_peer(b.get_unique_id())
	b.set_target_peer(a.get_unique_id())
	var rtts := PackedFloat64Array()
	for i in ROUND_TRIPS:
		var start := Time.get_ticks_usec()
		a.put_packet(payload)
		if not _await_packet(a, b) or b.put_packet(b.get_packet()) != OK or not _await_packet(b, a):
			return PackedFloat64Array()
		a.get_packet()
		rtts.append(Time.get_ticks_usec() - start)
	return rtts


func _await_packet(from: MultiplayerPeer, to: MultiplayerPeer) -> bool:
	var deadline := Time.get_ticks_msec() + 2000
	while to.get_available_packet_count() == 0:
		from.poll()
		to.poll()
		if Time.get_ticks_msec() > deadline:
			return false
	return true


func _quantile(values: PackedFloat64Array, q: float) -> float:
	if values.is_empty():
		return NAN
	values.sort()
	return values[int(round((values.size() - 1) * q))]


## Two connected peers of `stack`, [receiver, sender]; empty if they did not connect.
func _pair(stack: String) -> Array:
	if stack == ENET:
		return _enet_peers(2)
	return _webrtc_peers(stack, 2)


## Milliseconds until `count` peers in this process are all connected (a mesh for WebRTC,
## a server and its clients for ENet), polled in a tight loop.
func _mesh_setup(stack: String, count: int) -> float:
	var start := Time.get_ticks_usec()
	var peers := _enet_peers(count) if stack == ENET else _webrtc_peers(stack, count)
	var took := (Time.get_ticks_usec() - start) / 1000.0
	for peer in peers:
		peer.close()
	return took if not peers.is_empty() else NAN


func _webrtc_peers(stack: String, count: int) -> Array:
	var peers := []
	for id in range(1, count + 1):
		var peer: MultiplayerPeer = ClassDB.instantiate(stack)
		peer.create_mesh(id)
		peers.append(peer)
	for a in count:
		for b in range(a + 1, count):
			var ca := WebRTCPeerConnection.new()
			var cb := WebRTCPeerConnection.new()
			ca.initialize({"bindAddress": "127.0.0.1"})
			cb.initialize({"bindAddress": "127.0.0.1"})
			for link in [[ca, cb], [cb, ca]]:
				var from: WebRTCPeerConnection = link[0]
				var to: WebRTCPeerConnection = link[1]
				from.session_description_created.connect(func(t: String, s: String) -> void: to.set_remote_description(t, s))
				from.ice_candidate_created.connect(func(m: String, i: int, c: String) -> void: to.add_ice_candidate(m, i, c))
			peers[a].add_peer(ca, b + 1)
			peers[b].add_peer(cb, a + 1)
			cb.create_offer()
	var deadline := Time.get_ticks_msec() + 10000
	while true:
		var all := true
		for i in count:
			peers[i].poll()
			for j in count:
				if j != i and not peers[i].get_peer(j + 1).connected:
					all = false
		if all:
			return peers
		if Time.get_ticks_msec() > deadline:
			printerr("%s: %d peers did not connect" % [stack, count])
			return []
	return []


func _enet_peers(count: int) -> Array:
	var server := ENetMultiplayerPeer.new()
	var port := 27000 + randi() % 2000
	server.set_bind_ip("127.0.0.1")
	if server.create_server(port) != OK:
		printerr("ENet server could not start")
		return []
	var peers: Array = [server]
	# The server has registered every client once it announced them all.
	var registered := [0]
	server.peer_connected.connect(func(_id: int) -> void: registered[0] += 1)
	for i in count - 1:
		var client := ENetMultiplayerPeer.new()
		if client.create_client("127.0.0.1", port) != OK:
			printerr("ENet client could not start")
			return []
		peers.append(client)
	var deadline := Time.get_ticks_msec() + 10000
	while true:
		for peer in peers:
			peer.poll()
		var all := true
		for client in peers.slice(1):
			all = all and client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED
		all = all and registered[0] == count - 1
		if all:
			return [server, peers[1]] if count == 2 else peers
		if Time.get_ticks_msec() > deadline:
			printerr("ENet peers did not connect")
			return []
	return []


func _median(values: Array) -> float:
	if values.is_empty():
		return NAN
	var sorted := values.duplicate()
	sorted.sort()
	return sorted[sorted.size() / 2]


func _fmt(value: float) -> String:
	if is_nan(value):
		return "-"
	if absf(value) >= 100:
		return "%d" % roundi(value)
	return "%.1f" % value if absf(value) >= 10 else "%.2f" % value


func _report() -> void:
	print("Godot %s, %s, %d rounds, peers polled in a tight loop on loopback" % [Engine.get_version_info().string, OS.get_processor_name(), ROUNDS])
	print("| scenario | unit | %s | %s | %s | ours x ENet | built-in x ENet | target (x ENet) | met |" % STACKS)
	print("|---|---|---|---|---|---|---|---|---|")
	var report := {}
	for scenario in SCENARIOS:
		var name: String = scenario[0]
		var higher: bool = scenario[2]
		var target: float = scenario[3]
		var medians := {}
		for stack in STACKS:
			medians[stack] = _median(_results[name][stack])
		var enet: float = medians[ENET]
		var ours_ratio: float = medians[OURS] / enet
		var builtin_ratio: float = medians[BUILTIN] / enet
		var met: bool
		var target_text: String
		if target == INF:
			met = medians[OURS] <= MESH_SETUP_TARGET_MS
			target_text = "<= %d ms" % MESH_SETUP_TARGET_MS
		else:
			met = ours_ratio >= target if higher else ours_ratio <= target
			target_text = "%s %.1f" % [">=" if higher else "<=", target]
		print("| %s | %s | %s | %s | %s | %.2f | %.2f | %s | %s |" % [
			name, scenario[1], _fmt(medians[OURS]), _fmt(medians[BUILTIN]), _fmt(enet), ours_ratio, builtin_ratio,
			target_text, "yes" if met else "no"])
		report[name] = {}
		for stack in STACKS:
			report[name][stack] = {scenario[1]: medians[stack], "rounds": _results[name][stack]}
	var args := OS.get_cmdline_user_args()
	var at := args.find("--json")
	if at >= 0 and at + 1 < args.size():
		var file := FileAccess.open(args[at + 1], FileAccess.WRITE)
		if file:
			file.store_string(JSON.stringify(report, "  "))
			print("wrote %s" % args[at + 1])
