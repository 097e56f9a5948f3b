## Every error code of the contract's tables, from GDScript, with nothing crashing.
extends "res://lib/case.gd"


func run() -> void:
	var peer := WebRTCMultiplayerPeerExtension.new()
	var fresh := new_connection()
	# Not created yet.
	check_eq(peer.add_peer(fresh, 2), ERR_UNCONFIGURED, "add_peer before create_*")
	check_eq(peer.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "status before create_*")
	check_eq(peer.put_packet(PackedByteArray([1])), ERR_UNCONFIGURED, "put_packet before create_*")

	# create_* argument checks.
	check_eq(peer.create_client(1), ERR_INVALID_PARAMETER, "create_client(1)")
	check_eq(peer.create_mesh(0), ERR_INVALID_PARAMETER, "create_mesh(0)")
	check_eq(peer.create_mesh(2147483648), ERR_INVALID_PARAMETER, "create_mesh(2^31)")
	check_eq(peer.create_mesh(5, ["x"]), ERR_INVALID_PARAMETER, "non-int channels_config")
	check_eq(peer.create_mesh(5, [7]), ERR_INVALID_PARAMETER, "unknown transfer mode in channels_config")
	check_eq(peer.create_mesh(2147483647), OK, "create_mesh(2^31-1)")
	check_eq(peer.get_unique_id(), 2147483647, "unique id")
	check(not peer.is_server_relay_supported(), "no relay in mesh mode")

	# Client mode: only the server may be added.
	check_eq(peer.create_client(7), OK, "create_client(7)")
	check_eq(peer.get_connection_status(), MultiplayerPeer.CONNECTION_CONNECTING, "client connecting")
	check(peer.is_server_relay_supported(), "relay in client mode")
	check_eq(peer.add_peer(fresh, 2), ERR_INVALID_PARAMETER, "client adds id 2")

	# Server mode, in the contract's order.
	check_eq(peer.create_server(), OK, "create_server")
	check_eq(peer.get_connection_status(), MultiplayerPeer.CONNECTION_CONNECTED, "server connected at once")
	check_eq(peer.get_unique_id(), 1, "server id")
	check_eq(peer.add_peer(fresh, 1), ERR_INVALID_PARAMETER, "server adds id 1")
	check_eq(peer.add_peer(fresh, 0), ERR_INVALID_PARAMETER, "id 0")
	check_eq(peer.add_peer(fresh, 2147483648), ERR_INVALID_PARAMETER, "id 2^31")
	check_eq(peer.add_peer(fresh, 2, -1), ERR_INVALID_PARAMETER, "negative lifetime")
	peer.refuse_new_connections = true
	check_eq(peer.add_peer(fresh, 2), ERR_UNAUTHORIZED, "refusing new connections")
	peer.refuse_new_connections = false
	check_eq(peer.add_peer(null, 2), ERR_INVALID_PARAMETER, "null peer")
	check_eq(peer.add_peer(fresh, 2), OK, "add_peer")
	check_eq(peer.add_peer(new_connection(), 2), ERR_ALREADY_EXISTS, "duplicate id is refused")
	check(peer.has_peer(2), "has_peer(2)")
	var info: Dictionary = peer.get_peer(2)
	check_eq(info.keys(), ["connection", "channels", "connected"], "get_peer keys")
	check(info.connection == fresh, "get_peer(2).connection is the connection added")
	check_eq(info.channels.size(), 3, "three channels")
	check_eq(info.connected, false, "not connected yet")
	check_eq(peer.get_peers().keys(), [2], "get_peers")
	var labels := []
	for channel in info.channels:
		labels.append([channel.get_label(), channel.get_id(), channel.is_negotiated(), channel.is_ordered()])
	check_eq(labels, [["reliable", 1, true, true], ["ordered", 2, true, true], ["unreliable", 3, true, false]], "channel layout")
	check_eq(info.channels[1].get_max_packet_life_time(), 1, "lifetime applied")

	# A connection that is no longer new.
	var used := new_connection()
	used.create_data_channel("x", {"negotiated": true, "id": 9})
	used.close()
	check_eq(peer.add_peer(used, 3), ERR_INVALID_PARAMETER, "closed connection")

	# Sending: unknown peer, channel too high, peer not connected yet.
	peer.set_target_peer(99)
	check_eq(peer.put_packet(PackedByteArray([1])), ERR_INVALID_PARAMETER, "unknown target")
	peer.set_target_peer(2)
	peer.transfer_channel = 5
	check_eq(peer.put_packet(PackedByteArray([1])), ERR_INVALID_PARAMETER, "channel too high")
	peer.transfer_channel = 0
	check(peer.put_packet(PackedByteArray([1])) != OK, "peer whose channels are not open")
	peer.set_target_peer(0)
	check_eq(peer.put_packet(PackedByteArray([1])), OK, "broadcast skips peers not open yet")
	check_eq(peer.get_available_packet_count(), 0, "nothing received")
	check(peer.get_packet().is_empty(), "get_packet with nothing waiting")

	# Malformed signaling on the backend.
	var c := new_connection()
	check_eq(c.set_remote_description("offer", "not sdp"), ERR_INVALID_PARAMETER, "malformed SDP")
	check_eq(c.set_remote_description("bogus", "v=0"), ERR_INVALID_PARAMETER, "unknown SDP type")
	check_eq(c.add_ice_candidate("0", 0, "candidate:garbage"), ERR_INVALID_PARAMETER, "malformed candidate")
	check_eq(c.initialize({"iceServers": [{"urls": ["http://x"]}]}), ERR_INVALID_PARAMETER, "bad ICE URL")
	check_eq(c.initialize({"iceServers": [{"urls": "turn:127.0.0.1"}]}), ERR_INVALID_PARAMETER, "TURN without credential")
	check_eq(c.initialize({"iceTransportPolicy": "some"}), ERR_INVALID_PARAMETER, "bad transport policy")
	var tls_turn := {"urls": ["turns:127.0.0.1:5349"], "username": "u", "credential": "p"}
	check_eq(c.initialize({"iceServers": [{"urls": ["turns:127.0.0.1?transport=udp"], "username": "u", "credential": "p"}]}), ERR_INVALID_PARAMETER, "TURN over DTLS")
	check_eq(c.initialize({"iceServers": [tls_turn], "tlsCaCertificates": 5}), ERR_INVALID_PARAMETER, "CA certificates of the wrong type")
	# Godot's system authorities are added for turns: servers; nothing listens on the port, so
	# the relay is simply never used.
	check_eq(c.initialize({"iceServers": [tls_turn]}), OK, "TURN over TLS")
	c = new_connection()
	check(c.create_data_channel("x", {"maxPacketLifeTime": 5, "maxRetransmits": 2}) == null, "both reliability limits")
	check(c.create_data_channel("x", {"negotiated": true}) == null, "negotiated without id")
	var ch := c.create_data_channel("x", {"negotiated": true, "id": 4})
	check(ch != null, "valid channel")
	check_eq(ch.get_ready_state(), WebRTCDataChannel.STATE_CONNECTING, "channel connecting")
	check(ch.put_packet(PackedByteArray([1])) != OK, "put_packet on a channel not open")

	# Removal and close.
	peer.remove_peer(2)
	check(not peer.has_peer(2), "removed")
	peer.remove_peer(2)  # unknown: an error message, nothing else
	peer.close()
	check_eq(peer.get_unique_id(), 0, "id 0 after close")
	check_eq(peer.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "disconnected after close")
	check_eq(peer.add_peer(new_connection(), 2), ERR_UNCONFIGURED, "add_peer after close")
	finish()
