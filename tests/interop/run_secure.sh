#!/usr/bin/env bash
# CurveZMQ interop: a Python client written from docs/security.md (python_secure_client.py,
# pyzmq with CURVE) against a secure kinect-server that admits only its key (Ironhouse). Keys are
# made by both sides: the server's by kinect-keygen, the clients' by pyzmq. No mDNS (the server
# runs with --no-announce on 127.0.0.1). Needs: python3 with pyzmq.
# Usage: tests/interop/run_secure.sh [path/to/target/dir]   (default: builds with cargo)
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $# -ge 1 ]]; then
  bin=$1
else
  cargo build --quiet --bin kinect-server --bin kinect-keygen
  bin=target/debug
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/kinect-keygen" --dir "$work/server" >/dev/null
mkdir -p "$work/clients" "$work/strangers"
python3 - "$work" <<'PY'
import sys, zmq.auth
work = sys.argv[1]
zmq.auth.create_certificates(f"{work}/clients", "python")
zmq.auth.create_certificates(f"{work}/strangers", "stranger")
PY
# pyzmq writes its secret file with the process umask: make it private, as the tools require.
chmod 600 "$work"/clients/*.key_secret "$work"/strangers/*.key_secret

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$work/server.log"
"$bin/kinect-server" --no-announce --bind 127.0.0.1 --control-port "$port" \
  --secure --key-file "$work/server/server.key_secret" --authorized-keys "$work/clients" \
  >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^device ' "$log" && break
  sleep 0.1
done
grep -q 'original (2014) clients cannot connect' "$log" \
  || { echo "secure interop: no 'cannot connect' line at start-up" >&2; cat "$log" >&2; exit 1; }

status=0
timeout 60 python3 tests/interop/python_secure_client.py "tcp://127.0.0.1:$port" \
  "$work/server/server.key" "$work/clients/python.key_secret" \
  "$work/strangers/stranger.key_secret" || status=$?

kill -TERM "$server_pid"
wait "$server_pid" || { echo "secure interop: kinect-server exited with status $?" >&2; status=1; }
server_pid=
if [[ $status -ne 0 ]]; then
  echo "secure interop: FAILED; server output:" >&2
  cat "$log" >&2
fi
exit "$status"
