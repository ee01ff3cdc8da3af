"""Turns one depth frame into a point cloud, coloured when the sensor has colour, and saves it
as a PLY file.

    python examples/python/point_cloud.py tcp://localhost:5555 cloud.ply [--no-color]

With the sensor's calibration (`client.calibration()`: kinect-server sends it for the mock and
for a real Kinect v2), `streamkinect2.Registration` does what libfreenect2's registration does:
it undistorts the depth frame, back-projects every pixel with a depth to a point in metres
(x right, y down, z forward), and takes each point's colour from a colour frame, leaving black
the points the colour camera cannot see. The colour frame is the one that arrives after the
depth frame: close enough for a still scene, not for a moving one.

A server that sends no calibration (the 2014 server, replayed frames) gets a pinhole camera
without distortion, from the Kinect v2 depth camera's published field of view, 70.6 x 60
degrees over 512 x 424 pixels: fx = 256 / tan(35.3 deg) = 361.6 px, fy = 212 / tan(30 deg) =
367.2 px, principal point at the image centre. --fx/--fy/--cx/--cy replace those values.
"""

import argparse
import math
import sys
from typing import Optional

import numpy as np

import streamkinect2 as sk2

# From the field of view (see above): focal length = half the image size / tan(half the angle).
KINECT_V2_DEPTH_INTRINSICS = {
    "fx": round(256 / math.tan(math.radians(70.6 / 2)), 1),
    "fy": round(212 / math.tan(math.radians(60.0 / 2)), 1),
    "cx": 255.5,
    "cy": 211.5,
}


def pinhole_point_cloud(depth_mm: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """(H, W) millimetres to an (N, 3) float32 array of points in metres, camera frame (x right,
    y down, z forward), ignoring lens distortion; pixels without a measurement are left out."""
    height, width = depth_mm.shape
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    z = depth_mm.astype(np.float32) / 1000.0
    valid = z > 0
    x = (u[valid] - cx) * z[valid] / fx
    y = (v[valid] - cy) * z[valid] / fy
    return np.stack([x, y, z[valid]], axis=-1)


def write_ply(path: str, points: np.ndarray, colors: Optional[np.ndarray] = None) -> None:
    """A binary PLY of float32 x, y, z and, with `colors`, uchar red, green, blue per vertex."""
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertices = np.empty(len(points), dtype=fields)
    vertices["x"], vertices["y"], vertices["z"] = points.T
    properties = "property float x\nproperty float y\nproperty float z\n"
    if colors is not None:
        vertices["red"], vertices["green"], vertices["blue"] = colors.T
        properties += "property uchar red\nproperty uchar green\nproperty uchar blue\n"
    with open(path, "wb") as ply:
        header = (
            "ply\nformat binary_little_endian 1.0\n"
            f"element vertex {len(points)}\n{properties}end_header\n"
        )
        ply.write(header.encode("ascii"))
        ply.write(vertices.tobytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("endpoint", help="tcp://host:port")
    parser.add_argument("output", help="PLY file to write")
    parser.add_argument("--no-color", action="store_true", help="points only, no colour")
    for name, value in KINECT_V2_DEPTH_INTRINSICS.items():
        parser.add_argument(
            f"--{name}", type=float, default=value,
            help=f"without a calibration from the server (default {value} px)",
        )
    args = parser.parse_args()
    with sk2.Client(args.endpoint) as client:
        calibration = client.calibration()
        sensor = client.sensors[0]
        with client.subscribe(sensor.id) as frames:
            depth = frames.next(timeout=5.0).depth
        rgb = None
        if calibration is not None and "color" in sensor.endpoints and not args.no_color:
            with client.subscribe_color(sensor.id, queue=1) as colour:
                rgb = colour.next(timeout=10.0).rgb
    colors = None
    if calibration is None:
        points = pinhole_point_cloud(depth, args.fx, args.fy, args.cx, args.cy)
        how = "pinhole camera (the server sends no calibration)"
    else:
        height, width = depth.shape
        registration = sk2.Registration(calibration, width, height)
        if rgb is None:
            points = registration.point_cloud(depth)
            how = "the sensor's calibration"
        else:
            points, colors, has_color = registration.colored_point_cloud(depth, rgb)
            how = f"the sensor's calibration, {int(has_color.sum())} points coloured"
    write_ply(args.output, points, colors)
    centre = points.mean(axis=0) if len(points) else np.zeros(3)
    print(
        f"{args.output}: {len(points)} points, centroid "
        f"{[round(float(c), 3) for c in centre]} m; {how}"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except sk2.Sk2Error as error:
        print(f"point_cloud: {error}", file=sys.stderr)
        sys.exit(1)
