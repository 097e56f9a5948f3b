## The demo's screens: the lobby screen (host, or join by code) and the in-game overlay (lobby
## code, peers with live round-trip time, chat). Built in code so every control is in one place.
extends CanvasLayer

var _main: Node
var _lobby_screen: PanelContainer
var _game_screen: Control
var _url: LineEdit
var _serve: CheckBox
var _code: LineEdit
var _status: Label
var _lobby_label: Label
var _peers: ItemList
var _chat_log: RichTextLabel
var _chat_input: LineEdit
var _refresh := 0.0


## Shows the lobby screen; `main` is the node running the session (main.gd).
func start(main: Node) -> void:
	_main = main
	_build_lobby_screen()
	_build_game_screen()
	_show_lobby()
	main.status_changed.connect(_on_status)
	main.chat_line.connect(_on_chat_line)
	main.session.joined.connect(_on_joined)
	main.session.closed.connect(func(_code: int, _reason: String) -> void: _show_lobby())


func _process(delta: float) -> void:
	if _main == null or not _game_screen.visible:
		return
	_refresh += delta
	if _refresh < 0.5:
		return
	_refresh = 0.0
	_peers.clear()
	for id in _main.multiplayer.get_peers():
		var rtt: float = _main.peer_rtt.get(id, -1.0)
		var rtt_text := "%.1f ms" % rtt if rtt >= 0.0 else "measuring..."
		_peers.add_item("peer %d   %s   %s" % [id, rtt_text, _main.peer_path.get(id, "")])


func _build_lobby_screen() -> void:
	_lobby_screen = PanelContainer.new()
	_lobby_screen.set_anchors_and_offsets_preset(Control.PRESET_CENTER)
	_lobby_screen.custom_minimum_size = Vector2(420, 0)
	add_child(_lobby_screen)
	var box := VBoxContainer.new()
	box.add_theme_constant_override("separation", 10)
	_lobby_screen.add_child(box)
	var title := Label.new()
	title.text = "webrtc_mesh demo"
	title.horizontal_alignment = HORIZONTAL_ALIGNMENT_CENTER
	box.add_child(title)
	box.add_child(_label("Signaling server"))
	_url = LineEdit.new()
	_url.text = _main.DEFAULT_URL
	box.add_child(_url)
	_serve = CheckBox.new()
	_serve.text = "Run the signaling server in this game (hosting only)"
	_serve.button_pressed = true
	box.add_child(_serve)
	var host := Button.new()
	host.text = "Host a new lobby"
	host.pressed.connect(_on_host)
	box.add_child(host)
	box.add_child(HSeparator.new())
	box.add_child(_label("Lobby code"))
	var row := HBoxContainer.new()
	box.add_child(row)
	_code = LineEdit.new()
	_code.placeholder_text = "code from the host"
	_code.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_code.text_submitted.connect(func(_t: String) -> void: _on_join())
	row.add_child(_code)
	var join := Button.new()
	join.text = "Join"
	join.pressed.connect(_on_join)
	row.add_child(join)
	_status = Label.new()
	_status.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	box.add_child(_status)


func _build_game_screen() -> void:
	_game_screen = Control.new()
	_game_screen.set_anchors_and_offsets_preset(Control.PRESET_FULL_RECT)
	_game_screen.mouse_filter = Control.MOUSE_FILTER_IGNORE
	add_child(_game_screen)
	var top := HBoxContainer.new()
	top.position = Vector2(12, 8)
	_game_screen.add_child(top)
	_lobby_label = Label.new()
	top.add_child(_lobby_label)
	var leave := Button.new()
	leave.text = "Leave"
	leave.pressed.connect(func() -> void:
		_main.leave()
		_show_lobby())
	top.add_child(leave)
	var hint := Label.new()
	hint.text = "   arrow keys move your avatar"
	top.add_child(hint)
	_peers = ItemList.new()
	_peers.position = Vector2(700, 40)
	_peers.size = Vector2(250, 160)
	_peers.focus_mode = Control.FOCUS_NONE
	_game_screen.add_child(_peers)
	_chat_log = RichTextLabel.new()
	_chat_log.position = Vector2(12, 440)
	_chat_log.size = Vector2(500, 110)
	_chat_log.scroll_following = true
	_game_screen.add_child(_chat_log)
	_chat_input = LineEdit.new()
	_chat_input.position = Vector2(12, 556)
	_chat_input.size = Vector2(500, 32)
	_chat_input.placeholder_text = "chat (Enter sends)"
	_chat_input.text_submitted.connect(func(text: String) -> void:
		_main.say(text)
		_chat_input.clear())
	_game_screen.add_child(_chat_input)


func _label(text: String) -> Label:
	var label := Label.new()
	label.text = text
	return label


func _show_lobby() -> void:
	_lobby_screen.visible = true
	_game_screen.visible = false


func _on_host() -> void:
	var url := _url.text.strip_edges()
	var port := 0
	if _serve.button_pressed:
		port = int(url.get_slice(":", 2).get_slice("/", 0))
		if port <= 0:
			_status.text = "the URL needs a port to run the server on, e.g. ws://127.0.0.1:9080"
			return
	var err: Error = _main.host(url, port)
	_status.text = "connecting..." if err == OK else "cannot host: %s" % error_string(err)


func _on_join() -> void:
	var err: Error = _main.join(_url.text.strip_edges(), _code.text.strip_edges())
	_status.text = "connecting..." if err == OK else "cannot join: %s" % error_string(err)


func _on_joined(lobby: String, id: int) -> void:
	_lobby_label.text = "Lobby %s (share this code)   you are peer %d" % [lobby, id]
	_lobby_screen.visible = false
	_game_screen.visible = true


func _on_status(text: String) -> void:
	_status.text = text
	if _chat_log:
		_chat_log.append_text("[i]%s[/i]\n" % text)


func _on_chat_line(from: int, text: String) -> void:
	_chat_log.append_text("[b]%d:[/b] %s\n" % [from, text.replace("[", "[lb]")])
