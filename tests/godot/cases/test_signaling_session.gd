## A WebRTCSignalingServer in this process and four WebRTCMeshSession nodes, each in its own
## branch with its own SceneMultiplayer: they form a mesh through the real signaling server,
## RPCs flow, and a session that leaves is seen gone by the others.
extends "res://lib/case.gd"

const MeshGame := preload("res://lib/mesh_game.gd")


func run() -> void:
	var server := WebRTCSignalingServer.new()
	server.bind_address = "127.0.0.1"
	check_eq(server.listen(0), OK, "listen(0)")
	check(server.is_listening() and server.get_port() > 0, "listening on a free port")
	check_eq(server.listen(0), ERR_ALREADY_IN_USE, "listen twice")
	var url := "ws://127.0.0.1:%d" % server.get_port()

	var start := Time.get_ticks_msec()
	var sessions: Array[WebRTCMeshSession] = []
	var branches: Array[Node] = []
	for i in 4:
		# What a game writes: a session node, joined to a lobby.
		var session := WebRTCMeshSession.new()
		branches.append(session_branch("M%d" % (i + 1), session, MeshGame))
		sessions.append(session)

	check_eq(sessions[0].join("http://127.0.0.1:1"), ERR_INVALID_PARAMETER, "a non-ws URL")
	var lobby := [""]
	sessions[0].joined.connect(func(name: String, id: int) -> void:
		lobby[0] = name
		check_eq(id, 1, "the lobby's creator is 1"))
	check_eq(sessions[0].join(url), OK, "create a lobby")
	check_eq(sessions[0].join(url), ERR_ALREADY_IN_USE, "join twice")
	if not check(await wait_until(func() -> bool: return lobby[0] != "", 5.0), "lobby created"):
		return _end(server, sessions, branches)
	check_eq(sessions[0].get_lobby(), lobby[0], "get_lobby")
	note("lobby created after %d ms" % (Time.get_ticks_msec() - start))
	for i in range(1, 4):
		check_eq(sessions[i].join(url, lobby[0]), OK, "join the lobby")
	var formed := func() -> bool:
		for branch in branches:
			if branch.multiplayer.get_peers().size() != 3:
				return false
		return true
	if not check(await wait_until(formed, 20.0), "four sessions formed a mesh"):
		return _end(server, sessions, branches)
	note("4-peer mesh through WebRTCSignalingServer formed in %d ms" % (Time.get_ticks_msec() - start))
	check_eq(server.get_connection_count(), 4, "server connections")
	check_eq(server.get_lobby_count(), 1, "server lobbies")
	check(sessions[0].get_multiplayer_peer() == branches[0].multiplayer.multiplayer_peer, "peer assigned to the branch")
	for i in 4:
		check_eq(branches[i].multiplayer.get_unique_id(), sessions[i].get_unique_id(), "unique id %d" % i)

	# RPCs flow over the mesh the sessions built.
	await check_reliable_rpcs(branches, 20, 3)

	# One session leaves (its node is freed): the others see it go.
	var gone := sessions[3].get_unique_id()
	var left := []
	sessions[0].peer_left.connect(func(id: int) -> void: left.append(id))
	var left_at := Time.get_ticks_msec()
	sessions[3].queue_free()
	sessions.remove_at(3)
	var seen := func() -> bool:
		for i in 3:
			if branches[i].multiplayer.get_peers().has(gone):
				return false
		return true
	check(await wait_until(seen, 5.0), "the others saw the leaver go within 5 s")
	note("a leaving session was seen gone after %d ms" % (Time.get_ticks_msec() - left_at))
	check(await wait_until(func() -> bool: return left.has(gone), 5.0), "peer_left from the server")
	check(await wait_until(func() -> bool: return server.get_connection_count() == 3, 5.0), "the server let it go")
	_end(server, sessions, branches)


func _end(server: WebRTCSignalingServer, sessions: Array[WebRTCMeshSession], branches: Array[Node]) -> void:
	for session in sessions:
		session.leave()
	server.stop()
	check(not server.is_listening(), "stopped")
	for branch in branches:
		for child in branch.get_children():
			child.free()
		get_tree().set_multiplayer(null, branch.get_path())
	finish()
