"""The streamkinect2 depth formats, for bytes that arrive by other means (pyzmq, files, ROS).

* ``depth_v2`` (:func:`decode_depth_v2`, :func:`encode_depth_v2`): a 44-byte header (shape,
  sequence number, timestamps, codec) and a lossless payload (MEDHUF by default).
* ``depth``, the original 2014 format (:func:`decode_sk2`, :func:`encode_sk2`): 12-bit packing and
  LZ4, no header; lossy from 4096 mm up.

Decoders release the GIL, return arrays that own their memory, and raise
:class:`~streamkinect2.ProtocolError` for bytes that are not a valid message.
"""

from ._native import (
    FrameHeader as FrameHeader,
    decode_depth_v2 as decode_depth_v2,
    decode_sk2 as decode_sk2,
    encode_depth_v2 as encode_depth_v2,
    encode_sk2 as encode_sk2,
)

__all__ = ["FrameHeader", "decode_depth_v2", "decode_sk2", "encode_depth_v2", "encode_sk2"]
