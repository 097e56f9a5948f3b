## The shared play area: one avatar per peer. The lobby's host (peer 1) spawns them with the
## MultiplayerSpawner; each avatar belongs to its player, whose MultiplayerSynchronizer moves it
## on every other screen.
##
## In a mesh the owner talks to everyone directly, so its position updates can reach a player
## before the host's spawn does. Each synchronizer therefore starts hidden and the owner shows it
## to a player once that player reports having the avatar (avatar_ready).
extends Node2D

const Avatar := preload("res://avatar.gd")

## Whether avatars this process owns walk at random (bots).
var wander := false

# Players who reported having this player's avatar before it arrived here.
var _early_viewers: Array[int] = []
# Owners of avatars that arrived here before the link to their owner was up.
var _unacknowledged: Array[int] = []

@onready var avatars: Node2D = $Avatars
@onready var spawner: MultiplayerSpawner = $Spawner


func _ready() -> void:
	spawner.spawn_function = _make_avatar
	multiplayer.peer_connected.connect(_on_peer_connected)
	multiplayer.peer_disconnected.connect(_on_peer_disconnected)


## Called once this process has its peer id: the host spawns its own avatar.
func start(own_id: int) -> void:
	if own_id == 1:
		spawner.spawn(1)


## Removes every avatar (after leaving a lobby).
func clear() -> void:
	_early_viewers.clear()
	_unacknowledged.clear()
	for avatar in avatars.get_children():
		avatar.queue_free()


## Avatars of other players whose movement arrived here.
func remote_avatars_moving() -> int:
	var count := 0
	for avatar in avatars.get_children():
		if avatar.moved_remotely:
			count += 1
	return count


func _on_peer_connected(id: int) -> void:
	if id in _unacknowledged:
		_unacknowledged.erase(id)
		avatar_ready.rpc_id(id)
	if multiplayer.get_unique_id() == 1 and not avatars.has_node(str(id)):
		spawner.spawn(id)


func _on_peer_disconnected(id: int) -> void:
	if multiplayer.get_unique_id() == 1:
		var avatar := avatars.get_node_or_null(str(id))
		if avatar:
			avatar.queue_free()


# Runs on every peer for every spawn, so the avatar is built the same way everywhere.
func _make_avatar(id: Variant) -> Node:
	var avatar := Avatar.new()
	avatar.name = str(id)
	avatar.position = Vector2(120 + (int(id) % 700), 300)
	avatar.wander = wander
	var sync := MultiplayerSynchronizer.new()
	sync.name = "Sync"
	var config := SceneReplicationConfig.new()
	config.add_property(NodePath(".:position"))
	config.property_set_spawn(NodePath(".:position"), true)
	config.property_set_replication_mode(NodePath(".:position"), SceneReplicationConfig.REPLICATION_MODE_ALWAYS)
	sync.replication_config = config
	sync.replication_interval = 0.05
	# The host's own avatar comes with its spawn, from the same peer: no race, no ack. (Its
	# synchronizer's visibility also decides where the spawn goes, so it must stay public.)
	sync.public_visibility = int(id) == 1
	avatar.add_child(sync)
	# The owner drives the avatar and its synchronizer.
	avatar.set_multiplayer_authority(int(id))
	if int(id) != multiplayer.get_unique_id():
		if int(id) != 1:
			avatar.ready.connect(_acknowledge.bind(int(id)), CONNECT_ONE_SHOT)
	else:
		for viewer in _early_viewers:
			sync.set_visibility_for(viewer, true)
		_early_viewers.clear()
	return avatar


func _acknowledge(owner_id: int) -> void:
	if owner_id in multiplayer.get_peers():
		avatar_ready.rpc_id(owner_id)
	else:
		_unacknowledged.append(owner_id)


## Sent to an avatar's owner by a player who now has that avatar.
@rpc("any_peer", "reliable")
func avatar_ready() -> void:
	var viewer := multiplayer.get_remote_sender_id()
	var avatar := avatars.get_node_or_null(str(multiplayer.get_unique_id()))
	if avatar:
		avatar.get_node("Sync").set_visibility_for(viewer, true)
	else:
		_early_viewers.append(viewer)
