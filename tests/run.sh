#!/usr/bin/env bash
# Runs every test of the repository: the Rust crates' tests over real loopback WebRTC.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked
