#!/usr/bin/env bash
# Builds the addon (`--debug` for an unoptimised build) and installs it into the Godot test
# project, with the two files a template build of Godot needs instead of an editor import.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bash rust/godot/build_addon.sh "$@"
project=tests/godot
rm -rf "$project/addons/webrtc_mesh"
mkdir -p "$project/addons" "$project/.godot"
cp -r addons/webrtc_mesh "$project/addons/"
# Template builds load the extensions listed here; the editor would write it on import.
echo "res://addons/webrtc_mesh/webrtc_mesh.gdextension" > "$project/.godot/extension_list.cfg"
# The editor would also write the global classes: the addon's one (the test scripts declare none).
cat > "$project/.godot/global_script_class_cache.cfg" <<'EOF'
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
