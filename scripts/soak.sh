#!/usr/bin/env bash
# Soak test: kinect-server with a noisy mock at 30 fps and 20 subscribers for SOAK_SECONDS
# (default 60, what CI runs; docs/reliability.md documents an hour: SOAK_SECONDS=3600).
# Fails if the server's RSS or descriptor count grows past the bounds of
# crates/sk2-server/examples/soak.rs, or if a subscriber loses a frame the others received.
# Extra arguments go to the soak program (e.g. --subscribers 50 --max-rss-growth-mib 16).
set -euo pipefail
cd "$(dirname "$0")/.."
profile_flag=()
target_dir=debug
if [[ "${SOAK_RELEASE:-0}" == 1 ]]; then
  profile_flag=(--release)
  target_dir=release
fi
cargo build -q "${profile_flag[@]}" --bin kinect-server
cargo build -q "${profile_flag[@]}" -p sk2-server --example soak
exec "target/$target_dir/examples/soak" \
  --server "target/$target_dir/kinect-server" \
  --seconds "${SOAK_SECONDS:-60}" "$@"
