## network_conditions on WebRTCMultiplayerPeerExtension: a delay every packet meets, changed on
## a live mesh and turned off again; a bad dictionary is refused and changes nothing.
extends "res://lib/case.gd"


## Round trip of one packet from `a` to `b` and back, in milliseconds (-1 if lost).
func round_trip(a: MultiplayerPeer, b: MultiplayerPeer) -> float:
	var started := Time.get_ticks_usec()
	a.set_target_peer(2)
	a.put_packet("ping".to_utf8_buffer())
	var arrived := func() -> bool:
		a.poll()
		b.poll()
		return b.get_available_packet_count() > 0
	if not await wait_until(arrived, 5.0):
		return -1.0
	b.get_packet()
	b.set_target_peer(1)
	b.put_packet("pong".to_utf8_buffer())
	var back := func() -> bool:
		a.poll()
		b.poll()
		return a.get_available_packet_count() > 0
	if not await wait_until(back, 5.0):
		return -1.0
	a.get_packet()
	return (Time.get_ticks_usec() - started) / 1000.0


func run() -> void:
	var a := WebRTCMultiplayerPeerExtension.new()
	var b := WebRTCMultiplayerPeerExtension.new()
	check_eq(a.create_mesh(1), OK, "create_mesh 1")
	check_eq(b.create_mesh(2), OK, "create_mesh 2")
	a.network_conditions = {"delay_ms": 40}
	b.network_conditions = {"delay_ms": 40, "jitter_ms": 0, "loss": 0.0, "seed": 3}
	var link_a := new_connection()
	var link_b := new_connection()
	check_eq(a.add_peer(link_a, 2), OK, "add_peer 2")
	check_eq(b.add_peer(link_b, 1), OK, "add_peer 1")
	link(link_a, link_b)
	link_a.create_offer()
	var connected := func() -> bool:
		a.poll()
		b.poll()
		return a.get_peer(2).connected and b.get_peer(1).connected
	check(await wait_until(connected, 10.0), "connected through 40 ms each way")

	var delayed := await round_trip(a, b)
	note("round trip at 40 ms each way: %.1f ms" % delayed)
	check(delayed >= 80.0, "the delay is met both ways (%.1f ms)" % delayed)

	# Refused: unknown key, loss out of range. The conditions in force stay.
	a.network_conditions = {"latency": 100}
	a.network_conditions = {"loss": 2.0}
	check_eq(a.network_conditions, {"delay_ms": 40}, "a bad dictionary changes nothing")

	a.network_conditions = {}
	b.network_conditions = {}
	await round_trip(a, b)
	var quick := await round_trip(a, b)
	note("round trip with the conditions off: %.1f ms" % quick)
	check(quick >= 0.0 and quick < 40.0, "turned off on a live mesh (%.1f ms)" % quick)
	a.close()
	b.close()
	finish()
