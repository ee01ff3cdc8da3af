"""A secure client written from docs/security.md ("Writing a secure client") alone, with pyzmq.

Usage: python_secure_client.py CONTROL_ENDPOINT SERVER_KEY_FILE CLIENT_KEY_FILE STRANGER_KEY_FILE

With the authorised client key it asks `who`, subscribes to the first device's `depth` endpoint
and receives frames (sk2 messages: a little-endian u32 uncompressed size, then LZ4). With the
stranger's key, which the server does not list, it must get no reply. Exits non-zero on any
failure.
"""

import json
import sys

import zmq
import zmq.auth

FRAMES = 10
TIMEOUT_MS = 5000
# A Kinect v2 frame, 512 x 424 pixels of 12 bits: the uncompressed size at the head of `depth`.
SK2_UNCOMPRESSED_BYTES = 512 * 424 * 12 // 8


def fail(message):
    print(f"python secure client: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def secure(socket, server_public, client_public, client_secret):
    socket.curve_serverkey = server_public
    socket.curve_publickey = client_public
    socket.curve_secretkey = client_secret


def main():
    control_endpoint, server_file, client_file, stranger_file = sys.argv[1:5]
    server_public, _ = zmq.auth.load_certificate(server_file)
    client_public, client_secret = zmq.auth.load_certificate(client_file)
    stranger_public, stranger_secret = zmq.auth.load_certificate(stranger_file)
    if not zmq.has("curve"):
        fail("this pyzmq's libzmq has no CURVE")
    context = zmq.Context()

    control = context.socket(zmq.REQ)
    control.setsockopt(zmq.LINGER, 0)
    control.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    secure(control, server_public, client_public, client_secret)
    control.connect(control_endpoint)
    control.send(b"\x03")
    try:
        kind, payload = control.recv_multipart()
    except zmq.Again:
        fail("no reply to `who` with the authorised key")
    if kind != b"\x04":
        fail(f"`who` answered with type {kind!r}")
    me = json.loads(payload)
    depth_endpoint = me["devices"][0]["endpoints"]["depth"]
    print(f"me: {me['name']}, depth at {depth_endpoint}")

    depth = context.socket(zmq.SUB)
    depth.setsockopt(zmq.LINGER, 0)
    depth.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    secure(depth, server_public, client_public, client_secret)
    depth.setsockopt(zmq.SUBSCRIBE, b"")
    depth.connect(depth_endpoint)
    for index in range(FRAMES):
        try:
            frame = depth.recv()
        except zmq.Again:
            fail(f"no depth frame {index}")
        size = int.from_bytes(frame[:4], "little")
        if size != SK2_UNCOMPRESSED_BYTES:
            fail(f"frame {index}: uncompressed size {size}, not {SK2_UNCOMPRESSED_BYTES}")
    print(f"received {FRAMES} encrypted depth frames")

    stranger = context.socket(zmq.REQ)
    stranger.setsockopt(zmq.LINGER, 0)
    stranger.setsockopt(zmq.RCVTIMEO, 2000)
    secure(stranger, server_public, stranger_public, stranger_secret)
    stranger.connect(control_endpoint)
    stranger.send(b"\x03")
    try:
        stranger.recv_multipart()
        fail("the server answered a client whose key it does not list")
    except zmq.Again:
        print("an unlisted client key got no reply")

    context.destroy(linger=0)


if __name__ == "__main__":
    main()
