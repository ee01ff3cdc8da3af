"""Frames per second, latency and drops of one sensor, printed once a second.

    python examples/python/fps.py                           # the first server mDNS finds
    python examples/python/fps.py tcp://localhost:5555 --seconds 10 [--endpoint depth]

Latency is capture to arrival by the two hosts' clocks (meaningful when they are synchronised;
the original `depth` endpoint carries no capture time).
"""

import argparse
import sys
import time

import streamkinect2 as sk2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("endpoint", nargs="?", help="tcp://host:port (default: browse over mDNS)")
    parser.add_argument("--seconds", type=float, default=0, help="how long to run (0: until Ctrl-C)")
    parser.add_argument("--endpoint", dest="kind", default="depth_v2", choices=["depth_v2", "depth"])
    args = parser.parse_args()

    target = args.endpoint
    if target is None:
        servers = sk2.browse(timeout=3.0)
        if not servers:
            print("fps: no server found within 3 s", file=sys.stderr)
            return 1
        target = servers[0]
    with sk2.Client(target) as client, client.subscribe(endpoint=args.kind) as frames:
        print(f"{client.name}: sensor {frames.sensor_id} on {frames.endpoint}")
        started = time.monotonic()
        window_start, count, latencies = started, 0, []
        while not args.seconds or time.monotonic() - started < args.seconds:
            try:
                frame = frames.next(timeout=1.0)
                count += 1
                if frame.capture_time_ns is not None:
                    latencies.append(time.time_ns() - frame.capture_time_ns)
            except sk2.Timeout:
                pass
            now = time.monotonic()
            if now - window_start >= 1.0:
                latency = f"{sum(latencies) / len(latencies) / 1e6:6.1f} ms" if latencies else "   n/a"
                print(
                    f"{count / (now - window_start):5.1f} fps  latency {latency}  "
                    f"received {frames.received}  dropped {frames.dropped}  lost {frames.lost}"
                )
                window_start, count, latencies = now, 0, []
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except sk2.Sk2Error as error:
        print(f"fps: {error}", file=sys.stderr)
        sys.exit(1)
