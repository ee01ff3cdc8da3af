#!/usr/bin/env bash
# Interop through Zenoh: the independent Python server of 2014's protocol (python_server.py, which
# offers only the original `depth` endpoint) behind `kinect-zenoh`, read by a Zenoh subscriber
# that checks its known frames exactly (the ignored test `python_server_through_kinect_zenoh` in
# tests/zenoh.rs). All of it runs inside a private network namespace: the Python server announces
# over mDNS and names its host `pyserver.local`, which the bridge resolves over mDNS too.
# Needs: unshare, ip, python3 with pyzmq, zeroconf, lz4, numpy; a build with --features zenoh.
# Usage: tests/interop/run_python_zenoh.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/private_netns.sh

if ! in_private_netns; then
  cargo build --quiet --features zenoh --bin kinect-browse --bin kinect-zenoh
  cargo test --quiet --features zenoh --no-run --test zenoh
fi
run_in_private_netns "$0"

name="Python Kinect $$"
log=$(mktemp)
bridge_log=$(mktemp)
python3 tests/interop/python_server.py "$name" >"$log" 2>&1 &
server_pid=$!
bridge_pid=
trap 'kill "$server_pid" $bridge_pid 2>/dev/null || true; rm -f "$log" "$bridge_log"' EXIT
wait_for_ready "$log"

# The Python server's control endpoint, as mDNS gives it.
control=$(target/debug/kinect-browse --once --timeout 3 --json |
  python3 -c 'import json, sys; print(next(s["control_endpoint"] for s in json.load(sys.stdin) if s["name"] == sys.argv[1]))' "$name")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/debug/kinect-zenoh --connect "$control" --server-id py --zenoh-listen "tcp/127.0.0.1:$port" \
  >"$bridge_log" 2>&1 &
bridge_pid=$!

status=0
SK2_ZENOH_PORT="$port" timeout 120 \
  cargo test --quiet --features zenoh --test zenoh -- --ignored --exact python_server_through_kinect_zenoh \
  || status=$?
if [[ $status -ne 0 ]]; then
  echo "interop through Zenoh: FAILED; server output:" >&2
  cat "$log" >&2
  echo "bridge output:" >&2
  cat "$bridge_log" >&2
fi
exit "$status"
