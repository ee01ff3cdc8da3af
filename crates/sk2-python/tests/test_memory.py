"""Many frames through a subscription leave the process's resident memory flat: frames are
freed with their arrays, and the subscription's queues are bounded. Depth: 10,000 small frames;
colour: full HD frames of 6 MB each, taken slowly so that the queue overflows."""

import time

import numpy as np

import streamkinect2 as sk2

from conftest import COLOR_SHAPE, reference_frames, rss_bytes

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


COLOR_FRAMES = 60
COLOR_WARM_UP = 10
COLOR_FRAME_BYTES = COLOR_SHAPE[0] * COLOR_SHAPE[1] * 3
# Allocator noise for 6 MB buffers; a leak of one colour frame in ten would be 30 MB.
COLOR_ALLOWED_GROWTH_BYTES = 4 * COLOR_FRAME_BYTES


def test_colour_frames_leave_rss_flat_while_a_slow_reader_drops_them(start_server, streams_dir):
    # Pre-encoded JPEGs as fast as the server can send them; each decodes to 6 MB of RGB.
    server = start_server("--source", "replay", "--replay-dir", str(streams_dir), "--fps", "0")
    with sk2.Client(server.endpoint) as client, client.subscribe_color(queue=2) as frames:
        checksum = 0
        baseline = None
        peak = 0
        for count, frame in enumerate(frames, start=1):
            assert frame.rgb.shape == COLOR_SHAPE + (3,)
            checksum += int(frame.rgb[540, 960, 0])
            # A reader slower than the stream: the queue stays full, and drops its oldest.
            time.sleep(0.05)
            if count == COLOR_WARM_UP:
                baseline = rss_bytes()
            if baseline is not None:
                peak = max(peak, rss_bytes())
            if count == COLOR_FRAMES:
                break
        grown = peak - baseline
        stats = frames.stats()
    print(f"{COLOR_FRAMES} colour frames, RSS peak {grown / 2**20:.1f} MiB over the level after "
          f"{COLOR_WARM_UP}; {stats}")
    assert checksum > 0
    # Frames were thrown away rather than queued: dropped decoded, or skipped undecoded.
    assert stats["dropped"] + stats["skipped"] > 0
    assert grown < COLOR_ALLOWED_GROWTH_BYTES
