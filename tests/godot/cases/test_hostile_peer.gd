## A peer that opens channels of its own, sends too many candidates or too large a description:
## the multiplayer peer closes in-band channels and keeps its own, the backend answers limits
## with ERR_PARAMETER_RANGE_ERROR.
extends "res://lib/case.gd"


func run() -> void:
	# The victim: a mesh member with the attacker as peer 2.
	var victim := WebRTCMultiplayerPeerExtension.new()
	check_eq(victim.create_mesh(1), OK, "create_mesh")
	var victim_link := new_connection()
	check_eq(victim.add_peer(victim_link, 2), OK, "add_peer")
	# The attacker speaks Godot's layout, and opens two channels of its own besides.
	var attacker := new_connection()
	var reliable: WebRTCDataChannel = attacker.create_data_channel("reliable", {"negotiated": true, "id": 1})
	attacker.create_data_channel("ordered", {"negotiated": true, "id": 2, "maxPacketLifeTime": 1})
	attacker.create_data_channel("unreliable", {"negotiated": true, "id": 3, "ordered": false, "maxPacketLifeTime": 1})
	var extra: Array[WebRTCDataChannel] = [
		attacker.create_data_channel("extra1", {}),
		attacker.create_data_channel("extra2", {}),
	]
	var announced := [0]
	victim_link.data_channel_received.connect(func(_channel) -> void: announced[0] += 1)
	link(attacker, victim_link)
	attacker.create_offer()
	var closed := func() -> bool:
		attacker.poll()
		victim.poll()
		for channel in extra:
			if channel.get_ready_state() != WebRTCDataChannel.STATE_CLOSED:
				return false
		return victim.get_peer(2).connected
	check(await wait_until(closed, 10.0), "in-band channels closed, the layout's connected")
	check_eq(announced[0], 0, "no in-band channel reaches the script")
	check_eq(reliable.put_packet("still here".to_utf8_buffer()), OK, "send on the layout")
	var received := func() -> bool:
		attacker.poll()
		victim.poll()
		return victim.get_available_packet_count() > 0
	if check(await wait_until(received, 5.0), "the layout's channels carry data"):
		check_eq(victim.get_packet().get_string_from_utf8(), "still here", "packet")
	victim.close()
	attacker.close()

	# Limits of the backend.
	var offerer := new_connection()
	offerer.create_data_channel("c", {"negotiated": true, "id": 1})
	var offers := []
	offerer.session_description_created.connect(func(type: String, sdp: String) -> void: offers.append(sdp))
	offerer.create_offer()
	offerer.poll()
	if not check_eq(offers.size(), 1, "an offer"):
		finish()
		return
	var answerer := new_connection()
	var huge: String = offers[0]
	while huge.length() <= 48 * 1024:
		huge += "a=x-padding:0123456789abcdef0123456789abcdef\r\n"
	check_eq(answerer.set_remote_description("offer", huge), ERR_PARAMETER_RANGE_ERROR, "description over 48 KiB")
	check_eq(answerer.set_remote_description("offer", offers[0]), OK, "the real offer still applies")
	var codes := {}
	for i in 65:
		var line := "candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host" % [i, 20000 + i]
		var code := answerer.add_ice_candidate("0", 0, line)
		codes[code] = codes.get(code, 0) + 1
	check_eq(codes, {OK: 64, ERR_PARAMETER_RANGE_ERROR: 1}, "64 candidates taken, the 65th refused")
	offerer.close()
	answerer.close()
	finish()
