#!/usr/bin/env bash
# Writes the two files a Godot project gets from its first import in the editor, for a project
# that only ever runs in a template (headless) engine: the list of extensions to load, and the
# global script classes (the addon's WebRTCMesh). Usage: prepare_project.sh PROJECT_DIR
set -euo pipefail
project="$1"
mkdir -p "$project/.godot"
echo "res://addons/webrtc_mesh/webrtc_mesh.gdextension" >"$project/.godot/extension_list.cfg"
cat >"$project/.godot/global_script_class_cache.cfg" <<'EOF'
list=[{
"base": &"RefCounted",
"class": &"WebRTCMesh",
"icon": "",
"is_abstract": false,
"is_tool": false,
"language": &"GDScript",
"path": "res://addons/webrtc_mesh/webrtc_mesh.gd"
}]
EOF
