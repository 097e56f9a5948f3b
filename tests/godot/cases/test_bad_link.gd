## A 4-peer WebRTCMultiplayerPeerExtension mesh on a bad link (50 ms each way, 5 ms jitter,
## 5% loss on every datagram each peer sends): reliable RPCs arrive once and in order, and a
## MultiplayerSpawner and MultiplayerSynchronizer keep working.
extends "res://lib/case.gd"

const PEERS := 4
const COUNT := 50


func _make_avatar(data: Variant) -> Node:
	var avatar := Node2D.new()
	avatar.name = "Avatar%d" % int(data)
	var sync := MultiplayerSynchronizer.new()
	sync.name = "Sync"
	var config := SceneReplicationConfig.new()
	config.add_property(NodePath(".:position"))
	config.property_set_spawn(NodePath(".:position"), true)
	config.property_set_replication_mode(NodePath(".:position"), SceneReplicationConfig.REPLICATION_MODE_ALWAYS)
	sync.replication_config = config
	sync.replication_interval = 0.0
	avatar.add_child(sync)
	return avatar


func run() -> void:
	var started := Time.get_ticks_msec()
	var branches := make_mesh("WebRTCMultiplayerPeerExtension", PEERS, preload("res://lib/mesh_game.gd"))
	for branch in branches:
		var peer: WebRTCMultiplayerPeerExtension = branch.get_meta("peer")
		peer.network_conditions = {"delay_ms": 50, "jitter_ms": 5, "loss": 0.05, "seed": peer.get_unique_id()}
		var world := Node.new()
		world.name = "World"
		branch.add_child(world)
		var spawner := MultiplayerSpawner.new()
		spawner.name = "Spawner"
		branch.add_child(spawner)
		spawner.spawn_path = spawner.get_path_to(world)
		spawner.spawn_function = _make_avatar
		branch.set_meta("world", world)
		branch.set_meta("spawner", spawner)
	if not check(await wait_until(all_connected.bind(branches), 30.0), "mesh did not connect on the bad link"):
		close_all(branches)
		return
	note("%d-peer mesh connected through 50 ms and 5%% loss in %d ms" % [PEERS, Time.get_ticks_msec() - started])

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
	var server_spawner: MultiplayerSpawner = branches[0].get_meta("spawner")
	var avatars := [server_spawner.spawn(10), server_spawner.spawn(20)]
	var spawned := func() -> bool:
		for i in range(1, branches.size()):
			if branches[i].get_meta("world").get_child_count() != 2:
				return false
		return true
	check(await wait_until(spawned, 15.0), "every peer got both avatars")
	avatars[0].position = Vector2(123, 45)
	avatars[1].position = Vector2(-7, 8)
	var synced := func() -> bool:
		for i in range(1, branches.size()):
			var world: Node = branches[i].get_meta("world")
			var a := world.get_node_or_null("Avatar10") as Node2D
			var b := world.get_node_or_null("Avatar20") as Node2D
			if a == null or b == null or a.position != Vector2(123, 45) or b.position != Vector2(-7, 8):
				return false
		return true
	check(await wait_until(synced, 15.0), "positions replicated to every peer")
	close_all(branches)
	finish()
