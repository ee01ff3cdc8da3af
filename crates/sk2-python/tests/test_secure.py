"""CurveZMQ from Python against a real `kinect-server --secure` (docs/security.md): the right keys
connect and stream every kind of frame; missing or wrong keys raise HandshakeError at once (not
a hang, not a plain timeout); bad key arguments raise ValueError before anything connects."""

import os
import time

import pytest

import streamkinect2 as sk2

from conftest import make_key_pair

WAIT_S = 30.0
# Within this a refusal must be reported; the Unreachable timeout of the connecting client is
# longer, so a HandshakeError raised late would still fail the test.
REFUSAL_S = 5.0
CONNECT_TIMEOUT_S = 20.0


@pytest.fixture(autouse=True)
def no_default_client_key(tmp_path, monkeypatch):
    """The client's default key file lives under $XDG_CONFIG_HOME: point it at an empty place, so
    that the tests never read the user's keys."""
    config_home = tmp_path / "xdg"
    config_home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home


@pytest.fixture
def keys(tmp_path):
    """Key pairs of a server and of two clients, the first of them authorised."""
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    server = make_key_pair(directory, "server")
    alice = make_key_pair(directory, "alice")
    mallory = make_key_pair(directory, "mallory")
    authorised = tmp_path / "authorised"
    authorised.mkdir()
    (authorised / "alice.key").write_bytes(alice[1].read_bytes())
    return {"server": server, "alice": alice, "mallory": mallory, "authorised": authorised}


def refused(make_client, match):
    """Asserts that `make_client()` raises HandshakeError (an Unreachable) matching `match`
    within REFUSAL_S."""
    started = time.monotonic()
    with pytest.raises(sk2.HandshakeError, match=match) as raised:
        make_client()
    elapsed = time.monotonic() - started
    assert isinstance(raised.value, sk2.Unreachable)
    assert elapsed < REFUSAL_S, f"refused after {elapsed:.1f} s"
    return elapsed


def test_a_secure_server_streams_to_a_client_with_its_key(start_server, keys):
    secret, public = keys["server"]
    server = start_server("--secure", "--key-file", str(secret), "--fps", "30")
    # The key file, as a path object; then the same key as Z85 text from that file.
    with sk2.Client(server.endpoint, server_key=public, timeout=CONNECT_TIMEOUT_S) as client:
        assert client.ping() > 0
        with client.subscribe() as depth:
            assert depth.next(timeout=WAIT_S).depth.shape == (424, 512)
        with client.subscribe_ir() as ir:
            assert ir.next(timeout=WAIT_S).ir.shape == (424, 512)
        with client.subscribe_color_jpeg() as colour:
            assert colour.next(timeout=WAIT_S).jpeg[:2] == b"\xff\xd8"
        assert client.calibration() is not None
    z85 = public.read_text().split('public-key = "')[1][:40]
    with sk2.Client(server.endpoint, server_key=z85, timeout=CONNECT_TIMEOUT_S) as client:
        assert client.ping() > 0
    with sk2.Client(server.endpoint, server_key=z85.encode(), timeout=CONNECT_TIMEOUT_S) as client:
        assert client.ping() > 0


def test_a_client_without_the_server_key_is_refused_promptly(start_server, keys):
    secret, _ = keys["server"]
    server = start_server("--secure", "--key-file", str(secret))
    elapsed = refused(
        lambda: sk2.Client(server.endpoint, timeout=CONNECT_TIMEOUT_S), "requires CurveZMQ"
    )
    print(f"open client refused by a secure server after {elapsed * 1e3:.0f} ms")


def test_a_wrong_server_key_is_refused_promptly(start_server, keys):
    secret, _ = keys["server"]
    _, other_public = keys["mallory"]
    server = start_server("--secure", "--key-file", str(secret))
    refused(
        lambda: sk2.Client(server.endpoint, server_key=other_public, timeout=CONNECT_TIMEOUT_S),
        "server key",
    )


def test_only_authorised_client_keys_are_admitted(start_server, keys, no_default_client_key):
    secret, public = keys["server"]
    server = start_server(
        "--secure", "--key-file", str(secret), "--authorized-keys", str(keys["authorised"])
    )
    alice_secret, _ = keys["alice"]
    mallory_secret, _ = keys["mallory"]
    with sk2.Client(
        server.endpoint, server_key=public, client_key=alice_secret, timeout=CONNECT_TIMEOUT_S
    ) as client:
        with client.subscribe() as depth:
            depth.next(timeout=WAIT_S)
    refused(
        lambda: sk2.Client(
            server.endpoint, server_key=public, client_key=str(mallory_secret),
            timeout=CONNECT_TIMEOUT_S,
        ),
        "refused this client",
    )
    # Without client_key: a key pair made for this client, unknown to the server.
    refused(
        lambda: sk2.Client(server.endpoint, server_key=public, timeout=CONNECT_TIMEOUT_S),
        "refused this client",
    )
    # The default key file, where `kinect-keygen --client` puts it, is used when present.
    default_dir = no_default_client_key / "streamkinect2"
    default_dir.mkdir()
    default = default_dir / "client.key_secret"
    default.write_bytes(alice_secret.read_bytes())
    default.chmod(0o600)
    with sk2.Client(server.endpoint, server_key=public, timeout=CONNECT_TIMEOUT_S) as client:
        assert client.ping() > 0


def test_a_key_pair_as_pyzmq_gives_it_is_accepted(start_server, keys):
    secret, public = keys["server"]
    server = start_server(
        "--secure", "--key-file", str(secret), "--authorized-keys", str(keys["authorised"])
    )
    alice_secret, _ = keys["alice"]
    text = alice_secret.read_text()
    pair = tuple(text.split(f'{field} = "')[1][:40].encode() for field in ("public-key", "secret-key"))
    with sk2.Client(
        server.endpoint, server_key=public, client_key=pair, timeout=CONNECT_TIMEOUT_S
    ) as client:
        assert client.ping() > 0
    # A secret key that does not belong to the public key is refused before connecting.
    alice_secret_z85 = pair[1].decode()
    mallory_public_z85 = keys["mallory"][0].read_text().split('public-key = "')[1][:40]
    with pytest.raises(ValueError, match="does not belong"):
        sk2.Client(
            server.endpoint, server_key=public, client_key=(mallory_public_z85, alice_secret_z85)
        )


def test_bad_key_arguments_raise_value_errors_before_connecting(keys, tmp_path):
    _, public = keys["server"]
    alice_secret, alice_public = keys["alice"]
    nowhere = "tcp://127.0.0.1:9"  # never reached: the arguments fail first
    with pytest.raises(ValueError, match="Z85|key file"):
        sk2.Client(nowhere, server_key="not a key")
    with pytest.raises(ValueError, match="40-character Z85"):
        sk2.Client(nowhere, server_key=b"short")
    with pytest.raises(ValueError, match="needs server_key"):
        sk2.Client(nowhere, client_key=alice_secret)
    public_only = tmp_path / "public-only.key_secret"
    public_only.write_bytes(alice_public.read_bytes())
    public_only.chmod(0o600)
    with pytest.raises(ValueError, match="no secret-key"):
        sk2.Client(nowhere, server_key=public, client_key=public_only)
    with pytest.raises(FileNotFoundError):
        sk2.Client(nowhere, server_key=public, client_key=tmp_path / "missing.key_secret")
    readable = tmp_path / "readable.key_secret"
    readable.write_bytes(alice_secret.read_bytes())
    os.chmod(readable, 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        sk2.Client(nowhere, server_key=public, client_key=readable)
    with pytest.raises(TypeError):
        sk2.Client(nowhere, server_key=public, client_key=42)
    # A malformed secret key: the message does not quote it.
    alice_z85 = alice_public.read_text().split('public-key = "')[1][:40]
    almost_secret = "Q" * 39 + "~"
    with pytest.raises(ValueError, match="secret key must be") as raised:
        sk2.Client(nowhere, server_key=public, client_key=(alice_z85, almost_secret))
    assert "~" not in str(raised.value) and "QQQ" not in str(raised.value)
