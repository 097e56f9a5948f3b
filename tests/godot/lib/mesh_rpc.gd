## A 4-peer mesh with RPCs on every channel kind; shared by the extension and parity cases.
extends "res://lib/case.gd"

const PEERS := 4
const COUNT := 200

var peer_class := "WebRTCMultiplayerPeerExtension"


func run() -> void:
	var started := Time.get_ticks_msec()
	var branches := make_mesh(peer_class, PEERS, preload("res://lib/mesh_game.gd"), [MultiplayerPeer.TRANSFER_MODE_RELIABLE])
	if not check(await wait_until(all_connected.bind(branches), 15.0), "mesh of %d did not connect" % PEERS):
		close_all(branches)
		return
	note("%s: %d-peer mesh connected in %d ms" % [peer_class, PEERS, Time.get_ticks_msec() - started])

	for seq in COUNT:
		for branch in branches:
			var game: Node = branch.get_meta("game")
			game.on_reliable.rpc(seq)
			game.on_ordered.rpc(seq)
			game.on_unreliable.rpc(seq)
			game.on_extra.rpc(seq)
		if seq % 20 == 19:
			await get_tree().process_frame
	var delivered := func() -> bool:
		for branch in branches:
			var game: Node = branch.get_meta("game")
			for sender in range(1, PEERS + 1):
				if sender == branch.get_meta("peer").get_unique_id():
					continue
				if game.reliable.get(sender, []).size() < COUNT or game.extra.get(sender, []).size() < COUNT:
					return false
		return true
	check(await wait_until(delivered, 20.0), "reliable RPCs did not all arrive")
	await wait_frames(10)

	var expected := range(COUNT)
	for branch in branches:
		var me: int = branch.get_meta("peer").get_unique_id()
		var game: Node = branch.get_meta("game")
		for sender in range(1, PEERS + 1):
			if sender == me:
				continue
			check_eq(game.reliable.get(sender, []), expected, "reliable %d->%d, all once in order" % [sender, me])
			check_eq(game.extra.get(sender, []), expected, "extra channel %d->%d, all once in order" % [sender, me])
			var ordered: Array = game.ordered.get(sender, [])
			var sorted := ordered.duplicate()
			sorted.sort()
			check(ordered == sorted, "unreliable_ordered %d->%d never reorders" % [sender, me])
			check(ordered.size() >= COUNT / 2, "unreliable_ordered %d->%d delivered %d of %d" % [sender, me, ordered.size(), COUNT])
			var unique := {}
			for seq in game.unreliable.get(sender, []):
				check(not unique.has(seq), "unreliable %d->%d delivered %d twice" % [sender, me, seq])
				unique[seq] = true
			check(unique.size() >= COUNT / 2, "unreliable %d->%d delivered %d of %d" % [sender, me, unique.size(), COUNT])

	if peer_class == "WebRTCMultiplayerPeerExtension":
		var p1: MultiplayerPeer = branches[0].get_meta("peer")
		var stats: Dictionary = p1.get_peer_stats(2)
		check(stats.round_trip_time > 0.0 and stats.round_trip_time < 0.1, "stats: loopback round trip %s s" % str(stats.get("round_trip_time")))
		check_eq([stats.local_candidate_type, stats.remote_candidate_type], ["host", "host"], "stats: candidate types")
		check(stats.bytes_sent > 0 and stats.bytes_received > 0, "stats: bytes counted")
		check(stats.messages_received >= COUNT * 2, "stats: messages received %d" % stats.messages_received)
		check(typeof(stats.get("unreliable_packets_dropped")) == TYPE_INT and stats.unreliable_packets_dropped >= 0, "stats: unreliable_packets_dropped %s" % str(stats.get("unreliable_packets_dropped")))
		check_eq(stats.connection_state, WebRTCPeerConnection.STATE_CONNECTED, "stats: state")
		check(p1.get_peer_stats(99).is_empty(), "stats of an unknown peer")
		check_eq(p1.peer_timeout, 5.0, "default peer_timeout")
		p1.peer_timeout = 8.0
		check_eq(p1.peer_timeout, 8.0, "peer_timeout set")

	# One 200 KiB reliable RPC, from peer 2 to everyone.
	var big := PackedByteArray()
	big.resize(200 * 1024)
	for i in big.size():
		big[i] = i % 251
	branches[1].get_meta("game").on_big.rpc(big)
	var big_arrived := func() -> bool:
		for branch in branches:
			if branch != branches[1] and branch.get_meta("game").big_sizes.is_empty():
				return false
		return true
	check(await wait_until(big_arrived, 10.0), "200 KiB RPC did not arrive")
	for branch in branches:
		if branch != branches[1]:
			check_eq(branch.get_meta("game").big_sizes, [big.size()], "200 KiB RPC intact")
	close_all(branches)
	finish()
