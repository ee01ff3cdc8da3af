"""The Python examples run against a real server and produce what they say."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import PYTHON, REPO, pillow_image, record_binary, require_or_skip, server_binary

EXAMPLES = REPO / "examples" / "python"


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [PYTHON, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_fps_prints_a_line_a_second(server):
    lines = run("fps.py", server.endpoint, "--seconds", "2.5").splitlines()
    assert "on depth_v2" in lines[0]
    assert len([line for line in lines if " fps " in line]) >= 2


def test_snapshot_writes_a_png(server, tmp_path):
    try:
        from PIL import Image
    except ImportError:
        print("test_snapshot: skipped: needs Pillow (pip install pillow)", file=sys.stderr)
        pytest.skip("needs Pillow")
    output = tmp_path / "depth.png"
    run("snapshot.py", server.endpoint, str(output))
    with Image.open(output) as image:
        assert image.size == (512, 424) and image.mode == "RGB"
        assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 10


def read_ply(path) -> np.ndarray:
    """The vertices of a binary PLY as a structured array (float x, y, z; uchar colours)."""
    data = path.read_bytes()
    header, body = data.split(b"end_header\n", 1)
    count = int(header.split(b"element vertex ")[1].split(b"\n")[0])
    types = {b"float": "<f4", b"uchar": "u1"}
    fields = [
        (line.split()[2].decode(), types[line.split()[1]])
        for line in header.splitlines()
        if line.startswith(b"property ")
    ]
    vertices = np.frombuffer(body, dtype=fields)
    assert len(vertices) == count
    return vertices


def test_point_cloud_writes_a_coloured_ply_from_the_sensors_calibration(server, tmp_path):
    output = tmp_path / "cloud.ply"
    stdout = run("point_cloud.py", server.endpoint, str(output))
    vertices = read_ply(output)
    assert f"{len(vertices)} points" in stdout and "the sensor's calibration" in stdout
    assert 0 < len(vertices) <= 512 * 424
    points = np.stack([vertices["x"], vertices["y"], vertices["z"]], axis=-1)
    # Millimetres became metres, and the mock's scene lies ahead of the camera, around its axis.
    assert 0.3 < points[:, 2].min() and points[:, 2].max() <= 8.0
    assert points[:, 0].min() < 0 < points[:, 0].max() and points[:, 1].min() < 0 < points[:, 1].max()
    colours = np.stack([vertices["red"], vertices["green"], vertices["blue"]], axis=-1)
    coloured = int(stdout.split(" points coloured")[0].rsplit(" ", 1)[1])
    assert coloured > len(vertices) // 2
    assert len(np.unique(colours, axis=0)) > 10  # the mock's picture, not one colour


def test_point_cloud_falls_back_to_a_pinhole_without_calibration(start_server, replay_dir, tmp_path):
    server = start_server("--source", "replay", "--replay-dir", str(replay_dir))
    output = tmp_path / "cloud.ply"
    stdout = run("point_cloud.py", server.endpoint, str(output))
    vertices = read_ply(output)
    assert "pinhole" in stdout and vertices.dtype.names == ("x", "y", "z")
    # The replayed frames' pixels with a depth (8 % are holes), each a point.
    assert 0.85 * 512 * 424 < len(vertices) < 0.95 * 512 * 424


def test_zenoh_depth_reads_a_bridge_with_eclipse_zenoh(start_server):
    """examples/python/zenoh_depth.py: eclipse-zenoh and streamkinect2.codecs read the keys a
    `kinect-server --zenoh` publishes (docs/distributed.md)."""
    try:
        import zenoh  # noqa: F401
    except ImportError:
        require_or_skip("needs eclipse-zenoh (pip install eclipse-zenoh)")
    # A build without Zenoh refuses --zenoh before anything else; with it, the bad --fps fails.
    probe = subprocess.run(
        [server_binary(), "--zenoh", "--no-announce", "--fps", "-1"],
        capture_output=True, text=True, timeout=30,
    )
    if "without Zenoh" in probe.stderr:
        require_or_skip("needs a kinect-server built with `cargo build --features zenoh`")
    port = free_port()
    start_server(
        "--fps", "30", "--zenoh", "--zenoh-server-id", "py-test",
        "--zenoh-listen", f"tcp/127.0.0.1:{port}",
    )
    lines = run("zenoh_depth.py", f"tcp/127.0.0.1:{port}", "--frames", "5").splitlines()
    assert "(py-test): sensor" in lines[0]
    frames = [line for line in lines[1:] if line.startswith("py-test ")]
    assert len(frames) == 5
    sequences = [int(line.split("#")[1].split()[0]) for line in frames]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_read_recording_summarises_every_stream_of_a_kinect_record_file(server, tmp_path):
    try:
        import mcap  # noqa: F401  (the example's reader)
    except ImportError:
        require_or_skip("needs the mcap package (pip install mcap)")
    recorder = record_binary()
    recording = tmp_path / "all.mcap"
    done = subprocess.run(
        [recorder, "--connect", server.endpoint, "-q", "--ir", "--color", "--duration", "3",
         "-o", str(recording)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    first_jpeg = tmp_path / "first.jpg"
    lines = run("read_recording.py", str(recording), "--save-jpeg", str(first_jpeg)).splitlines()
    by_stream = {line.split(":")[0].rsplit("/", 1)[1]: line for line in lines}
    assert set(by_stream) == {"depth_v2", "ir_v2", "color"}, lines
    assert "512x424 medhuf, median" in by_stream["depth_v2"] and " mm" in by_stream["depth_v2"]
    assert "512x424 medhuf, median" in by_stream["ir_v2"] and "amplitude" in by_stream["ir_v2"]
    assert "JPEG of" in by_stream["color"]
    image = pillow_image()
    with image.open(first_jpeg) as picture:
        assert picture.size == (1920, 1080)
