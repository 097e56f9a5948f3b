## Signaling between processes through a folder: each message is one JSON file, written under a
## temporary name and renamed, so a reader never sees half a message.
extends RefCounted

var dir: String
var me: int
var sent := 0
var read := 0


func _init(folder: String, my_id: int) -> void:
	dir = folder
	me = my_id
	DirAccess.make_dir_recursive_absolute("%s/to_%d" % [dir, me])


func send(to: int, message: Dictionary) -> void:
	var box := "%s/to_%d" % [dir, to]
	DirAccess.make_dir_recursive_absolute(box)
	var tmp := "%s/.%d-%06d.tmp" % [box, me, sent]
	var file := FileAccess.open(tmp, FileAccess.WRITE)
	file.store_string(JSON.stringify(message))
	file.close()
	DirAccess.rename_absolute(tmp, "%s/%d-%06d.json" % [box, me, sent])
	sent += 1


## Messages that arrived since the last call, in the order they were sent.
func receive() -> Array:
	var out := []
	var box := "%s/to_%d" % [dir, me]
	var names := Array(DirAccess.get_files_at(box)).filter(func(n: String) -> bool: return n.ends_with(".json"))
	names.sort()
	for name in names.slice(read):
		out.append(JSON.parse_string(FileAccess.get_file_as_string("%s/%s" % [box, name])))
	read = names.size()
	return out


## Wires a connection's signaling to `to` through the folder.
func attach(connection: WebRTCPeerConnection, to: int) -> void:
	var source: WeakRef = weakref(connection)
	connection.session_description_created.connect(func(type: String, sdp: String) -> void:
		if source.get_ref():
			source.get_ref().set_local_description(type, sdp)
		send(to, {"type": type, "sdp": sdp}))
	connection.ice_candidate_created.connect(func(media: String, index: int, candidate: String) -> void:
		send(to, {"type": "candidate", "media": media, "index": index, "candidate": candidate}))


## Applies received signaling to `connection`; returns the other messages.
func apply(connection: WebRTCPeerConnection) -> Array:
	var rest := []
	for m in receive():
		match m.type:
			"offer", "answer":
				connection.set_remote_description(m.type, m.sdp)
			"candidate":
				connection.add_ice_candidate(m.media, int(m.index), m.candidate)
			_:
				rest.append(m)
	return rest
