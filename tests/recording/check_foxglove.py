#!/usr/bin/env python3
"""Reads a `kinect-record --foxglove` file with the `mcap` Python package (and its protobuf
decoder, which builds foxglove.RawImage from the schema stored in the file), and checks every
image against the same frames recorded as depth_v2 messages of the `raw` codec.

Usage: check_foxglove.py RAW_DEPTH_V2.mcap FOXGLOVE.mcap
"""
import struct
import sys

from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory

DEPTH_V2_HEADER = struct.Struct("<4sBBHIIQQQI")


def depth_v2_frames(path):
    """sequence -> (width, height, capture_time_ns, pixel bytes) of a raw-codec recording."""
    frames = {}
    with open(path, "rb") as f:
        reader = make_reader(f)
        me = [m for m in reader.iter_metadata() if m.name == "streamkinect2.me"]
        assert len(me) == 1 and '"devices"' in me[0].metadata["me"], me
        for _schema, channel, message in reader.iter_messages():
            assert channel.message_encoding == "streamkinect2.depth_v2", channel
            (magic, version, codec, flags, width, height, sequence, _device, capture, length) = (
                DEPTH_V2_HEADER.unpack_from(message.data)
            )
            assert (magic, version, codec, flags) == (b"SKD2", 1, 0, 0), "record with --codec raw"
            assert length == width * height * 2 == len(message.data) - DEPTH_V2_HEADER.size
            assert message.sequence == sequence & 0xFFFFFFFF
            assert message.publish_time == capture
            frames[sequence & 0xFFFFFFFF] = (width, height, capture, message.data[DEPTH_V2_HEADER.size:])
    return frames


def main(raw_path, foxglove_path):
    expected = depth_v2_frames(raw_path)
    checked = 0
    with open(foxglove_path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        assert summary is not None and summary.chunk_indexes, "no summary or chunk index"
        assert all(index.compression == "zstd" for index in summary.chunk_indexes)
        for schema, channel, message, image in reader.iter_decoded_messages():
            assert schema.name == "foxglove.RawImage" and schema.encoding == "protobuf"
            assert channel.topic.endswith("/depth_image"), channel.topic
            assert image.encoding == "16UC1", image.encoding
            assert image.frame_id == channel.metadata["device_id"]
            assert image.step == image.width * 2
            stamp = image.timestamp.seconds * 1_000_000_000 + image.timestamp.nanos
            assert stamp == message.publish_time
            frame = expected.get(message.sequence)
            if frame is None:
                continue  # recorded by one recorder only (they started at different frames)
            width, height, capture, pixels = frame
            assert (image.width, image.height) == (width, height)
            assert stamp == capture
            assert bytes(image.data) == pixels, f"pixels differ in frame {message.sequence}"
            checked += 1
    assert checked >= 10, f"only {checked} frames in both recordings"
    print(f"check_foxglove: {checked} RawImage frames identical to the depth_v2 recording")


if __name__ == "__main__":
    main(*sys.argv[1:])
