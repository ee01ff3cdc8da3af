"""The codecs from Python: exact round trips, the original format's loss, headers, and corrupt or
hostile input (ProtocolError, never a crash)."""

import numpy as np
import pytest

import streamkinect2 as sk2
from streamkinect2 import codecs

from conftest import reference_frames

V2_CODECS = ["raw", "rvl", "medans", "medhuf"]


@pytest.fixture(scope="module")
def depth() -> np.ndarray:
    return reference_frames(count=1)[0]


@pytest.mark.parametrize("codec", V2_CODECS)
def test_depth_v2_round_trips_exactly_with_its_header(depth, codec):
    message = codecs.encode_depth_v2(
        depth, codec=codec, sequence=41, device_timestamp=1234, capture_time_ns=1_700_000_000_123_456_789
    )
    decoded, header = codecs.decode_depth_v2(message)
    assert decoded.dtype == np.uint16 and decoded.shape == depth.shape
    np.testing.assert_array_equal(decoded, depth)
    assert (header.codec, header.width, header.height) == (codec, 512, 424)
    assert (header.sequence, header.device_timestamp) == (41, 1234)
    assert header.capture_time_ns == 1_700_000_000_123_456_789
    assert header.payload_len == len(message) - 44
    assert message[:4] == b"SKD2"


def test_headers_are_equal_exactly_when_every_field_is(depth):
    first = codecs.decode_depth_v2(codecs.encode_depth_v2(depth, sequence=7))[1]
    again = codecs.decode_depth_v2(codecs.encode_depth_v2(depth, sequence=7))[1]
    later = codecs.decode_depth_v2(codecs.encode_depth_v2(depth, sequence=8))[1]
    assert first == again
    assert first != later


def test_decoded_arrays_are_writable_and_independent(depth):
    message = codecs.encode_depth_v2(depth)
    first, _ = codecs.decode_depth_v2(message)
    second, _ = codecs.decode_depth_v2(message)
    first[0, 0] = 999
    assert second[0, 0] == depth[0, 0]
    assert first.flags.c_contiguous and first.flags.writeable


def test_bytearray_and_memoryview_are_accepted(depth):
    message = codecs.encode_depth_v2(depth)
    for data in (bytearray(message), memoryview(message)):
        np.testing.assert_array_equal(codecs.decode_depth_v2(data)[0], depth)
    with pytest.raises(TypeError):
        codecs.decode_depth_v2(12345)


def test_strided_and_fortran_arrays_encode_as_their_values(depth):
    for view in (depth[::2, ::2], np.asfortranarray(depth)):
        decoded, _ = codecs.decode_depth_v2(codecs.encode_depth_v2(view))
        np.testing.assert_array_equal(decoded, view)


def test_the_original_format_keeps_the_low_12_bits_as_the_2014_clients_did(depth):
    message = codecs.encode_sk2(depth)
    decoded = codecs.decode_sk2(message)
    assert decoded.shape == (424, 512)
    np.testing.assert_array_equal(decoded, depth & 0x0FFF)
    # For 512 x 424 the uncompressed size 325 632 = 0x0004F800 leads every message.
    assert message[:4] == bytes([0x00, 0xF8, 0x04, 0x00])


def test_the_original_format_takes_other_shapes():
    depth = reference_frames(count=1, width=64, height=48)[0] & 0x0FFF
    np.testing.assert_array_equal(codecs.decode_sk2(codecs.encode_sk2(depth), shape=(48, 64)), depth)


def test_caller_mistakes_are_value_errors(depth):
    with pytest.raises(ValueError, match="unknown codec"):
        codecs.encode_depth_v2(depth, codec="jpeg")
    with pytest.raises(ValueError, match="odd"):
        codecs.encode_sk2(depth[:, :511])
    with pytest.raises(ValueError):
        codecs.decode_sk2(codecs.encode_sk2(depth), shape=(424, 511))
    with pytest.raises(ValueError):
        codecs.encode_depth_v2(np.zeros((0, 5), dtype=np.uint16))


def corruptions(message: bytes, rng: np.random.Generator):
    """Truncations, flipped bytes and garbage of every length class."""
    yield b""
    for length in (1, 3, 4, 20, 43, 44, 45, len(message) // 2, len(message) - 1):
        yield message[:length]
    yield message + b"\x00"
    for _ in range(150):
        data = bytearray(message)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 5))):
            data[position] ^= int(rng.integers(1, 256))
        yield bytes(data)
    for _ in range(20):
        yield rng.integers(0, 256, size=int(rng.integers(0, 2000)), dtype=np.uint8).tobytes()


def assert_only_protocol_errors(decode, message: bytes) -> int:
    rng = np.random.default_rng(1)
    raised = 0
    for data in corruptions(message, rng):
        try:
            decode(data)
        except sk2.ProtocolError as error:
            assert str(error)
            raised += 1
    return raised


@pytest.mark.parametrize("codec", V2_CODECS)
def test_corrupt_depth_v2_messages_raise_protocol_error_never_crash(depth, codec):
    message = codecs.encode_depth_v2(depth, codec=codec)
    raised = assert_only_protocol_errors(codecs.decode_depth_v2, message)
    # Every truncation and extension is caught; a flip inside raw pixels may still decode.
    assert raised >= 31


def test_corrupt_original_messages_raise_protocol_error_never_crash(depth):
    message = codecs.encode_sk2(depth)
    raised = assert_only_protocol_errors(codecs.decode_sk2, message)
    assert raised >= 31


def test_a_hostile_header_cannot_make_the_decoder_allocate_a_huge_frame():
    header = bytearray(b"SKD2" + bytes([1, 0x03, 0, 0]))
    header += (65535).to_bytes(4, "little") + (65535).to_bytes(4, "little")
    header += bytes(24) + (8).to_bytes(4, "little")
    with pytest.raises(sk2.ProtocolError, match="shape"):
        codecs.decode_depth_v2(bytes(header) + bytes(8))
    # The original format: a size prefix of 4 GB for a 512 x 424 frame.
    with pytest.raises(sk2.ProtocolError, match="declares"):
        codecs.decode_sk2(b"\xff\xff\xff\xff" + bytes(100))


def test_protocol_error_is_an_sk2_error():
    assert issubclass(sk2.ProtocolError, sk2.Sk2Error)
    for name in ("Timeout", "Unreachable", "UnknownSensor"):
        assert issubclass(getattr(sk2, name), sk2.Sk2Error)
    assert issubclass(sk2.Sk2Error, Exception)


def test_the_package_ships_type_stubs_and_docstrings():
    import importlib.resources
    import inspect

    package = importlib.resources.files("streamkinect2")
    assert (package / "py.typed").is_file()
    stubs = (package / "_native.pyi").read_text()
    for name in sk2.__all__:
        if name == "codecs":
            continue
        assert f"{name}" in stubs, f"{name} is missing from the type stubs"
        assert inspect.getdoc(getattr(sk2, name)), f"{name} has no docstring"
    for name in codecs.__all__:
        assert inspect.getdoc(getattr(codecs, name))
    assert "timeout" in str(inspect.signature(sk2.Subscription.next))


def test_the_type_stubs_name_the_base_classes_the_runtime_classes_have():
    import ast
    import importlib.resources

    from streamkinect2 import _native

    stubs = ast.parse((importlib.resources.files("streamkinect2") / "_native.pyi").read_text())
    classes = [node for node in stubs.body if isinstance(node, ast.ClassDef)]
    assert any(node.name == "_CapturedFrame" for node in classes)
    for node in classes:
        declared = {base.id for base in node.bases if isinstance(base, ast.Name)}
        runtime = {base.__name__ for base in getattr(_native, node.name).__bases__}
        assert declared == runtime - {"object"}, node.name
