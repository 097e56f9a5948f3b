## Leaves the native library out of web exports. A browser runs no GDExtension of ours (it has
## no UDP sockets; Godot uses the browser's WebRTC there), so the export skips the addon's
## .gdextension and its libraries, and drops the extension from the exported extension list,
## so the game neither fails to export nor logs a failed load at start. Scripts that use
## WebRTCMesh.new_session() get the GDScript session there.
@tool
extends EditorExportPlugin

const MANIFEST := "res://addons/webrtc_mesh/webrtc_mesh.gdextension"
const LIBRARIES := "res://addons/webrtc_mesh/bin/"
const EXTENSION_LIST := "res://.godot/extension_list.cfg"

## The project's extension list as it was before a web export changed it, restored after.
var _saved_list := PackedByteArray()
var _list_changed := false


## Export plugins run in order of name: this one sorts before Godot's own "GDExtension" plugin,
## so the manifest is skipped before that plugin looks for a web library and warns there is none.
func _get_name() -> String:
	return "Exclude webrtc_mesh from web exports"


func _export_begin(features: PackedStringArray, _is_debug: bool, _path: String, _flags: int) -> void:
	_list_changed = false
	if not features.has("web") or not FileAccess.file_exists(EXTENSION_LIST):
		return
	# Godot writes the project's extension list into every export, filtered only by the preset's
	# file filters: without this, the web build would try to load the missing manifest.
	var listed := FileAccess.get_file_as_string(EXTENSION_LIST).split("\n", false)
	var kept := PackedStringArray()
	for line in listed:
		if line.strip_edges() != MANIFEST:
			kept.append(line)
	if kept.size() == listed.size():
		return
	_saved_list = FileAccess.get_file_as_bytes(EXTENSION_LIST)
	var file := FileAccess.open(EXTENSION_LIST, FileAccess.WRITE)
	if file == null:
		push_warning("webrtc_mesh: cannot update %s for the web export" % EXTENSION_LIST)
		return
	file.store_string("\n".join(kept) + ("\n" if not kept.is_empty() else ""))
	file.close()
	_list_changed = true


func _export_file(path: String, _type: String, features: PackedStringArray) -> void:
	if features.has("web") and (path == MANIFEST or path.begins_with(LIBRARIES)):
		skip()


func _export_end() -> void:
	if not _list_changed:
		return
	_list_changed = false
	var file := FileAccess.open(EXTENSION_LIST, FileAccess.WRITE)
	if file != null:
		file.store_buffer(_saved_list)
		file.close()
