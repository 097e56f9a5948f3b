## disconnect_peer, remove_peer and close, including the improvements over the built-in peer:
## close() tells the other peers, a failed client goes to CONNECTION_DISCONNECTED.
extends "res://lib/case.gd"

var left := {}


func run() -> void:
	var branches := make_mesh("WebRTCMultiplayerPeerExtension", 4, preload("res://lib/mesh_game.gd"))
	if not check(await wait_until(all_connected.bind(branches), 15.0), "mesh did not connect"):
		close_all(branches)
		return
	for branch in branches:
		var id: int = branch.get_meta("peer").get_unique_id()
		left[id] = []
		branch.multiplayer.peer_disconnected.connect(func(peer_id: int) -> void: left[id].append(peer_id))
	var p1: MultiplayerPeer = branches[0].get_meta("peer")

	# force = true: gone at once, no signal on this side.
	p1.disconnect_peer(2, true)
	check(not p1.has_peer(2), "forced disconnect removes at once")
	# force = false: reported on the next poll.
	p1.disconnect_peer(3, false)
	check(await wait_until(func() -> bool: return 3 in left[1], 3.0), "peer 3 reported after disconnect_peer(3, false)")
	check(not 2 in left[1], "forced disconnect emits nothing")
	check(await wait_until(func() -> bool: return 1 in left[2] and 1 in left[3], 3.0), "peers 2 and 3 see 1 leave")

	# close() tells everyone still connected.
	var started := Time.get_ticks_msec()
	branches[3].get_meta("peer").close()
	check(await wait_until(func() -> bool: return 4 in left[2] and 4 in left[3], 2.0), "close() seen by the others within 2 s")
	note("close() seen by the others after %d ms" % (Time.get_ticks_msec() - started))
	close_all(branches)

	# A client whose server link fails before opening goes to DISCONNECTED (connection_failed).
	var client := WebRTCMultiplayerPeerExtension.new()
	client.create_client(5)
	var api := SceneMultiplayer.new()
	var failed := [false]
	api.connection_failed.connect(func() -> void: failed[0] = true)
	var holder := Node.new()
	add_child(holder)
	get_tree().set_multiplayer(api, holder.get_path())
	api.multiplayer_peer = client
	var link := new_connection()
	client.add_peer(link, 1)
	link.close()
	check(await wait_until(func() -> bool: return failed[0], 3.0), "connection_failed fires")
	check_eq(client.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "client status")
	get_tree().set_multiplayer(null, holder.get_path())
	finish()
