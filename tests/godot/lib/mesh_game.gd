## The node every mesh branch holds: RPCs on each kind of channel, recording what arrives.
extends Node

## sender id -> Array of sequence numbers, per channel kind.
var reliable := {}
var ordered := {}
var unreliable := {}
var extra := {}
var big_sizes: Array[int] = []


func _record(store: Dictionary, seq: int) -> void:
	var sender := multiplayer.get_remote_sender_id()
	if not store.has(sender):
		store[sender] = []
	store[sender].append(seq)


@rpc("any_peer", "call_remote", "reliable")
func on_reliable(seq: int) -> void:
	_record(reliable, seq)


@rpc("any_peer", "call_remote", "unreliable_ordered")
func on_ordered(seq: int) -> void:
	_record(ordered, seq)


@rpc("any_peer", "call_remote", "unreliable")
func on_unreliable(seq: int) -> void:
	_record(unreliable, seq)


@rpc("any_peer", "call_remote", "reliable", 1)
func on_extra(seq: int) -> void:
	_record(extra, seq)


@rpc("any_peer", "call_remote", "reliable")
func on_big(data: PackedByteArray) -> void:
	var ok := true
	for i in range(0, data.size(), 997):
		ok = ok and data[i] == i % 251
	big_sizes.append(data.size() if ok else -1)
