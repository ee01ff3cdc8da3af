"""The Python examples run against a real server and produce what they say."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import PYTHON, REPO

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


def test_point_cloud_writes_a_ply_of_the_valid_pixels(server, tmp_path):
    output = tmp_path / "cloud.ply"
    stdout = run("point_cloud.py", server.endpoint, str(output))
    data = output.read_bytes()
    header, body = data.split(b"end_header\n", 1)
    count = int(header.split(b"element vertex ")[1].split(b"\n")[0])
    assert f"{count} points" in stdout and 0 < count <= 512 * 424
    points = np.frombuffer(body, dtype="<f4").reshape(count, 3)
    # Millimetres became metres, and the mock's scene lies ahead of the camera, around its axis.
    assert 0.3 < points[:, 2].min() and points[:, 2].max() <= 8.0
    assert points[:, 0].min() < 0 < points[:, 0].max() and points[:, 1].min() < 0 < points[:, 1].max()
