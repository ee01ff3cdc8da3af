"""Fixtures: a real kinect-server started per test, on loopback, without mDNS unless asked.

The server binary comes from $SK2_KINECT_SERVER, else the workspace's target/debug or
target/release (`cargo build --bin kinect-server`).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
from typing import Iterator, List, Optional, Sequence

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT_S = 30.0


def server_binary() -> str:
    explicit = os.environ.get("SK2_KINECT_SERVER")
    if explicit:
        return explicit
    for profile in ("debug", "release"):
        candidate = REPO / "target" / profile / "kinect-server"
        if candidate.exists():
            return str(candidate)
    pytest.fail(
        "kinect-server not found: run `cargo build --bin kinect-server` or set SK2_KINECT_SERVER",
        pytrace=False,
    )


def record_binary() -> str:
    """`kinect-record`, beside the server binary (cargo builds both)."""
    candidate = pathlib.Path(server_binary()).with_name("kinect-record")
    if not candidate.exists():
        pytest.fail(
            f"{candidate} not found: run `cargo build --bin kinect-record`", pytrace=False
        )
    return str(candidate)


def keygen_binary() -> str:
    """kinect-keygen: from $SK2_KINECT_KEYGEN, else beside the server binary (cargo builds both)."""
    explicit = os.environ.get("SK2_KINECT_KEYGEN")
    if explicit:
        return explicit
    candidate = pathlib.Path(server_binary()).with_name("kinect-keygen")
    if candidate.exists():
        return str(candidate)
    pytest.fail(
        "kinect-keygen not found: run `cargo build --bin kinect-keygen` or set SK2_KINECT_KEYGEN",
        pytrace=False,
    )


def make_key_pair(directory: pathlib.Path, name: str) -> tuple:
    """Makes a CurveZMQ key pair with kinect-keygen; returns (secret file, public file)."""
    subprocess.run(
        [keygen_binary(), "--dir", str(directory), "--name", name],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return directory / f"{name}.key_secret", directory / f"{name}.key"


class Server:
    """A running kinect-server; `endpoint` is its control endpoint."""

    def __init__(self, args: Sequence[str], announce: bool = False) -> None:
        command = [server_binary(), "--bind", "127.0.0.1", *args]
        if not announce:
            command.append("--no-announce")
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        self.stderr: List[str] = []
        # Drained on a thread so the server never blocks on a full pipe; shown if it fails.
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.endpoint = self._read_endpoint()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def _read_endpoint(self) -> str:
        assert self.process.stdout is not None
        timer = threading.Timer(STARTUP_TIMEOUT_S, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                if line.startswith("control: "):
                    threading.Thread(target=self._drain_stdout, daemon=True).start()
                    return line[len("control: ") :].strip()
        finally:
            timer.cancel()
        self.process.wait()
        raise RuntimeError(
            f"kinect-server ended ({self.process.returncode}) without printing its endpoint: "
            + "".join(self.stderr)
        )

    def _drain_stdout(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def kill(self) -> None:
        """SIGKILL: no clean shutdown of any socket, as in a crash."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (mDNS goodbye, sockets closed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_server() -> Iterator:
    """Starts kinect-servers with the given arguments; stops them all after the test."""
    started: List[Server] = []

    def start(*args: str, announce: bool = False) -> Server:
        server = Server(args, announce=announce)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server) -> Server:
    """One mock sensor at 30 fps."""
    return start_server("--fps", "30")


def reference_frames(count: int = 3, width: int = 512, height: int = 424, seed: int = 7) -> List[np.ndarray]:
    """Depth frames like a time-of-flight sensor's: a smooth scene, noise, holes (0) and far
    values (>= 4096 mm, which the original `depth` format cannot carry)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    frames = []
    for index in range(count):
        scene = 1500 + 6 * cols + 4 * rows + 300 * index
        noise = rng.integers(-8, 9, size=(height, width))
        depth = np.clip(scene + noise, 0, 8000).astype(np.uint16)
        depth[rng.random((height, width)) < 0.08] = 0
        frames.append(depth)
    return frames


@pytest.fixture
def replay_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A directory of three known 512 x 424 frames for `--source replay`."""
    for index, depth in enumerate(reference_frames()):
        height, width = depth.shape
        depth.astype("<u2").tofile(tmp_path / f"ref-{index}-{width}x{height}.u16")
    return tmp_path


# A replay's frames for the other streams: `<stem>.ir.u16` and `<stem>.jpg` beside `<stem>.u16`.
COLOR_SHAPE = (1080, 1920)


def reference_ir(count: int = 3, width: int = 512, height: int = 424, seed: int = 11) -> List[np.ndarray]:
    """Infrared amplitudes over the whole u16 range (a retro-reflector saturates)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 65536, size=(height, width), dtype=np.uint16) for _ in range(count)]


def require_or_skip(reason: str) -> None:
    """Skips loudly (one line on stderr), or fails where CI requires every tool
    (SK2_REQUIRE_TOOLS=1)."""
    if os.environ.get("SK2_REQUIRE_TOOLS") == "1":
        pytest.fail(reason, pytrace=False)
    print(f"skipped: {reason}", file=sys.stderr)
    pytest.skip(reason)


def pillow_image():
    """Pillow's Image module, or a loud skip."""
    try:
        from PIL import Image
    except ImportError:
        require_or_skip("needs Pillow (pip install pillow)")
    return Image


def reference_jpegs(count: int = 3) -> List[bytes]:
    """1920 x 1080 JPEG files of smooth colour gradients (Pillow, quality 90)."""
    image_module = pillow_image()
    import io

    height, width = COLOR_SHAPE
    rows, cols = np.mgrid[0:height, 0:width]
    jpegs = []
    for index in range(count):
        rgb = np.stack(
            [(cols * 255 // width + 40 * index) % 256, rows * 255 // height, (cols + rows) % 256],
            axis=-1,
        ).astype(np.uint8)
        out = io.BytesIO()
        image_module.fromarray(rgb).save(out, format="JPEG", quality=90)
        jpegs.append(out.getvalue())
    return jpegs


@pytest.fixture
def streams_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A replay directory of three frames with all three streams: depth (`reference_frames`),
    infrared (`reference_ir`) and colour (`reference_jpegs`)."""
    for index, (depth, ir, jpeg) in enumerate(
        zip(reference_frames(), reference_ir(), reference_jpegs())
    ):
        height, width = depth.shape
        stem = tmp_path / f"ref-{index}-{width}x{height}"
        depth.astype("<u2").tofile(f"{stem}.u16")
        ir.astype("<u2").tofile(f"{stem}.ir.u16")
        pathlib.Path(f"{stem}.jpg").write_bytes(jpeg)
    return tmp_path


def free_ports() -> tuple:
    """A control port and the first of four consecutive free depth ports (the mock sensor's
    depth, depth_v2, ir_v2 and color streams count up from it): all bound at once, then released."""
    streams = 4
    while True:
        with contextlib.ExitStack() as held:
            control, depth = (held.enter_context(socket.socket()) for _ in range(2))
            control.bind(("127.0.0.1", 0))
            depth.bind(("127.0.0.1", 0))
            depth_port = depth.getsockname()[1]
            if depth_port + streams - 1 > 65535:
                continue
            try:
                for port in range(depth_port + 1, depth_port + streams):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
            return control.getsockname()[1], depth_port


def only_loopback() -> bool:
    """True inside a private network namespace whose only interface is lo: mDNS cannot leave."""
    # Asks the kernel about this process's namespace (/sys/class/net shows the mounting one's).
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


PYTHON = sys.executable
