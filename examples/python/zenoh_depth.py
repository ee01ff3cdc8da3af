"""Depth frames from Zenoh, with the Zenoh project's own Python API (`pip install eclipse-zenoh`)
and streamkinect2's codecs: what a consumer reads behind a router, in the cloud or on another site,
where a streamkinect2 bridge (`kinect-server --zenoh` or `kinect-zenoh`) publishes
(docs/distributed.md).

Keys: `kinect2/<server>` (liveliness token), `kinect2/<server>/me` (queryable: the server's `me`
JSON), `kinect2/<server>/<sensor>/depth_v2` (every depth_v2 message, unchanged). Server and
sensor ids are written as key chunks, with `%XX` for reserved characters (docs/protocol.md).

Usage: zenoh_depth.py ENDPOINT [--frames N]     e.g. zenoh_depth.py tcp/127.0.0.1:7447
Prints one line per frame: server, sensor, sequence, centre depth, and the frames lost so far.
"""

import argparse
import json

import zenoh

from streamkinect2 import codecs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", help="a Zenoh router or bridge, e.g. tcp/127.0.0.1:7447")
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()

    config = zenoh.Config()
    config.insert_json5("mode", '"client"')
    config.insert_json5("connect/endpoints", json.dumps([args.endpoint]))
    # Find peers only through the endpoint given: no multicast leaves the machine.
    config.insert_json5("scouting/multicast/enabled", "false")

    with zenoh.open(config) as session:
        # The servers whose bridges are alive, from their liveliness tokens.
        servers = [
            str(reply.ok.key_expr).split("/")[1]
            for reply in session.liveliness().get("kinect2/*", timeout=5.0)
            if reply.ok is not None
        ]
        if not servers:
            raise SystemExit("no streamkinect2 server on Zenoh")
        server = servers[0]
        me = next(
            json.loads(reply.ok.payload.to_bytes())
            for reply in session.get(f"kinect2/{server}/me", timeout=5.0)
            if reply.ok is not None
        )
        sensor = me["devices"][0]["id"]
        print(f"{me['name']} ({server}): sensor {sensor}", flush=True)

        last, lost = None, 0
        frames = session.declare_subscriber(f"kinect2/{server}/{sensor}/depth_v2")
        for count, sample in enumerate(frames, start=1):
            depth, header = codecs.decode_depth_v2(sample.payload.to_bytes())
            if last is not None and header.sequence > last + 1:
                lost += header.sequence - last - 1
            last = header.sequence
            centre = depth[depth.shape[0] // 2, depth.shape[1] // 2]
            print(f"{server} {sensor[:8]} #{header.sequence} {centre} mm lost {lost}", flush=True)
            if count >= args.frames:
                break
        frames.undeclare()


if __name__ == "__main__":
    main()
