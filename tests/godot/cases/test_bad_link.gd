## A 4-peer WebRTCMultiplayerPeerExtension mesh on a bad link (100 ms each way, 10 ms jitter,
## 5% loss on every datagram each peer sends): reliable RPCs arrive once and in order, and a
## MultiplayerSpawner and MultiplayerSynchronizer keep working.
extends "res://lib/replication_case.gd"

const PEERS := 4
const COUNT := 50


func run() -> void:
	var started := Time.get_ticks_msec()
	var branches := make_mesh("WebRTCMultiplayerPeerExtension", PEERS, preload("res://lib/mesh_game.gd"))
	for branch in branches:
		var peer: WebRTCMultiplayerPeerExtension = branch.get_meta("peer")
		peer.network_conditions = {"delay_ms": 100, "jitter_ms": 10, "loss": 0.05, "seed": peer.get_unique_id()}
		add_world(branch)
	if not check(await wait_until(all_connected.bind(branches), 30.0), "mesh did not connect on the bad link"):
		close_all(branches)
		return
	note("%d-peer mesh connected through 100 ms and 5%% loss in %d ms" % [PEERS, Time.get_ticks_msec() - started])

	started = Time.get_ticks_msec()
	for seq in COUNT:
		for branch in branches:
			branch.get_meta("game").on_reliable.rpc(seq)
		await get_tree().process_frame
	var delivered := func() -> bool:
		for branch in branches:
			var game: Node = branch.get_meta("game")
			for sender in range(1, PEERS + 1):
				if sender != branch.get_meta("peer").get_unique_id() and game.reliable.get(sender, []).size() < COUNT:
					return false
		return true
	check(await wait_until(delivered, 30.0), "reliable RPCs did not all arrive")
	note("%d reliable RPCs from each peer to each arrived in %d ms" % [COUNT, Time.get_ticks_msec() - started])
	var expected := range(COUNT)
	for branch in branches:
		var me: int = branch.get_meta("peer").get_unique_id()
		var game: Node = branch.get_meta("game")
		for sender in range(1, PEERS + 1):
			if sender != me:
				check_eq(game.reliable.get(sender, []), expected, "reliable %d->%d, all once in order" % [sender, me])

	# Peer 1 (the spawners' authority) spawns two avatars and moves them.
	await spawn_and_sync(branches, 15.0)
	close_all(branches)
	finish()
