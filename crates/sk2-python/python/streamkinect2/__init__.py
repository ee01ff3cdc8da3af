"""streamkinect2: depth frames from Kinect-style sensors over ZeroMQ, found with mDNS.

Find servers with :func:`browse` or :func:`watch`, connect with :class:`Client`, and iterate over
a :class:`Subscription` to get :class:`Frame` objects whose ``depth`` is a ``uint16`` numpy array
in millimetres. :mod:`streamkinect2.codecs` decodes and encodes the wire formats for users with
their own transport. Discovery, the connection and the codecs are the Rust implementation; every
blocking call releases the GIL and can be interrupted with Ctrl-C.

Errors are :class:`Sk2Error` or one of its subclasses :class:`Timeout`, :class:`Unreachable`,
:class:`ProtocolError` and :class:`UnknownSensor`.

:class:`Client`, :class:`Subscription` and :class:`Watcher` hold a connection or a thread: use them
in a ``with`` block (their common base :class:`Closeable` closes them on the way out) or call
``close()``.
"""

from ._native import (
    Client as Client,
    Closeable as Closeable,
    Frame as Frame,
    FrameHeader as FrameHeader,
    ProtocolError as ProtocolError,
    Sensor as Sensor,
    ServerEvent as ServerEvent,
    ServerInfo as ServerInfo,
    Sk2Error as Sk2Error,
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
    "Client",
    "Closeable",
    "Frame",
    "FrameHeader",
    "ProtocolError",
    "Sensor",
    "ServerEvent",
    "ServerInfo",
    "Sk2Error",
    "Subscription",
    "Timeout",
    "UnknownSensor",
    "Unreachable",
    "Watcher",
    "browse",
    "codecs",
    "watch",
]
