"""Type stubs of the Rust extension module; import everything from ``streamkinect2``."""

import datetime
from types import TracebackType
import os
from typing import Dict, Generic, Iterator, List, Optional, Tuple, Type, TypeVar, Union

import numpy as np
import numpy.typing as npt

__version__: str

DepthArray = npt.NDArray[np.uint16]
IrArray = npt.NDArray[np.uint16]
RgbArray = npt.NDArray[np.uint8]
PointArray = npt.NDArray[np.float32]

# A CURVE key inline: 40 Z85 characters (str or bytes, as pyzmq gives them) or 32 raw bytes.
Key = Union[str, bytes]

_Closing = TypeVar("_Closing", bound="Closeable")

class Sk2Error(Exception):
    """Base class of every error streamkinect2 raises."""

class Timeout(Sk2Error):
    """A wait or a request to the server ran out of time."""

class Unreachable(Sk2Error):
    """No server answers at the endpoint, or the connection to it is gone."""

class HandshakeError(Unreachable):
    """The server refused the connection during the CurveZMQ handshake: it is secure and no
    server_key was given, or the reverse, or the server key is wrong, or the server does not admit
    this client's key."""

class ProtocolError(Sk2Error):
    """Bytes that are not a valid message: corrupt, truncated or hostile input."""

class UnknownSensor(Sk2Error):
    """The server has no sensor with this id (or no sensor at all)."""

class StreamUnavailable(Sk2Error):
    """The sensor does not offer this stream (a server started with ``--no-color``, say)."""

class Closeable:
    """Base of ``Client``, ``Subscription`` and ``Watcher``: ``with`` calls ``close()`` on exit."""

    def close(self) -> None: ...
    def __enter__(self: _Closing) -> _Closing: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

class FrameHeader:
    """The 44-byte header of a ``depth_v2`` message."""

    @property
    def codec(self) -> str:
        """Codec of the payload: "raw", "rvl", "medans" or "medhuf"."""
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def sequence(self) -> int:
        """The sensor's frame counter (+1 per frame; a gap means frames were lost)."""
    @property
    def device_timestamp(self) -> int:
        """The device's own timestamp, in the device's units."""
    @property
    def capture_time_ns(self) -> int:
        """Host time of capture, in nanoseconds since the Unix epoch."""
    @property
    def payload_len(self) -> int: ...

def decode_depth_v2(data: Union[bytes, bytearray, memoryview]) -> Tuple[DepthArray, FrameHeader]:
    """Decodes one ``depth_v2`` message into ``(depth, header)``; ``depth`` has shape
    (height, width), ``uint16`` millimetres. Raises ProtocolError for invalid bytes."""

def encode_depth_v2(
    depth: DepthArray,
    codec: str = "medhuf",
    sequence: int = 0,
    device_timestamp: int = 0,
    capture_time_ns: int = 0,
) -> bytes:
    """Encodes a 2-D ``uint16`` array as one ``depth_v2`` message (lossless)."""

def decode_sk2(
    data: Union[bytes, bytearray, memoryview], shape: Tuple[int, int] = (424, 512)
) -> DepthArray:
    """Decodes one message of the original ``depth`` endpoint; ``shape`` is (height, width).
    Raises ProtocolError for invalid bytes."""

def encode_sk2(depth: DepthArray) -> bytes:
    """Encodes a 2-D ``uint16`` array (even width) in the original, lossy ``depth`` format."""

class Sensor:
    """One sensor of a server."""

    @property
    def id(self) -> str: ...
    @property
    def endpoints(self) -> Dict[str, str]:
        """Endpoint name ("depth", "depth_v2", ...) to ZeroMQ address."""
    @property
    def codec(self) -> Optional[str]:
        """Codec of its ``depth_v2`` endpoint, if the server says."""

class ServerInfo:
    """A server found over mDNS; pass it to ``Client()``."""

    @property
    def name(self) -> str: ...
    @property
    def endpoint(self) -> str:
        """Its control endpoint, "tcp://host:port"."""
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def addresses(self) -> List[str]:
        """Its addresses from mDNS, best first."""
    @property
    def sensors(self) -> Optional[List[Sensor]]:
        """Its sensors, asked by ``browse()``; None in ``watch()`` events or if it did not answer."""

class ServerEvent:
    """A server appeared, changed or disappeared."""

    @property
    def kind(self) -> str:
        """"appeared", "changed" or "disappeared"."""
    @property
    def name(self) -> str: ...
    @property
    def server(self) -> Optional[ServerInfo]:
        """The server, for "appeared" and "changed"; None for "disappeared"."""

class Watcher(Closeable):
    """Iterates over ``ServerEvent``s as servers appear and disappear."""

    def next(self, timeout: Optional[float] = None) -> ServerEvent:
        """Waits for the next event; raises Timeout after ``timeout`` seconds."""
    def __iter__(self) -> Iterator[ServerEvent]: ...
    def __next__(self) -> ServerEvent: ...

def browse(timeout: float = 3.0) -> List[ServerInfo]:
    """Listens for servers over mDNS for ``timeout`` seconds; returns them with their sensors."""

def watch() -> Watcher:
    """Starts watching the network for servers."""

class Frame:
    """One decoded depth frame."""

    @property
    def depth(self) -> DepthArray:
        """Millimetres (0 = no measurement), shape (height, width); owns its memory."""
    @property
    def sequence(self) -> Optional[int]:
        """The sensor's frame counter; None on the ``depth`` endpoint."""
    @property
    def capture_time_ns(self) -> Optional[int]:
        """Capture time in ns since the Unix epoch; None on ``depth``."""
    @property
    def capture_time(self) -> Optional[datetime.datetime]:
        """Capture time as an aware UTC ``datetime``; None on ``depth``."""
    @property
    def device_timestamp(self) -> Optional[int]: ...
    @property
    def codec(self) -> str:
        """"medhuf", "medans", "rvl", "raw" (``depth_v2``) or "sk2" (``depth``)."""
    @property
    def sensor_id(self) -> str: ...

class _CapturedFrame:
    """What ``IrFrame``, ``ColorFrame`` and ``JpegFrame`` share, from their message header."""

    @property
    def sequence(self) -> int:
        """The stream's frame counter (each subclass says whose)."""
    @property
    def capture_time_ns(self) -> int:
        """Capture time in ns since the Unix epoch."""
    @property
    def capture_time(self) -> datetime.datetime:
        """Capture time as an aware UTC ``datetime``."""
    @property
    def device_timestamp(self) -> int: ...
    @property
    def sensor_id(self) -> str: ...

class IrFrame(_CapturedFrame):
    """One decoded infrared frame; ``sequence`` is the sequence number of the depth frame of the
    same exposure."""

    @property
    def ir(self) -> IrArray:
        """Amplitudes (unitless, brighter is larger), shape (height, width); owns its memory."""
    @property
    def codec(self) -> str:
        """"medhuf", "medans", "rvl" or "raw"."""

class ColorFrame(_CapturedFrame):
    """One colour frame, decoded to RGB; ``sequence`` is the colour camera's own frame counter."""

    @property
    def rgb(self) -> RgbArray:
        """RGB, shape (height, width, 3), ``uint8``; (1080, 1920, 3) from a Kinect v2."""

class JpegFrame(_CapturedFrame):
    """One colour frame as the server sent it: a JPEG file, not decoded; ``sequence`` is the
    colour camera's own frame counter."""

    @property
    def jpeg(self) -> bytes:
        """The JPEG file (starts with FF D8)."""
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...

_F = TypeVar("_F", Frame, IrFrame, ColorFrame, JpegFrame)

class Subscription(Closeable, Generic[_F]):
    """A sensor's frames of one stream; iterate, or call ``next(timeout)``."""

    def next(self, timeout: Optional[float] = None) -> _F:
        """Waits for the next frame; raises Timeout after ``timeout`` seconds."""
    @property
    def sensor_id(self) -> str: ...
    @property
    def endpoint(self) -> str:
        """"depth_v2", "depth", "ir_v2" or "color"."""
    @property
    def received(self) -> int:
        """Messages received from the server."""
    @property
    def lost(self) -> int:
        """Frames the sensor produced that never arrived (gaps in sequence numbers)."""
    @property
    def dropped(self) -> int:
        """Frames received but dropped because the application did not take them in time."""
    def stats(self) -> Dict[str, int]:
        """received, decoded, dropped, skipped, decode_errors, lost, refused."""
    def __iter__(self) -> Iterator[_F]: ...
    def __next__(self) -> _F: ...

class IrCameraParams:
    """Intrinsics of the depth (infrared) camera, as libfreenect2's ``IrCameraParams``."""

    fx: float
    fy: float
    cx: float
    cy: float
    k1: float
    k2: float
    k3: float
    p1: float
    p2: float
    def to_dict(self) -> Dict[str, float]: ...

class ColorCameraParams:
    """The colour camera and the depth-to-colour mapping, as libfreenect2's
    ``ColorCameraParams``."""

    fx: float
    fy: float
    cx: float
    cy: float
    shift_d: float
    shift_m: float
    mx_x3y0: float
    mx_x0y3: float
    mx_x2y1: float
    mx_x1y2: float
    mx_x2y0: float
    mx_x0y2: float
    mx_x1y1: float
    mx_x1y0: float
    mx_x0y1: float
    mx_x0y0: float
    my_x3y0: float
    my_x0y3: float
    my_x2y1: float
    my_x1y2: float
    my_x2y0: float
    my_x0y2: float
    my_x1y1: float
    my_x1y0: float
    my_x0y1: float
    my_x0y0: float
    def to_dict(self) -> Dict[str, float]: ...

class Calibration:
    """A sensor's calibration, from ``Client.calibration()``."""

    @property
    def ir(self) -> IrCameraParams: ...
    @property
    def color(self) -> ColorCameraParams: ...
    def to_dict(self) -> Dict[str, Dict[str, float]]:
        """``{"ir": {...}, "color": {...}}``, the ``"calibration"`` object of ``me``."""

class Registration:
    """Depth frames to point clouds (metres, depth camera frame), coloured or not."""

    def __init__(self, calibration: Calibration, width: int = 512, height: int = 424) -> None: ...
    @property
    def shape(self) -> Tuple[int, int]:
        """(width, height) of the depth frames it registers."""
    def point_cloud(self, depth: DepthArray) -> PointArray:
        """(N, 3) ``float32`` points, one per pixel with a depth."""
    def colored_point_cloud(
        self, depth: DepthArray, rgb: RgbArray
    ) -> Tuple[PointArray, RgbArray, npt.NDArray[np.bool_]]:
        """``(points, colors, has_color)``: (N, 3) metres, (N, 3) RGB, (N,) seen by the colour
        camera."""

class Client(Closeable):
    """A connection to one server's control endpoint."""

    def __init__(
        self,
        target: Union[str, ServerInfo],
        heartbeat: float = 10.0,
        timeout: float = 5.0,
        *,
        server_key: Union[Key, "os.PathLike[str]", None] = None,
        client_key: Union[str, "os.PathLike[str]", Tuple[Key, Key], None] = None,
    ) -> None:
        """Connects and waits up to ``timeout`` seconds for the server (raises Unreachable, or
        HandshakeError at once if a secure server refuses the keys). ``server_key``: a secure
        server's public key (Z85, raw bytes or its ``server.key`` file). ``client_key``: this
        client's ``.key_secret`` file or a ``(public, secret)`` pair; default
        ``$XDG_CONFIG_HOME/streamkinect2/client.key_secret`` if it exists."""
    @property
    def endpoint(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sensors(self) -> List[Sensor]: ...
    @property
    def connected(self) -> bool: ...
    def ping(self) -> float:
        """Round-trip time in seconds."""
    def wait_connected(self, timeout: Optional[float] = None) -> None: ...
    def subscribe(
        self, sensor_id: Optional[str] = None, endpoint: str = "depth_v2", queue: int = 4
    ) -> Subscription[Frame]:
        """Subscribes to a sensor's depth frames (default: the first sensor, ``depth_v2``)."""
    def subscribe_ir(
        self, sensor_id: Optional[str] = None, queue: int = 4
    ) -> Subscription[IrFrame]:
        """Subscribes to a sensor's infrared frames; StreamUnavailable if it has none."""
    def subscribe_color(
        self, sensor_id: Optional[str] = None, queue: int = 2
    ) -> Subscription[ColorFrame]:
        """Subscribes to a sensor's colour frames, decoded to RGB; StreamUnavailable if none."""
    def subscribe_color_jpeg(
        self, sensor_id: Optional[str] = None, queue: int = 4
    ) -> Subscription[JpegFrame]:
        """Subscribes to a sensor's colour frames as JPEG files, undecoded."""
    def calibration(self, sensor_id: Optional[str] = None) -> Optional[Calibration]:
        """The sensor's calibration, or None if its server sends none."""
