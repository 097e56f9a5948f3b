## MultiplayerSpawner and MultiplayerSynchronizer over a server/client star: the server spawns
## avatars and moves them; clients get the avatars and their positions.
extends "res://lib/case.gd"


func _make_avatar(data: Variant) -> Node:
	var avatar := Node2D.new()
	avatar.name = "Avatar%d" % int(data)
	avatar.position = Vector2(int(data), 0)
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
	var branches := make_star(2, null)
	for branch in branches:
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
	var ready := func() -> bool:
		return branches[0].multiplayer.get_peers().size() == 2
	if not check(await wait_until(ready, 15.0), "star did not connect"):
		close_all(branches)
		return
	var server_spawner: MultiplayerSpawner = branches[0].get_meta("spawner")
	var avatars := [server_spawner.spawn(10), server_spawner.spawn(20)]
	var spawned := func() -> bool:
		for i in range(1, branches.size()):
			if branches[i].get_meta("world").get_child_count() != 2:
				return false
		return true
	check(await wait_until(spawned, 5.0), "clients got both avatars")
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
	check(await wait_until(synced, 5.0), "positions replicated to both clients")
	# Despawn: freeing on the server removes it everywhere.
	avatars[0].queue_free()
	var despawned := func() -> bool:
		for i in range(1, branches.size()):
			if branches[i].get_meta("world").get_child_count() != 1:
				return false
		return true
	check(await wait_until(despawned, 5.0), "despawn replicated")
	close_all(branches)
	finish()
