"""Reads a `kinect-record` recording with the `mcap` package and this module's codecs, and prints
what each channel holds (needs: pip install mcap).

    python examples/python/read_recording.py session.mcap [--save-jpeg first.jpg]

Depth and infrared messages are `depth_v2` messages (infrared uses the same layout), so
`decode_depth_v2` reads both; a colour message is the same 44-byte header followed by a JPEG
file. The channel's message encoding says which is which (docs/protocol.md, section 9).
"""

import argparse
import sys
from collections import defaultdict

import numpy as np
from mcap.reader import make_reader

from streamkinect2.codecs import decode_depth_v2

DEPTH, IR, COLOR = "streamkinect2.depth_v2", "streamkinect2.ir_v2", "streamkinect2.color"
HEADER_LEN = 44


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recording", help="an .mcap file written by kinect-record")
    parser.add_argument("--save-jpeg", help="write the first colour frame to this file")
    args = parser.parse_args()

    seen = defaultdict(list)  # topic -> [(sequence, capture_time_ns, summary)]
    with open(args.recording, "rb") as f:
        for _, channel, message in make_reader(f).iter_messages():
            encoding = channel.message_encoding
            if encoding in (DEPTH, IR):
                pixels, header = decode_depth_v2(message.data)
                valid = pixels[pixels > 0]
                middle = int(np.median(valid)) if valid.size else 0
                unit = "mm" if encoding == DEPTH else "amplitude"
                summary = f"{header.width}x{header.height} {header.codec}, median {middle} {unit}"
            elif encoding == COLOR:
                # The header's layout is depth_v2's; only the codec id (0x10, jpeg) differs.
                jpeg = bytes(message.data[HEADER_LEN:])
                if not jpeg.startswith(b"\xff\xd8"):
                    print(f"{channel.topic}: a colour message without a JPEG", file=sys.stderr)
                    return 1
                if args.save_jpeg and not any(seen[t] for t in seen if t.endswith("/color")):
                    with open(args.save_jpeg, "wb") as out:
                        out.write(jpeg)
                summary = f"JPEG of {len(jpeg)} bytes"
            else:
                continue  # another tool's channel, or a --foxglove recording's images
            seen[channel.topic].append((message.sequence, message.publish_time, summary))

    if not seen:
        print("no streamkinect2 channel in this file (a --foxglove recording?)", file=sys.stderr)
        return 1
    for topic, frames in sorted(seen.items()):
        seconds = (frames[-1][1] - frames[0][1]) / 1e9
        rate = (len(frames) - 1) / seconds if seconds > 0 else 0.0
        print(f"{topic}: {len(frames)} messages, sequence {frames[0][0]}..{frames[-1][0]}, "
              f"{rate:.1f} per second; first: {frames[0][2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
