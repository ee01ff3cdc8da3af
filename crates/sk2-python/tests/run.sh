#!/usr/bin/env bash
# Runs the Python tests inside a private network namespace (only loopback, multicast routed to it),
# so the discovery tests' mDNS traffic never leaves this machine. Needs unshare (util-linux), ip
# (iproute2), and a Python with streamkinect2, numpy and pytest installed.
# Usage: crates/sk2-python/tests/run.sh [python] [pytest args...]   (default python: python3)
set -euo pipefail
script=$(readlink -f "$0")
cd "$(dirname "$script")/.."

if [[ ${SK2_PYTEST_IN_NETNS:-} != 1 ]]; then
  exec env SK2_PYTEST_IN_NETNS=1 unshare --net --map-root-user "$script" "$@"
fi

ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo

python=${1:-python3}
shift || true
exec "$python" -m pytest tests "$@"
