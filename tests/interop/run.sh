#!/usr/bin/env bash
# Interop check: starts our kinect-server and the independent Python client (python_client.py)
# together inside a private network namespace (only loopback, multicast routed to it), so the
# mDNS traffic never leaves this machine. Needs: unshare, ip, python3 with pyzmq, zeroconf, lz4,
# numpy. Usage: tests/interop/run.sh [path/to/kinect-server]   (default: builds it with cargo)
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $# -ge 1 ]]; then
  server=$1
else
  cargo build --quiet --bin kinect-server
  server=target/debug/kinect-server
fi

source tests/interop/private_netns.sh
run_in_private_netns "$0" "$server"

name="Interop Kinect $$"
log=$(mktemp)
"$server" --name "$name" >"$log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; rm -f "$log"' EXIT

status=0
timeout 60 python3 tests/interop/python_client.py "$name" || status=$?

kill -TERM "$server_pid"
wait "$server_pid" || { echo "interop: kinect-server exited with status $?" >&2; status=1; }
if [[ $status -ne 0 ]]; then
  echo "interop: FAILED; server output:" >&2
  cat "$log" >&2
fi
exit "$status"
