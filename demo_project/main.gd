## The demo's game logic: a WebRTCMeshSession that joins a lobby, chat over RPC, live link
## statistics, and a headless bot mode for scripts and tests. It makes the session through
## WebRTCMesh, so it also runs in a web export (with the GDScript session, without stats or an
## in-game signaling server).
##
## Bot mode (arguments after `--`):
##   --bot                     play without a window: join, walk at random, chat, then quit
##   --host                    create a lobby (otherwise join one)
##   --join CODE               the lobby to join
##   --lobby-file PATH         the host writes its lobby code here; joiners without --join read it
##   --url URL                 signaling server (default ws://127.0.0.1:9080)
##   --serve PORT              host only: run the signaling server inside this game on PORT
##   --star                    a server/client lobby instead of a mesh
##   --peers N                 players expected in the lobby (for mesh_formed_ms and the exit code)
##   --seconds S               how long to play (default 10)
##   --summary PATH            also write the summary there (rewritten every half second)
##   --bind ADDRESS            local address for WebRTC (e.g. 127.0.0.1)
## The bot prints one JSON line at the end: peer_id, connected_peers, chat_received, rtt_p50_ms
## and more; it exits with 1 when fewer than N-1 peers were connected at the end.
extends Node

## Something worth showing happened (joined, a peer came or went, an error).
signal status_changed(text: String)
## A chat line arrived (or was sent by this player).
signal chat_line(from: int, text: String)

const DEFAULT_URL := "ws://127.0.0.1:9080"

## A WebRTCMeshSession (or its GDScript twin in web exports).
var session: Node
## The signaling server (a WebRTCSignalingServer), when this game hosts it.
var server: RefCounted
## Latest round-trip time per peer, in milliseconds (-1 until measured).
var peer_rtt := {}
## Candidate type of each peer's selected path ("host", "srflx", "relay"...).
var peer_path := {}

var _options := {}
var _started_ms := 0
var _mesh_formed_ms := -1
var _chat_sent := 0
var _chat_received := 0
var _chat_from := {}
var _rtt_samples: Array[float] = []
var _peers_left: Array[Dictionary] = []
var _stats_timer := 0.0
var _chat_timer := 0.0

@onready var world: Node2D = $World
@onready var ui: CanvasLayer = $UI


func _ready() -> void:
	_options = _parse(OS.get_cmdline_user_args())
	session = WebRTCMesh.new_session()
	session.name = "Session"
	if _options.has("bind"):
		session.bind_address = _options["bind"]
	add_child(session)
	session.joined.connect(_on_joined)
	session.peer_joined.connect(func(id: int) -> void: status_changed.emit("peer %d is joining" % id))
	session.sealed.connect(func() -> void: status_changed.emit("the lobby is sealed"))
	session.error.connect(func(message: String) -> void: status_changed.emit("error: " + message))
	session.closed.connect(_on_closed)
	multiplayer.peer_connected.connect(_on_peer_connected)
	multiplayer.peer_disconnected.connect(_on_peer_disconnected)
	if _options.has("bot"):
		ui.visible = false
		world.wander = true
		_start_bot()
	else:
		ui.start(self)


## Creates a lobby on `url`; with `serve_port` > 0 this game also runs the signaling server.
func host(url: String, serve_port := 0, mesh := true) -> Error:
	if serve_port > 0 and server == null:
		if not ClassDB.class_exists(&"WebRTCSignalingServer"):
			status_changed.emit("this platform cannot run a signaling server: use one elsewhere")
			return ERR_UNAVAILABLE
		server = ClassDB.instantiate(&"WebRTCSignalingServer")
		var err: Error = server.listen(serve_port)
		if err != OK:
			server = null
			status_changed.emit("cannot run a signaling server on port %d" % serve_port)
			return err
	_started_ms = Time.get_ticks_msec()
	return session.join(url, "", mesh)


## Joins the lobby `code` on `url`.
func join(url: String, code: String) -> Error:
	_started_ms = Time.get_ticks_msec()
	return session.join(url, code)


## Leaves the lobby (and stops the signaling server this game ran).
func leave() -> void:
	session.leave()
	world.clear()
	peer_rtt.clear()
	peer_path.clear()
	if server:
		server.stop()
		server = null


## Sends a chat line to everyone, this player included.
func say(text: String) -> void:
	if text.strip_edges() != "" and multiplayer.has_multiplayer_peer():
		_chat_sent += 1
		chat.rpc(text.strip_edges().left(200))


@rpc("any_peer", "call_local", "reliable")
func chat(text: String) -> void:
	var from := multiplayer.get_remote_sender_id()
	if from != multiplayer.get_unique_id():
		_chat_received += 1
		_chat_from[from] = _chat_from.get(from, 0) + 1
	chat_line.emit(from, text)


func _process(delta: float) -> void:
	var peer: MultiplayerPeer = session.get_multiplayer_peer()
	if peer == null:
		return
	_stats_timer += delta
	if _stats_timer >= 0.5:
		_stats_timer = 0.0
		# Link statistics come from the extension's peer; the web's built-in one has none.
		for id in multiplayer.get_peers() if peer.has_method(&"get_peer_stats") else []:
			var stats: Dictionary = peer.call(&"get_peer_stats", id)
			var rtt: float = stats.get("round_trip_time", -1.0)
			peer_rtt[id] = rtt * 1000.0 if rtt >= 0.0 else -1.0
			peer_path[id] = stats.get("local_candidate_type", "")
			if rtt >= 0.0:
				_rtt_samples.append(rtt * 1000.0)
		if _options.has("summary"):
			_write_summary(false)
	if _options.has("bot") and not _options.has("done") and multiplayer.get_peers().size() > 0:
		_chat_timer += delta
		if _chat_timer >= 0.25:
			_chat_timer = 0.0
			say("hello #%d from %d" % [_chat_sent + 1, multiplayer.get_unique_id()])


func _on_joined(lobby: String, id: int) -> void:
	status_changed.emit("joined lobby %s as peer %d" % [lobby, id])
	if _options.has("lobby-file") and _options.has("host"):
		var file := FileAccess.open(_options["lobby-file"], FileAccess.WRITE)
		if file:
			file.store_string(lobby)
	world.start(id)


func _on_closed(code: int, reason: String) -> void:
	status_changed.emit("signaling closed (%d %s)" % [code, reason])


func _on_peer_connected(id: int) -> void:
	status_changed.emit("peer %d connected" % id)
	var expected := int(_options.get("peers", "0"))
	if _mesh_formed_ms < 0 and expected > 1 and multiplayer.get_peers().size() >= expected - 1:
		_mesh_formed_ms = Time.get_ticks_msec() - _started_ms


func _on_peer_disconnected(id: int) -> void:
	status_changed.emit("peer %d left" % id)
	peer_rtt.erase(id)
	peer_path.erase(id)
	_peers_left.append({"peer_id": id, "unix_ms": int(Time.get_unix_time_from_system() * 1000.0)})


func _start_bot() -> void:
	var url: String = _options.get("url", DEFAULT_URL)
	var err := OK
	if _options.has("host"):
		var port := int(_options.get("serve", "0"))
		if port > 0:
			url = "ws://127.0.0.1:%d" % port
		err = host(url, port, not _options.has("star"))
	else:
		var code: String = _options.get("join", "")
		if code == "" and _options.has("lobby-file"):
			code = await _read_lobby_file(_options["lobby-file"], 20.0)
		err = join(url, code)
	if err != OK:
		printerr("bot: cannot join: ", error_string(err))
		get_tree().quit(2)
		return
	await get_tree().create_timer(float(_options.get("seconds", "10"))).timeout
	var summary := _write_summary(true)
	print(JSON.stringify(summary))
	var expected := int(_options.get("peers", "0"))
	# Bots started together end within moments of each other: staying a little longer lets the
	# others take their summaries before this one leaves.
	_options.erase("summary")
	_options["done"] = true
	await get_tree().create_timer(1.5).timeout
	session.leave()
	get_tree().quit(0 if summary["connected_peers"].size() >= expected - 1 else 1)


func _summary() -> Dictionary:
	var peers := multiplayer.get_peers() if session.get_multiplayer_peer() else PackedInt32Array()
	var sorted := _rtt_samples.duplicate()
	sorted.sort()
	return {
		"peer_id": session.get_unique_id(),
		"lobby": session.get_lobby(),
		"connected_peers": Array(peers),
		"chat_sent": _chat_sent,
		"chat_received": _chat_received,
		"chat_senders": _chat_from.size(),
		"rtt_p50_ms": snappedf(sorted[sorted.size() / 2], 0.001) if sorted.size() > 0 else null,
		"mesh_formed_ms": _mesh_formed_ms if _mesh_formed_ms >= 0 else null,
		"avatars": world.avatars.get_child_count(),
		"remote_avatars_moving": world.remote_avatars_moving(),
		"peers_left": _peers_left,
	}


func _write_summary(final: bool) -> Dictionary:
	var summary := _summary()
	if _options.has("summary"):
		summary["final"] = final
		# Written whole under another name, then renamed: a reader never sees half a file.
		var path: String = _options["summary"]
		var file := FileAccess.open(path + ".part", FileAccess.WRITE)
		if file:
			file.store_string(JSON.stringify(summary))
			file.close()
			DirAccess.rename_absolute(path + ".part", path)
		summary.erase("final")
	return summary


func _read_lobby_file(path: String, timeout: float) -> String:
	var deadline := Time.get_ticks_msec() + int(timeout * 1000.0)
	while Time.get_ticks_msec() < deadline:
		if FileAccess.file_exists(path):
			var code := FileAccess.get_file_as_string(path).strip_edges()
			if code != "":
				return code
		await get_tree().create_timer(0.05).timeout
	return ""


static func _parse(args: PackedStringArray) -> Dictionary:
	var options := {}
	var i := 0
	while i < args.size():
		var arg := args[i]
		if arg.begins_with("--"):
			var key := arg.substr(2)
			if key in ["bot", "host", "star"]:
				options[key] = true
			elif i + 1 < args.size():
				options[key] = args[i + 1]
				i += 1
		i += 1
	return options
