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
bash tests/godot/install.sh
project=tests/godot
json=()
for arg in "$@"; do
  # The scene runs inside tests/godot; make a relative output path relative to here instead.
  if [ "${prev:-}" = "--json" ] && [[ "$arg" != /* ]]; then arg="$root/$arg"; fi
  json+=("$arg")
  prev="$arg"
done
exec "$godot" --headless --path "$project" --script res://bench/multiplayer_peers.gd -- "${json[@]}"
