#!/usr/bin/env bash
# Builds the extension library and installs it into addons/webrtc_mesh/bin/ (and into
# demo_project/addons/ when the demo project exists). `--debug` builds without optimisation.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

profile=release
if [ "${1:-}" = "--debug" ]; then profile=debug; fi
cargo build -p webrtc-mesh-godot --locked $([ "$profile" = release ] && echo --release)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) src=libwebrtc_mesh.so; dst=libwebrtc_mesh.linux.x86_64.so ;;
  Linux-aarch64) src=libwebrtc_mesh.so; dst=libwebrtc_mesh.linux.arm64.so ;;
  Darwin-*) src=libwebrtc_mesh.dylib; dst=libwebrtc_mesh.macos.dylib ;;
  MINGW*|MSYS*|CYGWIN*) src=webrtc_mesh.dll; dst=webrtc_mesh.windows.x86_64.dll ;;
  *) echo "unsupported platform $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

mkdir -p addons/webrtc_mesh/bin
cp "target/$profile/$src" "addons/webrtc_mesh/bin/$dst"
echo "installed addons/webrtc_mesh/bin/$dst ($profile)"
if [ -d demo_project ]; then
  mkdir -p demo_project/addons
  rm -rf demo_project/addons/webrtc_mesh
  cp -r addons/webrtc_mesh demo_project/addons/
  echo "installed demo_project/addons/webrtc_mesh"
fi
