"""Discovery over mDNS: browse() and watch() find a real announcing kinect-server.

mDNS joins multicast on every interface, so these tests run only inside a private network
namespace whose only interface is lo (tests/run.sh starts pytest in one); elsewhere they skip.
"""

import sys

import pytest

import streamkinect2 as sk2

from conftest import only_loopback

if not only_loopback():
    print(
        "test_discovery: skipped: needs a private network namespace (run crates/sk2-python/tests/run.sh, "
        "which uses unshare from util-linux and ip from iproute2)",
        file=sys.stderr,
    )
    pytest.skip("needs a private network namespace (tests/run.sh)", allow_module_level=True)


def test_browse_finds_an_announced_server_with_its_sensors_and_connects(start_server):
    start_server("--name", "Found By Python", "--sensors", "2", announce=True)
    servers = [info for info in sk2.browse(timeout=3.0) if info.name == "Found By Python"]
    assert len(servers) == 1, f"browse found {sk2.browse(timeout=1.0)}"
    info = servers[0]
    assert info.endpoint.startswith("tcp://") and info.endpoint.endswith(f":{info.port}")
    assert "127.0.0.1" in info.addresses
    assert info.sensors is not None and len(info.sensors) == 2
    with sk2.Client(info) as client:
        assert client.name == "Found By Python"
        assert {s.id for s in client.sensors} == {s.id for s in info.sensors}
        with client.subscribe(info.sensors[1].id) as frames:
            assert frames.next(timeout=10).sensor_id == info.sensors[1].id


def test_watch_reports_a_server_appearing_and_disappearing(start_server):
    with sk2.watch() as watcher:
        server = start_server("--name", "Comes And Goes", announce=True)
        event = next_event_about(watcher, "Comes And Goes")
        assert event.kind == "appeared"
        assert event.server.name == "Comes And Goes" and event.server.sensors is None
        with sk2.Client(event.server) as client:
            assert client.ping() > 0
        server.stop()  # SIGTERM: the server says goodbye
        event = next_event_about(watcher, "Comes And Goes", kinds=("disappeared",))
        assert event.server is None


def next_event_about(watcher, name, kinds=("appeared", "disappeared"), timeout_s=10.0):
    while True:
        event = watcher.next(timeout=timeout_s)
        if event.name == name and event.kind in kinds:
            return event


def test_browse_with_nobody_announcing_returns_an_empty_list():
    assert [info for info in sk2.browse(timeout=0.5) if info.name == "Nobody"] == []
