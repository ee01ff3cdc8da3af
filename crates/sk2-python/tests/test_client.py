"""Client and subscriptions against a real kinect-server: control requests, exact frames on both
endpoints, counters, errors, and the GIL released while waiting."""

import datetime
import threading
import time

import numpy as np
import pytest

import streamkinect2 as sk2
from streamkinect2 import codecs

from conftest import reference_frames

WAIT_S = 10.0


def test_a_client_learns_name_and_sensors_and_pings(start_server):
    server = start_server("--name", "Py Test", "--sensors", "2")
    with sk2.Client(server.endpoint) as client:
        assert client.name == "Py Test"
        assert client.connected
        sensors = client.sensors
        assert len(sensors) == 2
        assert all(len(sensor.id) == 32 for sensor in sensors)
        assert all({"depth", "depth_v2"} <= set(sensor.endpoints) for sensor in sensors)
        assert sensors[0].codec == "medhuf"
        rtt = client.ping()
        assert 0 < rtt < 5
        assert "Py Test" in repr(client)
    with pytest.raises(sk2.Unreachable, match="closed"):
        client.ping()



def test_leaving_with_by_an_exception_closes_everything_and_lets_the_exception_through(
    start_server,
):
    server = start_server()
    with pytest.raises(KeyError, match="from inside"):
        with sk2.Client(server.endpoint) as client, client.subscribe() as frames:
            with sk2.watch() as watcher:
                assert all(isinstance(held, sk2.Closeable) for held in (client, frames, watcher))
                frames.next(timeout=WAIT_S)
                raise KeyError("from inside")
    with pytest.raises(sk2.Unreachable, match="closed"):
        client.ping()
    with pytest.raises(sk2.Sk2Error, match="closed"):
        frames.next(timeout=0.1)
    with pytest.raises(sk2.Sk2Error, match="closed"):
        watcher.next(timeout=0.1)

def test_exact_frames_on_depth_v2_equal_the_replayed_frames(start_server, replay_dir):
    server = start_server("--source", "replay", "--replay-dir", str(replay_dir), "--fps", "30")
    references = reference_frames()
    with sk2.Client(server.endpoint) as client, client.subscribe() as frames:
        assert frames.endpoint == "depth_v2"
        seen = set()
        last_sequence = None
        started = time.time_ns()
        for _ in range(12):
            frame = frames.next(timeout=WAIT_S)
            assert frame.depth.dtype == np.uint16 and frame.depth.shape == (424, 512)
            matches = [i for i, ref in enumerate(references) if np.array_equal(frame.depth, ref)]
            assert len(matches) == 1, "a depth_v2 frame differs from every replayed frame"
            seen.add(matches[0])
            assert frame.codec == "medhuf"
            assert frame.sensor_id == client.sensors[0].id
            if last_sequence is not None:
                assert frame.sequence > last_sequence
            last_sequence = frame.sequence
            assert abs(frame.capture_time_ns - started) < 60e9
            assert frame.capture_time.tzinfo is datetime.timezone.utc
            assert frame.capture_time.timestamp() == pytest.approx(frame.capture_time_ns / 1e9, abs=1e-5)
        assert seen == {0, 1, 2}
        assert frames.received >= 12


def test_exact_frames_on_the_original_endpoint_equal_the_rust_codec(start_server, replay_dir):
    server = start_server("--source", "replay", "--replay-dir", str(replay_dir), "--fps", "30")
    # What the Rust decoder makes of the original format: the low 12 bits of every pixel.
    expected = [codecs.decode_sk2(codecs.encode_sk2(ref)) for ref in reference_frames()]
    assert all(np.array_equal(e, ref & 0x0FFF) for e, ref in zip(expected, reference_frames()))
    with sk2.Client(server.endpoint) as client, client.subscribe(endpoint="depth") as frames:
        assert frames.endpoint == "depth"
        seen = set()
        for _, frame in zip(range(9), frames):
            matches = [i for i, e in enumerate(expected) if np.array_equal(frame.depth, e)]
            assert len(matches) == 1, "a depth frame differs from every replayed frame"
            seen.add(matches[0])
            assert (frame.codec, frame.sequence, frame.capture_time) == ("sk2", None, None)
        assert seen == {0, 1, 2}
        assert frames.lost == 0


def test_every_codec_the_server_offers_arrives_exactly(start_server, replay_dir):
    references = reference_frames()
    for codec in ("raw", "rvl", "medans"):
        server = start_server("--source", "replay", "--replay-dir", str(replay_dir), "--codec", codec)
        with sk2.Client(server.endpoint) as client, client.subscribe() as frames:
            frame = frames.next(timeout=WAIT_S)
            assert frame.codec == codec
            assert any(np.array_equal(frame.depth, ref) for ref in references)
        server.stop()


def test_a_server_without_depth_v2_is_read_on_depth_only_when_asked(start_server):
    server = start_server("--codec", "none")
    with sk2.Client(server.endpoint) as client:
        with pytest.raises(sk2.Sk2Error, match="no depth_v2 endpoint"):
            client.subscribe()
        with client.subscribe(endpoint="depth") as frames:
            assert frames.next(timeout=WAIT_S).depth.shape == (424, 512)


def test_unknown_sensors_and_endpoints_are_typed_errors(server):
    with sk2.Client(server.endpoint) as client:
        with pytest.raises(sk2.UnknownSensor, match="no device"):
            client.subscribe("0" * 32)
        with pytest.raises(ValueError, match="endpoint"):
            client.subscribe(endpoint="rgb")


def test_nobody_listening_is_unreachable_within_the_timeout():
    started = time.monotonic()
    with pytest.raises(sk2.Unreachable, match="no answer from tcp://127.0.0.1:9"):
        sk2.Client("tcp://127.0.0.1:9", timeout=0.5)
    assert time.monotonic() - started < 3
    with pytest.raises(sk2.Unreachable, match="not of the form"):
        sk2.Client("localhost:5555")
    with pytest.raises(ValueError, match="seconds"):
        sk2.Client("tcp://127.0.0.1:9", timeout=-1)


def test_next_times_out_and_a_closed_subscription_ends_iteration(start_server):
    server = start_server("--fps", "0.5")
    with sk2.Client(server.endpoint) as client:
        frames = client.subscribe()
        frames.next(timeout=WAIT_S)  # the first frame; the next is 2 s away
        with pytest.raises(sk2.Timeout, match="no frame"):
            frames.next(timeout=0.2)
        frames.close()
        assert list(frames) == []
        with pytest.raises(sk2.Sk2Error, match="closed"):
            frames.next(timeout=0.1)


def test_close_from_another_thread_wakes_a_blocked_iterator(start_server):
    server = start_server("--fps", "0.2")
    with sk2.Client(server.endpoint) as client:
        frames = client.subscribe()
        frames.next(timeout=WAIT_S)
        threading.Timer(0.3, frames.close).start()
        started = time.monotonic()
        assert list(frames) == []
        assert time.monotonic() - started < 2


def test_another_python_thread_runs_while_next_blocks(start_server):
    """If next() held the GIL while waiting, the counting thread would stand still."""
    server = start_server("--fps", "1")
    with sk2.Client(server.endpoint) as client, client.subscribe() as frames:
        frames.next(timeout=WAIT_S)
        counts = []
        stop = threading.Event()

        def count():
            n = 0
            while not stop.is_set():
                n += 1
                counts.append(n)

        worker = threading.Thread(target=count)
        worker.start()
        time.sleep(0.05)
        before = len(counts)
        started = time.monotonic()
        with pytest.raises(sk2.Timeout):
            frames.next(timeout=0.5)  # the next frame is about 1 s away
        blocked_s = time.monotonic() - started
        during = len(counts) - before
        stop.set()
        worker.join()
        assert blocked_s >= 0.45
        # Python's switch interval is 5 ms: a thread that may run does tens of thousands of loops.
        assert during > 10_000, f"the other thread ran only {during} loops in {blocked_s:.2f} s"


def test_a_slow_reader_drops_frames_and_counts_them(start_server):
    server = start_server("--fps", "60")
    with sk2.Client(server.endpoint) as client, client.subscribe(queue=1) as frames:
        frames.next(timeout=WAIT_S)
        time.sleep(1.0)
        frames.next(timeout=WAIT_S)
        stats = frames.stats()
        assert frames.dropped >= 20
        assert frames.dropped == stats["dropped"] + stats["skipped"]
        assert stats["decode_errors"] == 0
        assert frames.received >= 40
