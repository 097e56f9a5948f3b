## One player's avatar. Its owner moves it (arrow keys, or a random walk for bots); the
## MultiplayerSynchronizer made in world.gd carries its position to everyone else.
extends Node2D

const SPEED := 220.0
const RADIUS := 18.0

## Bounds of the play area.
var area := Rect2(40, 120, 880, 440)
## Whether a bot drives this avatar (random walk) instead of the keyboard.
var wander := false
## Set on copies owned by others when their position changes: their synchronizer works.
var moved_remotely := false

var _target := Vector2.ZERO
var _spawn_position := Vector2.ZERO


func _ready() -> void:
	_spawn_position = position
	_target = position


func _process(delta: float) -> void:
	if not is_multiplayer_authority():
		if position != _spawn_position:
			moved_remotely = true
		queue_redraw()
		return
	var direction := Vector2.ZERO
	if wander:
		if position.distance_to(_target) < 8.0:
			_target = Vector2(randf_range(area.position.x, area.end.x), randf_range(area.position.y, area.end.y))
		direction = position.direction_to(_target)
	else:
		direction = Input.get_vector("ui_left", "ui_right", "ui_up", "ui_down")
	position = (position + direction * SPEED * delta).clamp(area.position, area.end)
	queue_redraw()


func _draw() -> void:
	var id := get_multiplayer_authority()
	var color := Color.from_hsv(fmod(id * 0.618034, 1.0), 0.65, 0.95)
	draw_circle(Vector2.ZERO, RADIUS, color)
	if is_multiplayer_authority():
		draw_arc(Vector2.ZERO, RADIUS + 4.0, 0.0, TAU, 32, Color.WHITE, 2.0)
	draw_string(ThemeDB.fallback_font, Vector2(-RADIUS, -RADIUS - 6.0), str(id), HORIZONTAL_ALIGNMENT_LEFT, -1, 12)
