#!/usr/bin/env bash
# Records the same mock server twice at once, as raw-codec depth_v2 messages and as
# `--foxglove` RawImages, then checks the Foxglove file with the `mcap` Python package
# (check_foxglove.py). Loopback only, no mDNS.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --bin kinect-server --bin kinect-record
bin=target/debug
dir=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
"$bin/kinect-server" --no-announce --bind 127.0.0.1 --codec raw >"$dir/server.out" 2>"$dir/server.err" &
server=$!
control=
for _ in $(seq 100); do
  control=$(sed -n 's/^control: //p' "$dir/server.out")
  [ -n "$control" ] && break
  sleep 0.1
done
[ -n "$control" ] || { cat "$dir/server.err" >&2; echo "kinect-server did not start" >&2; exit 1; }
"$bin/kinect-record" --connect "$control" -q --frames 60 -o "$dir/raw.mcap" &
raw=$!
"$bin/kinect-record" --connect "$control" -q --frames 60 --foxglove -o "$dir/foxglove.mcap"
wait "$raw"
python3 tests/recording/check_foxglove.py "$dir/raw.mcap" "$dir/foxglove.mcap"
