"""10,000 frames through a subscription leave the process's resident memory flat: frames are
freed with their arrays, and the subscription's queues are bounded."""

import numpy as np

import streamkinect2 as sk2

from conftest import reference_frames, rss_bytes

FRAMES = 10_000
WARM_UP = 1_000
# Allocator noise and numpy's caches; a leak of even one 64 x 48 frame per frame received would
# be 60 MB.
ALLOWED_GROWTH_BYTES = 4 * 1024 * 1024


def test_ten_thousand_frames_leave_rss_flat(start_server, tmp_path):
    # Small frames, as fast as the server can: 10,000 frames in seconds.
    for index, depth in enumerate(reference_frames(count=3, width=64, height=48)):
        depth.astype("<u2").tofile(tmp_path / f"small-{index}-64x48.u16")
    server = start_server("--source", "replay", "--replay-dir", str(tmp_path), "--fps", "0")
    with sk2.Client(server.endpoint) as client, client.subscribe() as frames:
        total = 0
        checksum = 0
        baseline = None
        for count, frame in enumerate(frames, start=1):
            checksum += int(frame.depth[0, 0])
            assert frame.depth.shape == (48, 64)
            if count == WARM_UP:
                baseline = rss_bytes()
            if count == FRAMES:
                break
        total = count
        grown = rss_bytes() - baseline
        stats = frames.stats()
    print(f"{total} frames, RSS grew {grown / 1024:.0f} KiB after {WARM_UP}; {stats}")
    assert total == FRAMES and checksum > 0
    assert grown < ALLOWED_GROWTH_BYTES
