## The addon's editor plugin: registers the export plugin that keeps the native library out of
## web exports. Enable it in Project Settings > Plugins.
@tool
extends EditorPlugin

const WebExport := preload("res://addons/webrtc_mesh/editor/web_export.gd")

var _export: EditorExportPlugin


func _enter_tree() -> void:
	_export = WebExport.new()
	add_export_plugin(_export)


func _exit_tree() -> void:
	remove_export_plugin(_export)
	_export = null
