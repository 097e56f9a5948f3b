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
# What the editor would write on import: the extension list and the addon's global class.
bash rust/godot/prepare_project.sh "$project"
