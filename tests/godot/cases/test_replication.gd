## MultiplayerSpawner and MultiplayerSynchronizer over a server/client star: the server spawns
## avatars and moves them; clients get the avatars and their positions.
extends "res://lib/replication_case.gd"


func run() -> void:
	var branches := make_star(2, null)
	for branch in branches:
		add_world(branch)
	var ready := func() -> bool:
		return branches[0].multiplayer.get_peers().size() == 2
	if not check(await wait_until(ready, 15.0), "star did not connect"):
		close_all(branches)
		return
	var avatars := await spawn_and_sync(branches, 5.0)
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
