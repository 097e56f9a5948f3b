#!/usr/bin/env bash
# Runs every test of the repository: the Rust crates' tests over real loopback WebRTC, then the
# headless Godot test cases (skipped, with a line saying so, when no Godot engine is found).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked
bash tests/godot.sh
