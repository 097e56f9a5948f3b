#!/usr/bin/env bash
# Runs every test of the repository: the Rust crates' tests over real loopback WebRTC, then the
# headless Godot test cases (skipped, with a line saying so, when no Godot engine is found).
# Ends with one line counting every test: passed, failed, and skipped (a test whose server,
# browser or engine is missing ran nothing, so it is not counted as passed).
set -euo pipefail
cd "$(dirname "$0")/.."

rust_log="$(mktemp)"
godot_log="$(mktemp)"
skips="$(mktemp)"
trap 'rm -f "$rust_log" "$godot_log" "$skips"' EXIT
# Tests that cannot run write a line here (libtest itself would count them as passed).
export WEBRTC_MESH_SKIP_LOG="$skips"

status=0
# The browser test runs the addon's GDScript session in a Godot engine: install the addon first.
godot="${GODOT:-$(command -v godot || true)}"
if [ -n "$godot" ] && "$godot" --version >/dev/null 2>&1; then
  bash tests/godot/install.sh --debug || status=$?
fi
# The bench's interop tests run ours against libdatachannel, which is built from source: they
# need cmake, a C++ compiler and libclang, and are reported as skipped without them.
features=()
interop_skipped=0
if command -v cmake >/dev/null && command -v c++ >/dev/null \
  && { ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so'; }; then
  features=(--features webrtc-mesh-bench/libdatachannel)
else
  interop_skipped="$(grep -c '^fn ours_and_libdatachannel' rust/bench/src/stacks/interop.rs)"
  if [ -n "${WEBRTC_MESH_REQUIRE_INTEROP:-}" ]; then
    echo "FAIL: the interop tests with libdatachannel cannot be built here" >&2
    status=1
  fi
fi
cargo test --workspace --locked "${features[@]}" 2>&1 | tee "$rust_log" || status=$?
bash tests/godot.sh 2>&1 | tee "$godot_log" || status=$?

# Sums the numbers before "$1" in the lines on standard input that match "$2".
count() {
  { grep -E "$2" || true; } | { grep -oE "[0-9]+ $1" || true; } | awk '{ n += $1 } END { print n + 0 }'
}
rust_passed="$(count passed '^test result:' < "$rust_log")"
rust_failed="$(count failed '^test result:' < "$rust_log")"
rust_skipped="$(sort -u "$skips" | wc -l)"
# Ignored tests are known gaps (their #[ignore] says which): not passed, so counted as skipped.
# Helpers another test runs itself ("run by ...") are not tests of their own.
ignored_lines() {
  { grep -E '^test .* \.\.\. ignored' "$rust_log" || true; } | { grep -v 'ignored, run by' || true; }
}
rust_ignored="$(ignored_lines | wc -l)"
godot_closing='^[0-9]+ passed, [0-9]+ failed$'
godot_passed="$(tail -n 5 "$godot_log" | count passed "$godot_closing")"
godot_failed="$(tail -n 5 "$godot_log" | count failed "$godot_closing")"
godot_skipped=0
if grep -q '^SKIP: Godot test scenes' "$godot_log"; then
  godot_skipped="$(find tests/godot/cases -name 'test_*.gd' | wc -l)"
fi

if [ "$rust_ignored" -gt 0 ]; then
  echo "Ignored Rust tests (known gaps):"
  ignored_lines | sed 's/^test /  /'
fi
if [ "$interop_skipped" -gt 0 ]; then
  echo "Skipped: $interop_skipped interop tests with libdatachannel (install cmake, a C++ compiler and libclang)"
fi
if [ "$rust_skipped" -gt 0 ]; then
  echo "Skipped Rust tests (they ran nothing):"
  sort -u "$skips" | sed 's/^/  /'
fi
echo "Summary: $((rust_passed - rust_skipped + godot_passed)) passed, $((rust_failed + godot_failed)) failed, $((rust_skipped + rust_ignored + godot_skipped + interop_skipped)) skipped"
exit "$status"
