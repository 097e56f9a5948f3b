#!/usr/bin/env bash
# Runs the Godot-level benchmark (tests/godot/bench/multiplayer_peers.gd) against an optimised
# build of the addon, in the engine named by $GODOT or `godot` on PATH. Not part of the tests.
# Arguments go to the scene, e.g. --json godot-bench.json
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
godot="${GODOT:-$(command -v godot || true)}"
if [ -z "$godot" ] || ! "$godot" --version >/dev/null 2>&1; then
  echo "no Godot 4 engine found (set GODOT or put godot on PATH)" >&2
  exit 1
fi
bash rust/godot/build_addon.sh
project=tests/godot
rm -rf "$project/addons/webrtc_mesh"
mkdir -p "$project/addons" "$project/.godot"
cp -r addons/webrtc_mesh "$project/addons/"
echo "res://addons/webrtc_mesh/webrtc_mesh.gdextension" > "$project/.godot/extension_list.cfg"
echo "list=[]" > "$project/.godot/global_script_class_cache.cfg"
json=()
for arg in "$@"; do
  # The scene runs inside tests/godot; make a relative output path relative to here instead.
  if [ "${prev:-}" = "--json" ] && [[ "$arg" != /* ]]; then arg="$root/$arg"; fi
  json+=("$arg")
  prev="$arg"
done
exec "$godot" --headless --path "$project" --script res://bench/multiplayer_peers.gd -- "${json[@]}"
