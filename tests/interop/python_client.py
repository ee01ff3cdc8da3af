#!/usr/bin/env python3
"""An independent streamkinect2 client, written from docs/protocol.md (the spec), not from
the Rust code: it proves a Rust server talks to third-party software.

It browses for `_kinect2._tcp.local.` with python-zeroconf, does who / me / ping (and one malformed
request) with pyzmq, subscribes to the first device's depth endpoint and decodes 30 frames with
lz4 + numpy, checking each against the original mock's picture (a wall and a swinging sphere).
The server offers depth_v2, ir_v2, color and a calibration as well; the client checks they are
listed and otherwise ignores them, as a 2014 client does.

Usage: python_client.py EXPECTED_SERVER_NAME   (run inside a private network namespace)
Exit status 0 when every check passes; otherwise a one-line reason on stderr and status 1.
"""

import json
import sys
import threading
import time

import lz4.block
import numpy as np
import zmq
from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

SERVICE_TYPE = "_kinect2._tcp.local."
WIDTH, HEIGHT = 512, 424
TIMEOUT_S = 15
FRAMES = 30


class Found(ServiceListener):
    def __init__(self, name):
        self.fullname = f"{name}.{SERVICE_TYPE}"
        self.event = threading.Event()

    def add_service(self, zc, type_, name):
        if name == self.fullname:
            self.event.set()

    def update_service(self, zc, type_, name):
        self.add_service(zc, type_, name)

    def remove_service(self, zc, type_, name):
        pass


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def request(socket, frames):
    socket.send_multipart(frames)
    if not socket.poll(TIMEOUT_S * 1000):
        raise AssertionError(f"no reply to {frames!r}")
    return socket.recv_multipart()


def decode_depth(message):
    """Section 4: u32_le(len(raw)) || lz4_block(raw); raw = high bytes || packed low nibbles."""
    pixels = WIDTH * HEIGHT
    check(message[:4] == b"\x00\xf8\x04\x00", f"size prefix {message[:4].hex()}")
    raw = np.frombuffer(lz4.block.decompress(message), dtype=np.uint8)
    check(raw.size == pixels * 3 // 2, f"raw size {raw.size}")
    high = raw[:pixels].astype(np.uint16)
    packed = raw[pixels:]
    low = np.empty(pixels, dtype=np.uint16)
    low[0::2] = packed >> 4  # even column in the high nibble
    low[1::2] = packed & 0x0F
    return ((high << 4) | low).reshape(HEIGHT, WIDTH)


def mock_frame(dx):
    """Section 6: min(wall, roll(sphere, dx, along columns))."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    sphere = 500 + np.trunc(np.hypot(cols - WIDTH // 2, rows - HEIGHT // 2))
    wall = 1000 + (rows >> 1)
    return np.minimum(wall, np.roll(sphere, dx, axis=1)).astype(np.uint16)


def main():
    name = sys.argv[1]
    zc = Zeroconf()
    try:
        found = Found(name)
        ServiceBrowser(zc, SERVICE_TYPE, found)
        check(found.event.wait(TIMEOUT_S), f"service {found.fullname!r} not found")
        info = zc.get_service_info(SERVICE_TYPE, found.fullname, timeout=TIMEOUT_S * 1000)
        check(info is not None, "service did not resolve")
        addresses = info.parsed_addresses()
        check(addresses, "no A record")
        check(info.server.endswith(".local."), f"SRV target {info.server!r}")
        port = info.port
        print(f"found {found.fullname} at {addresses} port {port}, target {info.server}")
    finally:
        zc.close()

    # The SRV target (<host>.local) needs an mDNS resolver; use the A record's address instead.
    address = addresses[0]
    context = zmq.Context()
    req = context.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(f"tcp://{address}:{port}")

    reply = request(req, [b"\x03"])
    check(len(reply) == 2 and reply[0] == b"\x04", f"who -> {reply!r}")
    me = json.loads(reply[1].decode("utf-8"))
    check(list(me) == ["version", "name", "endpoints", "devices"], f"me keys {list(me)}")
    check(me["version"] == 1, f"version {me['version']}")
    check(me["name"] == name, f"name {me['name']!r}")
    control = me["endpoints"]["control"]
    check(control.endswith(f":{port}"), f"control endpoint {control} vs SRV port {port}")
    check(control[len("tcp://"):].rsplit(":", 1)[0] + "." == info.server,
          f"control host of {control} is not the SRV target {info.server}")
    check(len(me["devices"]) >= 1, "no devices")
    device = me["devices"][0]
    check(len(device["id"]) == 32 and all(c in "0123456789abcdef" for c in device["id"]),
          f"id {device['id']!r}")
    depth = device["endpoints"]["depth"]
    # The server offers infrared, colour and the calibration too (docs/protocol.md 3.3, 5.6,
    # 5.7). Like a 2014 client, the rest of this one ignores them and uses depth only.
    missing = {"depth_v2", "ir_v2", "color"} - set(device["endpoints"])
    check(not missing, f"the server offers no {sorted(missing)}: {device['endpoints']}")
    check("calibration" in device, "no calibration in the device record")
    print(f"me: {me}")

    check(request(req, [b"\x01"]) == [b"\x02"], "ping did not get a one-frame pong")
    error = request(req, [b"\x7f"])
    check(error[0] == b"\x00" and json.loads(error[1])["code"] == 400, f"bad type -> {error!r}")
    check(request(req, [b"\x01"]) == [b"\x02"], "no pong after an error")

    depth_port = depth.rsplit(":", 1)[1]
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://{address}:{depth_port}")
    shifts = []
    started = time.monotonic()
    for index in range(FRAMES):
        check(sub.poll(TIMEOUT_S * 1000), f"no depth frame {index}")
        frame = decode_depth(sub.recv())
        # The sphere's centre (500 mm) sits on the middle row, shifted by dx.
        centre = np.flatnonzero(frame[HEIGHT // 2] == 500)
        check(centre.size == 1, f"frame {index}: no unique sphere centre")
        dx = int(centre[0]) - WIDTH // 2
        check(np.array_equal(frame, mock_frame(dx)), f"frame {index} (dx={dx}) is not the mock")
        shifts.append(dx)
    elapsed = time.monotonic() - started
    print(f"decoded {FRAMES} frames in {elapsed:.2f} s, sphere shifts {shifts}")
    sub.close()
    req.close()
    context.term()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"python_client: FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    print("python_client: OK")
