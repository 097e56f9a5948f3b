#!/usr/bin/env bash
# Runs the headless Godot test cases of tests/godot/ in a real Godot 4 engine: the one named by
# $GODOT, else `godot` on PATH. Without an engine it says so in one line and succeeds.
# Arguments (optional) name cases to run, e.g. test_mesh_rpc.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

godot="${GODOT:-$(command -v godot || true)}"
if [ -z "$godot" ] || ! "$godot" --version >/dev/null 2>&1; then
  echo "SKIP: Godot test scenes: no Godot 4 engine found (set GODOT or put godot on PATH)"
  exit 0
fi
echo "Godot test scenes on $("$godot" --version | head -n 1) ($godot)"

bash tests/godot/install.sh --debug
project=tests/godot
# test_demo_bots runs the demo project as bots (build_addon.sh has copied the addon into it).
bash rust/godot/prepare_project.sh demo_project

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
timeout 900 "$godot" --headless --path "$project" --script res://runner.gd -- "$@" 2>&1 | tee "$log" || status=$?
# A GDScript runtime error stops a function without failing anything; here it fails the run.
if grep -q "SCRIPT ERROR" "$log"; then
  echo "FAIL: GDScript errors during the Godot test scenes (see SCRIPT ERROR above)"
  status=1
fi
exit "$status"
