"""Benchmark of streamkinect2 from Python (figures in docs/performance.md; not a test).

1. decode_depth_v2 from Python against the Rust decoder, per real frame (median of REPEAT).
2. CPU of receiving MEDHUF at 30 fps: streamkinect2 from Python against the Rust `depth_client`
   example, each reading the same kinect-server replaying real frames.
3. The path a Python user has today for the original `depth` endpoint, pyzmq + python-lz4 + numpy
   unpacking, in the same run: its CPU at 30 fps and its decode time per frame.

Needs a release build (cargo build --release --bin kinect-server --example depth_client
-p streamkinect2; cargo build --release -p sk2-python --example decode_timing), streamkinect2
installed (pip install ./crates/sk2-python), and pyzmq + lz4 for part 3.

    python crates/sk2-python/bench/bench.py CORPUS_DIR [--seconds 20] [--repeat 300]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import textwrap
import time

import numpy as np

import streamkinect2 as sk2
from streamkinect2 import codecs

REPO = pathlib.Path(__file__).resolve().parents[3]
RELEASE = REPO / "target" / "release"
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def corpus_frames(directory: pathlib.Path, shape=(512, 424)):
    suffix = f"-{shape[0]}x{shape[1]}.u16"
    for path in sorted(directory.glob(f"*{suffix}")):
        yield path.name, np.fromfile(path, dtype="<u2").reshape(shape[1], shape[0])


def median_us(function, argument, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        function(argument)
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1e3


def lz4_numpy_decode(message: bytes, width: int = 512, height: int = 424) -> np.ndarray:
    """What a Python user writes today for `depth`: LZ4 block with its 4-byte size prefix, then
    the 12-bit unpacking (docs/protocol.md, section 4) in numpy."""
    import lz4.block

    raw = np.frombuffer(lz4.block.decompress(message), dtype=np.uint8)
    pixels = width * height
    depth = raw[:pixels].astype(np.uint16) << 4
    packed = raw[pixels:]
    depth[0::2] |= packed >> 4
    depth[1::2] |= packed & 0x0F
    return depth.reshape(height, width)


def part_decode(corpus: pathlib.Path, repeat: int) -> None:
    print("\n## 1. decode_depth_v2 (MEDHUF) per frame, median of", repeat)
    rust = subprocess.run(
        [str(RELEASE / "examples" / "decode_timing"), str(corpus), str(repeat)],
        check=True, capture_output=True, text=True,
    ).stdout.split("\n")
    rust_us = dict(line.split() for line in rust if line.strip())
    print(f"{'frame':32} {'Rust µs':>9} {'Python µs':>10} {'ratio':>6}")
    ratios = []
    for name, depth in corpus_frames(corpus):
        message = codecs.encode_depth_v2(depth)
        python_us = median_us(codecs.decode_depth_v2, message, repeat)
        ratio = python_us / float(rust_us[name])
        ratios.append(ratio)
        print(f"{name:32} {float(rust_us[name]):9.1f} {python_us:10.1f} {ratio:6.2f}")
    print(f"{'geometric mean ratio':32} {'':9} {'':10} {statistics.geometric_mean(ratios):6.2f}")

    print("\n## 3b. decoding the original `depth` format per frame, median of", repeat)
    print(f"{'frame':32} {'decode_sk2 µs':>14} {'lz4+numpy µs':>13}")
    for name, depth in corpus_frames(corpus):
        message = codecs.encode_sk2(depth)
        assert np.array_equal(lz4_numpy_decode(message), codecs.decode_sk2(message))
        ours = median_us(codecs.decode_sk2, message, repeat)
        theirs = median_us(lz4_numpy_decode, message, repeat)
        print(f"{name:32} {ours:14.1f} {theirs:13.1f}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime + stime


def measure_receiver(command, seconds: float, ready: str) -> tuple:
    """CPU share of a receiving process over `seconds`, counted from its `ready` line on (so
    start-up and imports are not counted), and the frames it reports at the end."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if ready in line:
                break
        start_cpu, started = cpu_seconds(child.pid), time.monotonic()
        time.sleep(seconds)
        cpu = cpu_seconds(child.pid) - start_cpu
        wall = time.monotonic() - started
    finally:
        child.terminate()
        rest = child.communicate(timeout=10)[0]
    return cpu / wall, rest


# A receiver that counts frames, as the Rust depth_client example does, until it is terminated.
PY_RECEIVER = textwrap.dedent(
    """
    import sys
    import streamkinect2 as sk2
    endpoint, kind = sys.argv[1], sys.argv[2]
    client = sk2.Client(endpoint)
    frames = 0
    if kind == "lz4":
        import zmq
        sys.path.insert(0, sys.argv[3])
        from bench import lz4_numpy_decode
        socket = zmq.Context().socket(zmq.SUB)
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        socket.setsockopt(zmq.RCVHWM, 4)
        socket.connect(client.sensors[0].endpoints["depth"].replace("localhost", "127.0.0.1"))
        socket.recv()
        print("ready", flush=True)
        while True:
            lz4_numpy_decode(socket.recv())
            frames += 1
    else:
        subscription = client.subscribe(endpoint=kind)
        subscription.next(timeout=10)
        print("ready", flush=True)
        for frame in subscription:
            frames += 1
    """
)


def part_cpu(corpus: pathlib.Path, seconds: float) -> None:
    print(f"\n## 2./3a. CPU while receiving 30 fps of real 512 x 424 frames, {seconds:.0f} s each")
    server = subprocess.Popen(
        [str(RELEASE / "kinect-server"), "--no-announce", "--bind", "127.0.0.1",
         "--source", "replay", "--replay-dir", str(corpus), "--replay-shape", "512x424",
         "--fps", "30"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        endpoint = next(l for l in server.stdout if l.startswith("control: ")).split()[1]
        endpoint = endpoint.replace("localhost", "127.0.0.1")
        receivers = [
            ("Rust depth_client example (depth_v2, MEDHUF)",
             [str(RELEASE / "examples" / "depth_client"), "--connect", endpoint], "sensor(s)"),
            ("streamkinect2 from Python (depth_v2, MEDHUF)",
             [sys.executable, "-c", PY_RECEIVER, endpoint, "depth_v2"], "ready"),
            ("streamkinect2 from Python (depth)",
             [sys.executable, "-c", PY_RECEIVER, endpoint, "depth"], "ready"),
            ("pyzmq + python-lz4 + numpy (depth)",
             [sys.executable, "-c", PY_RECEIVER, endpoint, "lz4", str(pathlib.Path(__file__).parent)],
             "ready"),
        ]
        print(f"{'receiver':48} {'CPU % of one core':>18}")
        results = {}
        for label, command, ready in receivers:
            share, _ = measure_receiver(command, seconds, ready)
            results[label] = share
            print(f"{label:48} {share * 100:18.2f}")
        rust = results[receivers[0][0]]
        python = results[receivers[1][0]]
        print(f"Python / Rust CPU for MEDHUF at 30 fps: {python / rust:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=pathlib.Path, help="directory of <name>-<W>x<H>.u16 frames")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    print(f"streamkinect2 {sk2.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}")
    part_decode(args.corpus, args.repeat)
    part_cpu(args.corpus, args.seconds)


if __name__ == "__main__":
    main()
