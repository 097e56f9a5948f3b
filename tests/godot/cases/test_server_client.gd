## Server/client star: clients reach each other through the server (relay), learn of each other
## (peer exchange), and connected_to_server fires.
extends "res://lib/case.gd"


func run() -> void:
	var started := Time.get_ticks_msec()
	var branches := make_star(2, preload("res://lib/mesh_game.gd"))
	var connected := [0]
	for i in range(1, branches.size()):
		branches[i].multiplayer.connected_to_server.connect(func() -> void: connected[0] += 1)
	var ready := func() -> bool:
		return connected[0] == 2 and branches[0].multiplayer.get_peers().size() == 2 \
			and branches[1].multiplayer.get_peers().size() == 2 \
			and branches[2].multiplayer.get_peers().size() == 2
	if not check(await wait_until(ready, 15.0), "star did not form with peer exchange"):
		for branch in branches:
			note("%s sees %s" % [branch.name, str(branch.multiplayer.get_peers())])
		close_all(branches)
		return
	note("server + 2 clients connected with peer exchange in %d ms" % (Time.get_ticks_msec() - started))
	check(branches[0].get_meta("peer").is_server_relay_supported(), "relay supported (server)")
	check(branches[1].get_meta("peer").is_server_relay_supported(), "relay supported (client)")
	check_eq(Array(branches[1].multiplayer.get_peers()).has(3), true, "client 2 knows client 3")

	# Client 2 -> client 3 through the server, reliable and in order.
	var game2: Node = branches[1].get_meta("game")
	var game3: Node = branches[2].get_meta("game")
	for seq in 50:
		game2.on_reliable.rpc_id(3, seq)
	check(await wait_until(func() -> bool: return game3.reliable.get(2, []).size() == 50, 5.0), "relayed RPCs arrive")
	check_eq(game3.reliable.get(2, []), range(50), "relayed RPCs: sender id 2, all once, in order")
	check(not branches[0].get_meta("game").reliable.has(2), "the server only relays")
	close_all(branches)
	finish()
