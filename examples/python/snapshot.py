"""Saves one depth frame as a colour-mapped PNG (needs Pillow: pip install pillow).

    python examples/python/snapshot.py tcp://localhost:5555 depth.png [--max-mm 4500]

Near is warm, far is cool; pixels without a measurement (0) are black.
"""

import argparse
import sys

import numpy as np
from PIL import Image

import streamkinect2 as sk2


def colour_map(depth_mm: np.ndarray, max_mm: float) -> np.ndarray:
    """(H, W) uint16 millimetres to (H, W, 3) uint8 RGB: a red-yellow-green-blue ramp."""
    t = np.clip(depth_mm.astype(np.float32) / max_mm, 0.0, 1.0)
    red = np.clip(1.5 - np.abs(4 * t - 0.5), 0, 1)
    green = np.clip(1.5 - np.abs(4 * t - 1.75), 0, 1)
    blue = np.clip(1.5 - np.abs(4 * t - 3.0), 0, 1)
    rgb = (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)
    rgb[depth_mm == 0] = 0
    return rgb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("endpoint", help="tcp://host:port")
    parser.add_argument("output", help="PNG file to write")
    parser.add_argument("--max-mm", type=float, default=4500.0, help="depth shown as the far colour")
    args = parser.parse_args()
    with sk2.Client(args.endpoint) as client, client.subscribe() as frames:
        frame = frames.next(timeout=5.0)
    Image.fromarray(colour_map(frame.depth, args.max_mm), mode="RGB").save(args.output)
    valid = frame.depth[frame.depth > 0]
    print(
        f"{args.output}: {frame.depth.shape[1]}x{frame.depth.shape[0]}, frame {frame.sequence}, "
        f"{valid.min() if valid.size else 0}..{valid.max() if valid.size else 0} mm"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except sk2.Sk2Error as error:
        print(f"snapshot: {error}", file=sys.stderr)
        sys.exit(1)
