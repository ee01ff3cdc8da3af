#!/usr/bin/env python3
"""An independent streamkinect2 server, written from the spec (docs/protocol.md), not from the
Rust code: it proves our client and browser talk to third-party software.

pyzmq REP control socket (who / me / ping, error 400 for anything else), one PUB depth socket
publishing frames encoded with numpy + python-lz4 (12-bit packing + LZ4 block, docs/protocol.md
section 4), announced with python-zeroconf as `<name>._kinect2._tcp.local.` on host
`pyserver.local.` (a name only mDNS knows, so the client must use the address mDNS gives).

Frame k is `d[r][c] = (r * 7 + c * 3 + k * 11) % 4096`: below 4096 mm, so the lossy format keeps it
exactly and the client can check every pixel.

Usage: python_server.py NAME   (run inside a private network namespace; stops on SIGTERM/SIGINT)
Prints `ready` on stdout once announced.
"""

import json
import signal
import socket
import sys
import time

import lz4.block
import numpy as np
import zmq
from zeroconf import ServiceInfo, Zeroconf

SERVICE_TYPE = "_kinect2._tcp.local."
HOST = "pyserver.local"
ADDRESS = "127.0.0.1"
WIDTH, HEIGHT = 512, 424
FRAME_PERIOD_S = 1 / 30
DEVICE_ID = "0123456789abcdef0123456789abcdef"

TYPE_ERROR, TYPE_PING, TYPE_PONG, TYPE_WHO, TYPE_ME = 0, 1, 2, 3, 4


def frame(k):
    rows = np.arange(HEIGHT, dtype=np.uint32)[:, None]
    cols = np.arange(WIDTH, dtype=np.uint32)[None, :]
    return ((rows * 7 + cols * 3 + k * 11) % 4096).astype(np.uint16)


def encode(depth):
    high = ((depth >> 4) & 0xFF).astype(np.uint8)
    low = (depth & 0x0F).astype(np.uint8)
    packed = (low[:, 0::2] << 4) | low[:, 1::2]
    raw = high.tobytes() + packed.astype(np.uint8).tobytes()
    return lz4.block.compress(raw, store_size=True)


def reply(frames, me):
    if len(frames) not in (1, 2) or len(frames[0]) != 1:
        return error("malformed request")
    kind = frames[0][0]
    if kind == TYPE_PING:
        return [bytes([TYPE_PONG])]
    if kind == TYPE_WHO:
        return [bytes([TYPE_ME]), json.dumps(me).encode()]
    return error(f"unexpected message type {kind}")


def error(reason):
    return [bytes([TYPE_ERROR]), json.dumps({"code": 400, "reason": reason}).encode()]


def main():
    name = sys.argv[1]
    context = zmq.Context()
    rep = context.socket(zmq.REP)
    rep.setsockopt(zmq.LINGER, 0)
    control_port = rep.bind_to_random_port(f"tcp://{ADDRESS}")
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.SNDHWM, 4)
    depth_port = pub.bind_to_random_port(f"tcp://{ADDRESS}")
    me = {
        "version": 1,
        "name": name,
        "endpoints": {"control": f"tcp://{HOST}:{control_port}"},
        "devices": [
            {"id": DEVICE_ID, "endpoints": {"depth": f"tcp://{HOST}.:{depth_port}"}}
        ],
    }

    zc = Zeroconf(interfaces=[ADDRESS])
    info = ServiceInfo(
        SERVICE_TYPE,
        f"{name}.{SERVICE_TYPE}",
        addresses=[socket.inet_aton(ADDRESS)],
        port=control_port,
        properties={},
        server=f"{HOST}.",
    )
    zc.register_service(info)
    print("ready", flush=True)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    poller = zmq.Poller()
    poller.register(rep, zmq.POLLIN)
    k = 0
    next_frame = time.monotonic()
    try:
        while not stopping:
            timeout_ms = max(0, int((next_frame - time.monotonic()) * 1000))
            if dict(poller.poll(timeout_ms)).get(rep):
                rep.send_multipart(reply(rep.recv_multipart(), me))
            if time.monotonic() >= next_frame:
                pub.send(encode(frame(k)))
                k += 1
                next_frame += FRAME_PERIOD_S
    finally:
        zc.unregister_service(info)
        zc.close()
        rep.close()
        pub.close()
        context.term()


if __name__ == "__main__":
    main()
