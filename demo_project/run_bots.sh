#!/usr/bin/env bash
# The product's main job in one command: builds the addon and the signaling server, starts the
# server on loopback, launches four headless demo bots that form a WebRTC mesh and chat, and
# prints their JSON summaries. Without a Godot engine (set GODOT or put godot on PATH) it says
# so and runs the same scenario with engine-free peers through the same server.
#
#   bash demo_project/run_bots.sh [--peers N] [--seconds S]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

peers=4
seconds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) peers="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: bash demo_project/run_bots.sh [--peers N] [--seconds S]" >&2; exit 2 ;;
  esac
done

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

godot="${GODOT:-$(command -v godot || true)}"
if [ -n "$godot" ] && ! "$godot" --version >/dev/null 2>&1; then godot=""; fi

echo "building the signaling server..."
cargo build --release --locked -q -p webrtc-mesh-signaling
if [ -n "$godot" ]; then
  echo "building the addon..."
  bash rust/godot/build_addon.sh >/dev/null
else
  cargo build --release --locked -q -p webrtc-mesh-session --bin webrtc-mesh-bots
fi

# Port 0: the system picks a free port, which the server's first log line names.
target/release/webrtc-mesh-signaling --bind 127.0.0.1 --port 0 >"$work/server.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 100); do
  url="$(grep -o 'ws://[0-9.:]*' "$work/server.log" | head -n 1 || true)"
  [ -n "$url" ] && break
  sleep 0.05
done
if [ -z "$url" ]; then
  echo "the signaling server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
echo "signaling server on $url"

if [ -z "$godot" ]; then
  echo "No Godot engine found (set GODOT or put godot on PATH): running $peers engine-free peers of the core through the same server instead."
  target/release/webrtc-mesh-bots --url "$url" --peers "$peers" --seconds "$seconds"
  exit $?
fi

echo "engine: $("$godot" --version | head -n 1) ($godot)"
# A project opened in the editor writes these itself; a first headless run needs them.
bash rust/godot/prepare_project.sh demo_project

pids=()
for i in $(seq "$peers"); do
  role=()
  [ "$i" -eq 1 ] && role=(--host)
  "$godot" --headless --path demo_project -- --bot "${role[@]}" --url "$url" --peers "$peers" \
    --seconds "$seconds" --lobby-file "$work/lobby" >"$work/bot$i.log" 2>&1 &
  pids+=($!)
done
status=0
for i in $(seq "$peers"); do
  wait "${pids[$((i - 1))]}" || status=1
done

echo "summaries of $peers Godot bots (one JSON line each):"
for i in $(seq "$peers"); do
  line="$(grep '^{' "$work/bot$i.log" | tail -n 1 || true)"
  if [ -n "$line" ]; then
    echo "$line"
  else
    echo "bot $i printed no summary; its log:" >&2
    cat "$work/bot$i.log" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then
  echo "OK: every bot was connected to the other $((peers - 1))"
else
  echo "FAILED: some bot was not connected to all the others (logs above)" >&2
fi
exit "$status"
