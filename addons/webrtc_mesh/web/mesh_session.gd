## WebRTCMeshSession in GDScript, over Godot's built-in [WebRTCMultiplayerPeer] and
## [WebSocketPeer]: what [code]WebRTCMesh.new_session()[/code] returns where the extension is not
## loaded (web exports, where the browser's WebRTC does the work).
##
## Same properties, methods and signals as the extension's [code]WebRTCMeshSession[/code], and the
## same signaling protocol (Godot's WebRTC signaling demo), so a lobby mixes both kinds of player.
## What the web lacks: [member bind_address] and [member tls_ca_certificates] are the browser's
## business and ignored there, and the multiplayer peer is the built-in one (no stats, no
## [code]peer_timeout[/code], no network conditions).
extends Node

## In the lobby [code]lobby[/code] with id [code]peer_id[/code] (1 for the lobby's creator).
signal joined(lobby: String, peer_id: int)
## The server announced a peer; its connection is being set up.
signal peer_joined(peer_id: int)
## The server reported that a peer left the lobby.
signal peer_left(peer_id: int)
## The lobby's host sealed it: nobody else will join.
signal sealed
## Something failed: the message says what.
signal error(message: String)
## The signaling connection ended with this WebSocket code and reason.
signal closed(code: int, reason: String)

## The protocol's message types (the numbers are the demo's).
enum Kind { JOIN, ID, PEER_CONNECT, PEER_DISCONNECT, OFFER, ANSWER, CANDIDATE, SEAL }

## Signaling messages are SDP-sized; anything bigger is refused by the socket, so a server cannot
## make this peer buffer without bound.
const MAX_MESSAGE_BYTES := 256 * 1024
const MAX_QUEUED_MESSAGES := 256

## ICE servers for every connection, as in [method WebRTCPeerConnection.initialize].
var ice_servers: Array = []
## [code]"all"[/code], or [code]"relay"[/code] to use TURN relays only.
var ice_transport_policy := "all"
## Local address for the connections' sockets (native backends only); empty for every interface.
var bind_address := ""
## Extra certificate authorities (PEM) for [code]turns:[/code] relays (native backends only).
var tls_ca_certificates := ""
## Extra channels after the three default ones, as in [code]create_mesh[/code].
var channels_config: Array = []
## Whether the multiplayer peer becomes this node's [code]multiplayer.multiplayer_peer[/code].
var assign_multiplayer := true

var _socket: WebSocketPeer
var _opened := false
var _peer: WebRTCMultiplayerPeer
var _connections := {}
var _lobby := ""
var _unique_id := 0
var _create_mesh := true
## The lobby's mode, from the server: a mesh, or a star where clients connect to 1 only.
var _mesh := true
var _lobby_to_join := ""


func _process(_delta: float) -> void:
	poll()


func _exit_tree() -> void:
	leave()


## Connects to the signaling server at [param url] and joins [param lobby], or creates a new
## lobby when it is empty ([param mesh] picks a full mesh or a server/client star).
## [signal joined] follows. Returns [constant ERR_ALREADY_IN_USE] while a session is active.
func join(url: String, lobby: String = "", mesh: bool = true) -> Error:
	if _socket != null or _peer != null:
		return _refuse(ERR_ALREADY_IN_USE, "already in a session; call leave() first")
	if not (url.begins_with("ws://") or url.begins_with("wss://")):
		return _refuse(ERR_INVALID_PARAMETER, "%s is not a ws:// URL" % JSON.stringify(url))
	var socket := WebSocketPeer.new()
	socket.inbound_buffer_size = MAX_MESSAGE_BYTES
	socket.outbound_buffer_size = MAX_MESSAGE_BYTES
	socket.max_queued_packets = MAX_QUEUED_MESSAGES
	var err := socket.connect_to_url(url)
	if err != OK:
		return _refuse(err, "cannot connect to %s (%s)" % [url, error_string(err)])
	_socket = socket
	_opened = false
	_lobby_to_join = lobby
	_create_mesh = mesh
	return OK


## Leaves: closes the signaling connection and the multiplayer peer. When this session had
## assigned the peer to the branch's multiplayer, it gets an [OfflineMultiplayerPeer] instead.
func leave() -> void:
	if _socket != null:
		_socket.close()
		_socket = null
	if _peer != null:
		var peer := _peer
		_peer = null
		peer.close()
		if assign_multiplayer and is_inside_tree() and multiplayer.multiplayer_peer == peer:
			multiplayer.multiplayer_peer = OfflineMultiplayerPeer.new()
	_connections.clear()
	_lobby = ""
	_unique_id = 0


## Asks the server to seal the lobby (host only).
func seal() -> void:
	_send(Kind.SEAL, 0, "")


## The multiplayer peer; null until [signal joined].
func get_multiplayer_peer() -> WebRTCMultiplayerPeer:
	return _peer


## The lobby's name once joined, else empty.
func get_lobby() -> String:
	return _lobby


## This peer's id once joined, else 0.
func get_unique_id() -> int:
	return _unique_id


## Handles signaling now. Called every frame while in the tree.
func poll() -> void:
	if _socket == null:
		return
	_socket.poll()
	var state := _socket.get_ready_state()
	if state == WebSocketPeer.STATE_OPEN and not _opened:
		_opened = true
		_send(Kind.JOIN, 0 if _create_mesh else 1, _lobby_to_join)
	# Messages that arrived before a close are still handled, in order.
	while _socket != null and _socket.get_available_packet_count() > 0:
		_on_text(_socket.get_packet().get_string_from_utf8())
	if _socket != null and _socket.get_ready_state() == WebSocketPeer.STATE_CLOSED:
		var code := _socket.get_close_code()
		var reason := _socket.get_close_reason()
		_socket = null
		closed.emit(code, reason)


func _refuse(code: Error, why: String) -> Error:
	push_error("WebRTCMeshSession.join: " + why)
	return code


func _fail(message: String) -> void:
	push_error("WebRTCMeshSession: " + message)
	error.emit(message)


func _send(kind: Kind, id: int, data: String) -> void:
	if _socket != null and _socket.get_ready_state() == WebSocketPeer.STATE_OPEN:
		_socket.send_text(JSON.stringify({"type": kind, "id": id, "data": data}))


## Reads a message as the demo's server does: whole, non-negative type and id, string data.
func _on_text(text: String) -> void:
	var message = JSON.parse_string(text)
	if not (message is Dictionary and _is_whole(message.get("type")) and _is_whole(message.get("id"))):
		_fail("unreadable signaling message %s" % JSON.stringify(text.left(200)))
		return
	var data = message.get("data", "")
	if data == null:
		data = ""
	var kind := int(message["type"])
	if not data is String or kind > Kind.SEAL:
		_fail("unreadable signaling message %s" % JSON.stringify(text.left(200)))
		return
	_on_message(kind, int(message["id"]), data)


func _is_whole(value) -> bool:
	return (value is float or value is int) and value >= 0 and value == floor(value) and value < 2147483648


func _on_message(kind: int, id: int, data: String) -> void:
	match kind:
		Kind.ID:
			_start_peer(id, data == "true")
		Kind.JOIN:
			_lobby = data
			joined.emit(_lobby, _unique_id)
		Kind.PEER_CONNECT:
			_add_peer(id)
		Kind.PEER_DISCONNECT:
			_connections.erase(id)
			if _peer != null and _peer.has_peer(id):
				_peer.remove_peer(id)
			peer_left.emit(id)
		Kind.OFFER, Kind.ANSWER:
			if _connections.has(id):
				_connections[id].set_remote_description("offer" if kind == Kind.OFFER else "answer", data)
		Kind.CANDIDATE:
			if not _connections.has(id):
				return
			var parts := data.split("\n", false)
			if parts.size() != 3 or not parts[1].strip_edges().is_valid_int():
				_fail("peer %d sent a malformed candidate" % id)
				return
			_connections[id].add_ice_candidate(parts[0], parts[1].strip_edges().to_int(), parts[2])
		Kind.SEAL:
			sealed.emit()


## The server gave this peer its id: create the multiplayer peer in the lobby's mode.
func _start_peer(id: int, mesh: bool) -> void:
	if _peer != null:
		_fail("the server assigned a second id (%d)" % id)
		return
	var peer := WebRTCMultiplayerPeer.new()
	var err: Error
	if mesh:
		err = peer.create_mesh(id, channels_config)
	elif id == 1:
		err = peer.create_server(channels_config)
	else:
		err = peer.create_client(id, channels_config)
	if err != OK:
		_fail("could not start the multiplayer peer as %d" % id)
		return
	_unique_id = id
	_mesh = mesh
	_peer = peer
	if assign_multiplayer and is_inside_tree():
		multiplayer.multiplayer_peer = peer


## The server announced a peer: connect to it (in a star, clients only to the server).
func _add_peer(id: int) -> void:
	if _peer == null or _connections.has(id) or id == _unique_id:
		return
	if _unique_id != 1 and id != 1 and not _mesh:
		return
	var connection := WebRTCPeerConnection.new()
	var config := {"iceServers": ice_servers, "iceTransportPolicy": ice_transport_policy}
	if not bind_address.is_empty():
		config["bindAddress"] = bind_address
	if not tls_ca_certificates.is_empty():
		config["tlsCaCertificates"] = tls_ca_certificates
	if connection.initialize(config) != OK:
		_fail("could not create the connection to peer %d" % id)
		return
	connection.session_description_created.connect(_on_description.bind(id, weakref(connection)))
	connection.ice_candidate_created.connect(_on_candidate.bind(id))
	if _peer.add_peer(connection, id) != OK:
		_fail("could not add peer %d" % id)
		return
	_connections[id] = connection
	# The higher id of each pair makes the offer, as in Godot's demo.
	if id < _unique_id:
		var made := connection.create_offer()
		if made != OK:
			_fail("could not make an offer for peer %d: %s" % [id, error_string(made)])
	peer_joined.emit(id)


func _on_description(type: String, sdp: String, id: int, connection: WeakRef) -> void:
	# The browser's backend needs the local description set by the game, as in Godot's demo.
	if connection.get_ref() != null:
		connection.get_ref().set_local_description(type, sdp)
	_send(Kind.OFFER if type == "offer" else Kind.ANSWER, id, sdp)


func _on_candidate(media: String, index: int, candidate: String, id: int) -> void:
	_send(Kind.CANDIDATE, id, "\n%s\n%d\n%s" % [media, index, candidate])
