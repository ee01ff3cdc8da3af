"""Turns one depth frame into a point cloud with numpy and saves it as a PLY file.

    python examples/python/point_cloud.py tcp://localhost:5555 cloud.ply

Back-projection through a pinhole camera: a pixel (u, v) at depth z (metres) is the point
x = (u - cx) * z / fx, y = (v - cy) * z / fy, z. The servers do not send their intrinsics yet, so
the defaults come from the Kinect v2 depth camera's published field of view, 70.6 x 60 degrees
over 512 x 424 pixels: fx = 256 / tan(35.3 deg) = 361.6 px, fy = 212 / tan(30 deg) = 367.2 px,
principal point at the image centre (255.5, 211.5). Real devices differ by a few pixels (and
have lens distortion, ignored here); pass --fx/--fy/--cx/--cy with your device's own values
(libfreenect2: Freenect2Device::getIrCameraParams()) for metric accuracy.
"""

import argparse
import sys

import numpy as np

import streamkinect2 as sk2

import math

# From the field of view (see above): focal length = half the image size / tan(half the angle).
KINECT_V2_DEPTH_INTRINSICS = {
    "fx": round(256 / math.tan(math.radians(70.6 / 2)), 1),
    "fy": round(212 / math.tan(math.radians(60.0 / 2)), 1),
    "cx": 255.5,
    "cy": 211.5,
}


def point_cloud(depth_mm: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """(H, W) millimetres to an (N, 3) float32 array of points in metres, camera frame (x right,
    y down, z forward); pixels without a measurement are left out."""
    height, width = depth_mm.shape
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    z = depth_mm.astype(np.float32) / 1000.0
    valid = z > 0
    x = (u[valid] - cx) * z[valid] / fx
    y = (v[valid] - cy) * z[valid] / fy
    return np.stack([x, y, z[valid]], axis=-1)


def write_ply(path: str, points: np.ndarray) -> None:
    with open(path, "wb") as ply:
        ply.write(
            (
                "ply\nformat binary_little_endian 1.0\n"
                f"element vertex {len(points)}\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n"
            ).encode("ascii")
        )
        ply.write(points.astype("<f4").tobytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("endpoint", help="tcp://host:port")
    parser.add_argument("output", help="PLY file to write")
    for name, value in KINECT_V2_DEPTH_INTRINSICS.items():
        parser.add_argument(f"--{name}", type=float, default=value, help=f"default {value} px")
    args = parser.parse_args()
    with sk2.Client(args.endpoint) as client, client.subscribe() as frames:
        depth = frames.next(timeout=5.0).depth
    points = point_cloud(depth, args.fx, args.fy, args.cx, args.cy)
    write_ply(args.output, points)
    centre = points.mean(axis=0) if len(points) else np.zeros(3)
    print(f"{args.output}: {len(points)} points, centroid {[round(float(c), 3) for c in centre]} m")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except sk2.Sk2Error as error:
        print(f"point_cloud: {error}", file=sys.stderr)
        sys.exit(1)
