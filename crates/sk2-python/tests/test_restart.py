"""The server goes away and comes back: the Python client behaves as the Rust client does
(tests/client_restart.rs): it notices, reconnects within 2 s of the restart, and the old
subscription receives frames again."""

import time

import pytest

import streamkinect2 as sk2

from conftest import free_ports


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_killed_and_restarted_server_is_reconnected_and_frames_flow_again(start_server):
    control_port, depth_port = free_ports()
    ports = ("--control-port", str(control_port), "--depth-port", str(depth_port), "--name", "Phoenix")
    server = start_server(*ports)
    client = sk2.Client(server.endpoint, heartbeat=0.2, timeout=0.5)
    old_id = client.sensors[0].id
    frames = client.subscribe()
    frames.next(timeout=5)

    server.kill()  # SIGKILL: no clean shutdown of any socket
    assert wait_until(lambda: not client.connected, 5), "the crash was not noticed"
    with pytest.raises((sk2.Unreachable, sk2.Timeout)):
        client.ping()
    with pytest.raises(sk2.Timeout):
        frames.next(timeout=0.3)
    # Stay down long enough for the reconnection backoff to reach its maximum.
    time.sleep(2)
    while True:  # frames queued before the crash
        try:
            frames.next(timeout=0)
        except sk2.Timeout:
            break

    restarted = time.monotonic()
    start_server(*ports)
    client.wait_connected(timeout=2)
    print(f"reconnected {time.monotonic() - restarted:.2f} s after the restart")
    assert client.ping() > 0
    assert client.name == "Phoenix"

    # The restarted server has a new sensor id on the same depth port: the old subscription
    # reconnects by itself, and the new id can be subscribed too.
    frames.next(timeout=5)
    new_id = client.sensors[0].id
    assert new_id != old_id
    with client.subscribe(new_id) as fresh:
        assert fresh.next(timeout=5).sensor_id == new_id
    frames.close()
    client.close()
