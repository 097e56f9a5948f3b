## A case whose branches hold a "World" and a MultiplayerSpawner of avatars that each carry a
## MultiplayerSynchronizer of their position; peer 1 (the first branch) has the authority.
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


## Gives `branch` its World and Spawner (kept as `world` and `spawner` metadata).
func add_world(branch: Node) -> void:
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


## The first branch spawns two avatars and moves them: every other branch must get both, then
## their positions, each within `timeout` seconds. Returns the avatars.
func spawn_and_sync(branches: Array[Node], timeout: float) -> Array:
	var authority: MultiplayerSpawner = branches[0].get_meta("spawner")
	var avatars := [authority.spawn(10), authority.spawn(20)]
	var spawned := func() -> bool:
		for i in range(1, branches.size()):
			if branches[i].get_meta("world").get_child_count() != 2:
				return false
		return true
	check(await wait_until(spawned, timeout), "every peer got both avatars")
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
	check(await wait_until(synced, timeout), "positions replicated to every peer")
	return avatars
