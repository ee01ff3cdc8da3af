#!/usr/bin/env bash
# Recording benchmark (docs/recording.md): the CPU kinect-record takes to record MEDHUF at 30 fps,
# the file size against the sum of the message sizes, the size of a --foxglove recording, how
# closely kinect-server --replay-file keeps the recorded pace, and what recording every stream of
# the mock (--ir --color) takes. Loopback only, no mDNS.
#
#   scripts/recording_bench.sh [CORPUS_DIR]      frames: the corpus's 512x424 frames if given,
#                                                else the realistic mock
#   BENCH_SECONDS=30 (length of each recording), BENCH_RELEASE=1 (release build)
#
# Needs python3 with the `mcap` package (pip install mcap) to read the files.
set -euo pipefail
cd "$(dirname "$0")/.."
profile_flag=()
target_dir=debug
if [[ "${BENCH_RELEASE:-0}" == 1 ]]; then
  profile_flag=(--release)
  target_dir=release
fi
cargo build -q "${profile_flag[@]}" --bin kinect-server --bin kinect-record
bin="target/$target_dir"
seconds=${BENCH_SECONDS:-30}
source_args=(--mock-mode realistic)
if [[ $# -ge 1 ]]; then
  source_args=(--source replay --replay-dir "$1" --replay-shape 512x424)
fi
dir=$(mktemp -d)
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# start_server NAME ARGS...: starts kinect-server, sets $control.
start_server() {
  local name=$1
  shift
  "$bin/kinect-server" --no-announce --bind 127.0.0.1 "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  servers+=($!)
  control=
  for _ in $(seq 100); do
    control=$(sed -n 's/^control: //p' "$dir/$name.out")
    [[ -n "$control" ]] && return
    sleep 0.1
  done
  cat "$dir/$name.err" >&2
  exit 1
}

# cpu_of COMMAND...: runs it and prints its CPU seconds (user + system).
cpu_of() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{usage.ru_utime + usage.ru_stime:.3f}")
PY
}

start_server live --fps 30 --codec medhuf "${source_args[@]}"
cpu=$(cpu_of "$bin/kinect-record" --connect "$control" -q --duration "$seconds" -o "$dir/medhuf.mcap")
cpu_fox=$(cpu_of "$bin/kinect-record" --connect "$control" -q --duration "$seconds" --foxglove \
  -o "$dir/foxglove.mcap")
start_server replay --source replay --replay-file "$dir/medhuf.mcap"
"$bin/kinect-record" --connect "$control" -q --duration "$seconds" -o "$dir/replayed.mcap"
# Every stream: the mock has infrared and 1920x1080 colour (a replayed directory may not).
start_server all --fps 30 --mock-mode realistic
cpu_all=$(cpu_of "$bin/kinect-record" --connect "$control" -q --duration "$seconds" --ir --color \
  -o "$dir/all.mcap")

python3 - "$dir" "$seconds" "$cpu" "$cpu_fox" "$cpu_all" <<'PY'
import collections, os, statistics, sys
from mcap.reader import make_reader

directory, seconds = sys.argv[1], float(sys.argv[2])
cpu, cpu_fox, cpu_all = (float(value) for value in sys.argv[3:6])

def messages(name):
    with open(os.path.join(directory, name), "rb") as f:
        return [message for _, _, message in make_reader(f).iter_messages()]

def size(name):
    return os.path.getsize(os.path.join(directory, name))

def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]

medhuf, foxglove, replayed = messages("medhuf.mcap"), messages("foxglove.mcap"), messages("replayed.mcap")
data = sum(len(m.data) for m in medhuf)
print(f"recording MEDHUF at 30 fps: {len(medhuf)} frames in {seconds:.0f} s, "
      f"CPU {cpu:.2f} s = {100 * cpu / seconds:.2f} % of one core")
print(f"  file {size('medhuf.mcap')} bytes for {data} bytes of messages: "
      f"+{100 * (size('medhuf.mcap') / data - 1):.2f} %  ({data / len(medhuf) / 1e3:.1f} kB per frame)")
print(f"recording --foxglove: {len(foxglove)} frames, CPU {100 * cpu_fox / seconds:.2f} % of one core, "
      f"file {size('foxglove.mcap') / len(foxglove) / 1e3:.1f} kB per frame = "
      f"{(size('foxglove.mcap') / len(foxglove)) / (size('medhuf.mcap') / len(medhuf)):.2f} x the MEDHUF file")
# Replay pacing: a frame's arrival minus its recorded capture time is constant when the pace is
# kept; its spread (minus the median) is the jitter, network and client included.
offsets = [m.log_time - m.publish_time for m in replayed]
median = statistics.median(offsets)
jitter_ms = [abs(o - median) / 1e6 for o in offsets]
steps_ms = [abs((b.log_time - a.log_time) - (b.publish_time - a.publish_time)) / 1e6
            for a, b in zip(replayed, replayed[1:])]
print(f"replay pacing over {len(replayed)} frames: |arrival - recorded time - median| "
      f"p50 {quantile(jitter_ms, 0.5):.3f} ms, p99 {quantile(jitter_ms, 0.99):.3f} ms, "
      f"max {max(jitter_ms):.3f} ms; frame-to-frame interval error p99 {quantile(steps_ms, 0.99):.3f} ms")
with open(os.path.join(directory, "all.mcap"), "rb") as f:
    streams = collections.defaultdict(list)
    for _, channel, message in make_reader(f).iter_messages():
        streams[channel.topic.rsplit("/", 1)[1]].append(len(message.data))
print(f"recording --ir --color (mock): CPU {100 * cpu_all / seconds:.2f} % of one core, "
      f"file {size('all.mcap') / seconds / 1e6:.2f} MB/s")
for stream, sizes in sorted(streams.items()):
    print(f"  {stream}: {len(sizes) / seconds:.1f} messages/s, {sum(sizes) / len(sizes) / 1e3:.1f} kB each")
PY
