## Wrongly typed or missing arguments from GDScript, through untyped calls as scripts make them:
## every method of the three classes refuses them, the engine keeps running, and nothing queued
## is lost.
extends "res://lib/case.gd"

## Values of every kind a script could pass by mistake.
var JUNK := [null, "text", 3.5, -1, 1 << 40, [], {}, PackedByteArray([1, 2]), Vector2.ONE, true]

## Calls that some junk values make valid, and that would rightly end or reset the test's link
## (`create_server([])`, `initialize({})`), take a queued packet (`get_var(true)`), or change
## the engine's default backend.
const LEGITIMATE_WITH_JUNK := ["close", "remove_peer", "disconnect_peer", "create_server", "create_client", "create_mesh", "initialize", "create_offer", "set_default_extension", "get_var"]


func run() -> void:
	var a := WebRTCMultiplayerPeerExtension.new()
	var b := WebRTCMultiplayerPeerExtension.new()
	check_eq(a.create_mesh(1), OK, "create_mesh(1)")
	check_eq(b.create_mesh(2), OK, "create_mesh(2)")
	var ca := new_connection()
	var cb := new_connection()
	link(ca, cb)
	check_eq(a.add_peer(ca, 2), OK, "add_peer")
	check_eq(b.add_peer(cb, 1), OK, "add_peer")
	cb.create_offer()
	var connected := func() -> bool:
		a.poll()
		b.poll()
		return a.get_peer(2).get("connected", false) and b.get_peer(1).get("connected", false)
	if not check(await wait_until(connected, 10.0), "pair connected"):
		finish()
		return

	# Ten packets wait at `a` while the junk flies.
	b.set_target_peer(1)
	for i in 10:
		b.put_packet(PackedByteArray([i]))
	check(await wait_until(func() -> bool:
		a.poll()
		return a.get_available_packet_count() == 10, 5.0), "10 packets queued")

	var calls := 0
	var channel: WebRTCDataChannel = a.get_peer(2).channels[0]
	for target in [a, ca, channel]:
		for method in target.get_method_list():
			var name: String = method.name
			if not _reached_through(target, name) or name in LEGITIMATE_WITH_JUNK:
				continue
			var argc: int = method.args.size()
			# Methods without parameters would really run: only the surplus argument case.
			if argc > 0:
				for junk in JUNK:
					var args := []
					for i in argc:
						args.append(junk)
					Callable(target, name).callv(args)
					calls += 1
				Callable(target, name).callv([])
				calls += 1
			Callable(target, name).callv([1, 2, 3, 4, 5, 6])
			calls += 1
	note("%d wrongly typed or counted calls" % calls)
	check(calls > 250, "the library's methods were reached (%d calls)" % calls)

	# Everything still works: the queue is intact, the link still carries packets.
	check_eq(a.get_available_packet_count(), 10, "queued packets after the junk")
	var got := []
	while a.get_available_packet_count() > 0:
		got.append(a.get_packet()[0])
	check_eq(got, range(10), "queued packets intact and in order")
	b.put_packet(PackedByteArray([42]))
	check(await wait_until(func() -> bool:
		a.poll()
		return a.get_available_packet_count() == 1, 5.0), "a packet sent after the junk arrives")
	a.close()
	b.close()
	finish()


## Whether a method call on `target` reaches this library: its own methods, and those of the
## engine classes it implements (the peer and channel APIs dispatch to its virtuals).
func _reached_through(target: Object, method: String) -> bool:
	if method.begins_with("_"):
		return false
	for owner in [target.get_class(), "MultiplayerPeer", "WebRTCPeerConnection", "WebRTCDataChannel", "PacketPeer"]:
		if ClassDB.class_exists(owner) and ClassDB.class_has_method(owner, method, true) and target.is_class(owner):
			return true
	return false
