"""streamkinect2: depth, infrared and colour frames from Kinect-style sensors over ZeroMQ, found
with mDNS.

Find servers with :func:`browse` or :func:`watch`, connect with :class:`Client` (with
``server_key=`` for a secure server), and iterate over a :class:`Subscription`:
``client.subscribe()`` gives :class:`Frame` objects whose ``depth`` is a ``uint16`` numpy array
in millimetres, ``client.subscribe_ir()`` :class:`IrFrame` (``ir``, ``uint16`` amplitudes),
``client.subscribe_color()`` :class:`ColorFrame` (``rgb``, ``uint8``, shape (height, width, 3))
and ``client.subscribe_color_jpeg()`` :class:`JpegFrame` (``jpeg``, the file as sent).
``client.calibration()`` gives the sensor's :class:`Calibration`, and :class:`Registration` turns
depth frames into point clouds, coloured or not. :mod:`streamkinect2.codecs` decodes and encodes
the depth wire formats for users with their own transport. Discovery, the connection, decoding
and registration are the Rust implementation; every blocking call releases the GIL and can be
interrupted with Ctrl-C.

Errors are :class:`Sk2Error` or one of its subclasses :class:`Timeout`, :class:`Unreachable`
(and its subclass :class:`HandshakeError`), :class:`ProtocolError`, :class:`UnknownSensor` and
:class:`StreamUnavailable`.

:class:`Client`, :class:`Subscription` and :class:`Watcher` hold a connection or a thread: use them
in a ``with`` block (their common base :class:`Closeable` closes them on the way out) or call
``close()``.
"""

from ._native import (
    Calibration as Calibration,
    Client as Client,
    Closeable as Closeable,
    ColorCameraParams as ColorCameraParams,
    ColorFrame as ColorFrame,
    Frame as Frame,
    FrameHeader as FrameHeader,
    HandshakeError as HandshakeError,
    IrCameraParams as IrCameraParams,
    IrFrame as IrFrame,
    JpegFrame as JpegFrame,
    ProtocolError as ProtocolError,
    Registration as Registration,
    Sensor as Sensor,
    ServerEvent as ServerEvent,
    ServerInfo as ServerInfo,
    Sk2Error as Sk2Error,
    StreamUnavailable as StreamUnavailable,
    Subscription as Subscription,
    Timeout as Timeout,
    UnknownSensor as UnknownSensor,
    Unreachable as Unreachable,
    Watcher as Watcher,
    __version__ as __version__,
    browse as browse,
    watch as watch,
)
from . import codecs as codecs

__all__ = [
    "Calibration",
    "Client",
    "Closeable",
    "ColorCameraParams",
    "ColorFrame",
    "Frame",
    "FrameHeader",
    "HandshakeError",
    "IrCameraParams",
    "IrFrame",
    "JpegFrame",
    "ProtocolError",
    "Registration",
    "Sensor",
    "ServerEvent",
    "ServerInfo",
    "Sk2Error",
    "StreamUnavailable",
    "Subscription",
    "Timeout",
    "UnknownSensor",
    "Unreachable",
    "Watcher",
    "browse",
    "codecs",
    "watch",
]
