#!/usr/bin/env bash
# Interop check, the other way round from run.sh: the independent Python server
# (python_server.py: pyzmq, numpy + python-lz4, python-zeroconf) runs inside a private network
# namespace (only loopback, multicast routed to it, so no mDNS leaves the machine); our browser
# finds it (`kinect-browse --once --json`) and our client decodes its frames exactly
# (the ignored test `python_server_interop` in tests/interop_python_server.rs).
# Needs: unshare, ip, python3 with pyzmq, zeroconf, lz4, numpy.
# Usage: tests/interop/run_python_server.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/interop/private_netns.sh

if ! in_private_netns; then
  # Build outside the namespace (cargo may need the network for the first build).
  cargo build --quiet --bin kinect-browse
  cargo test --quiet --no-run --test integration
fi
run_in_private_netns "$0"

name="Python Kinect $$"
log=$(mktemp)
python3 tests/interop/python_server.py "$name" >"$log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; rm -f "$log"' EXIT
wait_for_ready "$log"

status=0
found=$(target/debug/kinect-browse --once --timeout 3 --json) || status=$?
if [[ $status -eq 0 ]] && ! grep -q "\"name\": \"$name\"" <<<"$found"; then
  echo "interop: kinect-browse did not find \"$name\": $found" >&2
  status=1
fi
if [[ $status -eq 0 ]]; then
  SK2_PYTHON_SERVER_NAME="$name" timeout 120 \
    cargo test --quiet --test integration -- --ignored --exact interop_python_server::python_server_interop \
    || status=$?
fi

kill -TERM "$server_pid"
wait "$server_pid" || { echo "interop: python_server.py exited with status $?" >&2; status=1; }
if [[ $status -ne 0 ]]; then
  echo "interop: FAILED; server output:" >&2
  cat "$log" >&2
fi
exit "$status"
