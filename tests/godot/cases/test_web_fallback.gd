## The GDScript session web exports use (addons/webrtc_mesh/web/mesh_session.gd, over Godot's
## built-in WebRTCMultiplayerPeer and WebSocketPeer; here the built-in peer runs on this addon's
## WebRTC backend) in one lobby with the extension's WebRTCMeshSession: a 4-peer mesh forms
## through the real signaling server, RPCs arrive in order both ways, a leaver is seen gone, and
## seal, close and refusals behave as the native session's do.
extends "res://lib/case.gd"

const MeshGame := preload("res://lib/mesh_game.gd")
const Fallback := preload("res://addons/webrtc_mesh/web/mesh_session.gd")

## Which sessions are the GDScript fallback: the lobby's creator and one joiner.
const FALLBACK := [true, false, true, false]


func run() -> void:
	# The factory a game calls gives the extension's class where it is loaded.
	check(WebRTCMesh.is_native(), "WebRTCMesh.is_native() with the extension loaded")
	var made := WebRTCMesh.new_session()
	check_eq(made.get_class(), "WebRTCMeshSession", "WebRTCMesh.new_session()")
	made.free()
	check(WebRTCMesh.new_multiplayer_peer() is WebRTCMultiplayerPeerExtension, "WebRTCMesh.new_multiplayer_peer()")

	var server := WebRTCSignalingServer.new()
	server.bind_address = "127.0.0.1"
	server.seal_close_time = 1.0
	check_eq(server.listen(0), OK, "listen(0)")
	var url := "ws://127.0.0.1:%d" % server.get_port()

	var sessions: Array[Node] = []
	var branches: Array[Node] = []
	for i in FALLBACK.size():
		var session: Node = Fallback.new() if FALLBACK[i] else WebRTCMeshSession.new()
		branches.append(session_branch("W%d" % (i + 1), session, MeshGame))
		sessions.append(session)

	# Refusals, with the native session's codes.
	check_eq(sessions[0].join("http://127.0.0.1:1"), ERR_INVALID_PARAMETER, "fallback: a non-ws URL")
	var lobby := [""]
	sessions[0].joined.connect(func(name: String, id: int) -> void:
		lobby[0] = name
		check_eq(id, 1, "the fallback creating the lobby is 1"))
	var start := Time.get_ticks_msec()
	check_eq(sessions[0].join(url), OK, "fallback creates a lobby")
	check_eq(sessions[0].join(url), ERR_ALREADY_IN_USE, "fallback: join twice")
	if not check(await wait_until(func() -> bool: return lobby[0] != "", 5.0), "lobby created"):
		return _end(server, sessions, branches)
	check_eq(sessions[0].get_lobby(), lobby[0], "fallback get_lobby")
	var joined_peers := []
	sessions[0].peer_joined.connect(func(id: int) -> void: joined_peers.append(id))
	for i in range(1, sessions.size()):
		check_eq(sessions[i].join(url, lobby[0]), OK, "join the lobby")
	if not check(await wait_until(_formed.bind(branches), 20.0), "native and fallback sessions formed a mesh"):
		return _end(server, sessions, branches)
	note("4-peer mesh, 2 GDScript fallback sessions and 2 native, formed in %d ms" % (Time.get_ticks_msec() - start))
	joined_peers.sort()
	var others_ids := branches[0].multiplayer.get_peers()
	others_ids.sort()
	check_eq(joined_peers, Array(others_ids), "peer_joined on the fallback")
	check(sessions[0].get_multiplayer_peer() is WebRTCMultiplayerPeer, "the fallback runs Godot's built-in peer")
	check(sessions[0].get_multiplayer_peer() == branches[0].multiplayer.multiplayer_peer, "fallback's peer assigned to its branch")
	for i in sessions.size():
		check_eq(branches[i].multiplayer.get_unique_id(), sessions[i].get_unique_id(), "unique id %d" % i)

	# RPCs flow both ways between the two kinds of session, in order.
	await check_reliable_rpcs(branches, 20, 3)

	# A fallback session leaves (its node is freed): the others see it go.
	var gone: int = sessions[2].get_unique_id()
	var left := []
	sessions[0].peer_left.connect(func(id: int) -> void: left.append(id))
	var left_at := Time.get_ticks_msec()
	sessions[2].queue_free()
	sessions.remove_at(2)
	var others: Array[Node] = [branches[0], branches[1], branches[3]]
	var seen := func() -> bool:
		for branch in others:
			if branch.multiplayer.get_peers().has(gone):
				return false
		return true
	check(await wait_until(seen, 5.0), "the others saw the fallback leaver go within 5 s")
	note("a leaving fallback session was seen gone after %d ms" % (Time.get_ticks_msec() - left_at))
	check(await wait_until(func() -> bool: return left.has(gone), 5.0), "peer_left on the fallback")

	# The fallback host seals the lobby: sealed, then the server closes the connection; a late
	# joiner is refused with the server's reason.
	var seal_events := []
	sessions[0].sealed.connect(func() -> void: seal_events.append("sealed"))
	sessions[0].closed.connect(func(code: int, reason: String) -> void: seal_events.append("%d %s" % [code, reason]))
	sessions[0].seal()
	check(await wait_until(func() -> bool: return not seal_events.is_empty(), 5.0), "sealed")
	var late: Node = Fallback.new()
	add_child(late)
	var refused := []
	late.closed.connect(func(code: int, reason: String) -> void: refused.append("%d %s" % [code, reason]))
	check_eq(late.join(url, lobby[0]), OK, "a late join is sent")
	check(await wait_until(func() -> bool: return not refused.is_empty(), 5.0), "a late join is closed")
	check_eq(refused, ["4000 Lobby is sealed"], "the late joiner's close")
	check_eq(late.get_unique_id(), 0, "the late joiner got no id")
	check(await wait_until(func() -> bool: return seal_events.size() >= 2, 5.0), "closed after the seal")
	check_eq(seal_events, ["sealed", "1000 Seal complete"], "the fallback host's seal")
	check_eq(branches[0].multiplayer.get_peers().size(), 2, "peers stay connected after the seal")
	late.free()
	_end(server, sessions, branches)


func _formed(branches: Array[Node]) -> bool:
	for branch in branches:
		if branch.multiplayer.get_peers().size() != branches.size() - 1:
			return false
	return true


func _end(server: WebRTCSignalingServer, sessions: Array[Node], branches: Array[Node]) -> void:
	for session in sessions:
		session.leave()
	server.stop()
	for branch in branches:
		for child in branch.get_children():
			child.free()
		get_tree().set_multiplayer(null, branch.get_path())
		branch.free()
	finish()
