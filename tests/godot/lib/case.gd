## Base of every test case: checks that record failures, waiting on conditions while the
## SceneTree runs, and WebRTC peers whose signaling is relayed inside this process.
extends Node

const LOOPBACK := {"bindAddress": "127.0.0.1"}

var failures: Array[String] = []
var notes: Array[String] = []
## Set by `finish()`, the last line of every case: a GDScript runtime error ends a function
## early without failing it, so a case that did not get there has failed.
var finished := false


## Overridden by each case; awaited by the runner.
func run() -> void:
	pass


func finish() -> void:
	finished = true


func check(condition: bool, what: String) -> bool:
	if not condition:
		failures.append(what)
	return condition


func check_eq(actual, expected, what: String) -> bool:
	return check(actual == expected, "%s: expected %s, got %s" % [what, str(expected), str(actual)])


func note(line: String) -> void:
	notes.append(line)


## Waits, frame by frame, until `condition` returns true; false after `timeout` seconds.
func wait_until(condition: Callable, timeout: float) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		await get_tree().process_frame
	return true


func wait_frames(count: int) -> void:
	for i in count:
		await get_tree().process_frame


## A new peer connection on loopback whose descriptions and candidates go straight to `remote`
## once it is set with `link`. Like Godot's demos, the local description is also applied back.
func new_connection() -> WebRTCPeerConnection:
	var connection := WebRTCPeerConnection.new()
	var err := connection.initialize(LOOPBACK)
	check_eq(err, OK, "WebRTCPeerConnection.initialize")
	return connection


## Relays signaling between two connections, in both directions.
func link(a: WebRTCPeerConnection, b: WebRTCPeerConnection) -> void:
	_relay(a, b)
	_relay(b, a)


## The handlers hold the connections weakly: a connection holding a handler that holds it
## would never be freed.
func _relay(from: WebRTCPeerConnection, to: WebRTCPeerConnection) -> void:
	var source: WeakRef = weakref(from)
	var target: WeakRef = weakref(to)
	from.session_description_created.connect(func(type: String, sdp: String) -> void:
		if source.get_ref():
			source.get_ref().set_local_description(type, sdp)
		if target.get_ref():
			target.get_ref().set_remote_description(type, sdp))
	from.ice_candidate_created.connect(func(media: String, index: int, candidate: String) -> void:
		if target.get_ref():
			target.get_ref().add_ice_candidate(media, index, candidate))


## `count` multiplayer peers of `peer_class` joined in a full mesh and attached, each with its
## own SceneMultiplayer, to a child branch "P<id>" holding a copy of `game`'s scene. Returns the
## branches; each has `peer` and `game` metadata. The higher id makes each offer.
func make_mesh(peer_class: String, count: int, game: Script, channels: Array = []) -> Array[Node]:
	var branches: Array[Node] = []
	for id in range(1, count + 1):
		var peer: MultiplayerPeer = ClassDB.instantiate(peer_class)
		check_eq(peer.create_mesh(id, channels), OK, "create_mesh(%d)" % id)
		branches.append(_branch("P%d" % id, peer, game))
	for a in count:
		for b in range(a + 1, count):
			var ca := new_connection()
			var cb := new_connection()
			link(ca, cb)
			check_eq(branches[a].get_meta("peer").add_peer(ca, b + 1), OK, "add_peer")
			check_eq(branches[b].get_meta("peer").add_peer(cb, a + 1), OK, "add_peer")
			cb.create_offer()
	return branches


## A child node with its own SceneMultiplayer on `peer`, holding a "Game" node of `game` (if
## any); `peer` and `game` are kept as metadata.
func _branch(branch_name: String, peer: MultiplayerPeer, game: Script) -> Node:
	var branch := Node.new()
	branch.name = branch_name
	add_child(branch)
	var multiplayer_api := SceneMultiplayer.new()
	get_tree().set_multiplayer(multiplayer_api, branch.get_path())
	multiplayer_api.multiplayer_peer = peer
	branch.set_meta("peer", peer)
	if game != null:
		var node: Node = game.new()
		node.name = "Game"
		branch.add_child(node)
		branch.set_meta("game", node)
	return branch


## True once every branch sees all the others connected.
func all_connected(branches: Array[Node]) -> bool:
	for branch in branches:
		if branch.multiplayer.get_peers().size() != branches.size() - 1:
			return false
	return true


## Closes every peer, then frees what the branches hold while their SceneMultiplayer still
## tracks it, then detaches the SceneMultiplayer.
func close_all(branches: Array[Node]) -> void:
	for branch in branches:
		branch.multiplayer.multiplayer_peer.close()
	for branch in branches:
		for child in branch.get_children():
			child.free()
		get_tree().set_multiplayer(null, branch.get_path())


## A server (id 1) and clients with ids 2, 3, ...: each client connected to the server only.
## Branches are returned server first, with `peer` and `game` metadata as in `make_mesh`.
func make_star(clients: int, game: Script) -> Array[Node]:
	var branches: Array[Node] = []
	for id in range(1, clients + 2):
		var peer := WebRTCMultiplayerPeerExtension.new()
		check_eq(peer.create_server() if id == 1 else peer.create_client(id), OK, "create %d" % id)
		branches.append(_branch("S%d" % id, peer, game))
	for i in range(1, branches.size()):
		var to_server := new_connection()
		var to_client := new_connection()
		link(to_server, to_client)
		check_eq(branches[0].get_meta("peer").add_peer(to_client, i + 1), OK, "server add_peer")
		check_eq(branches[i].get_meta("peer").add_peer(to_server, 1), OK, "client add_peer")
		to_client.create_offer()
	return branches


## Every branch's "Game" (lib/mesh_game.gd) sends `count` reliable RPCs to all the others;
## checks that each branch got them all, from each of `senders` others, in order.
func check_reliable_rpcs(branches: Array[Node], count: int, senders: int) -> void:
	for branch in branches:
		for seq in count:
			branch.get_meta("game").on_reliable.rpc(seq)
	var delivered := func() -> bool:
		for branch in branches:
			var got: Dictionary = branch.get_meta("game").reliable
			if got.size() != senders:
				return false
			for sender in got:
				if got[sender].size() != count:
					return false
		return true
	check(await wait_until(delivered, 10.0), "every RPC arrived")
	for branch in branches:
		for sender in branch.get_meta("game").reliable:
			check_eq(branch.get_meta("game").reliable[sender], range(count), "%s: RPCs from %d in order" % [branch.name, sender])


## A child branch with its own SceneMultiplayer holding a "Game" node of `game` (kept as the
## `game` metadata) and `session`, bound to loopback: what a game writes to join a lobby.
func session_branch(branch_name: String, session: Node, game: Script) -> Node:
	var branch := Node.new()
	branch.name = branch_name
	add_child(branch)
	get_tree().set_multiplayer(SceneMultiplayer.new(), branch.get_path())
	var node: Node = game.new()
	node.name = "Game"
	branch.add_child(node)
	branch.set_meta("game", node)
	session.bind_address = "127.0.0.1"
	branch.add_child(session)
	return branch
