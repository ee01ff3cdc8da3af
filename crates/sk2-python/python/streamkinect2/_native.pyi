"""Type stubs of the Rust extension module; import everything from ``streamkinect2``."""

import datetime
from types import TracebackType
from typing import Dict, Iterator, List, Optional, Tuple, Type, TypeVar, Union

import numpy as np
import numpy.typing as npt

__version__: str

DepthArray = npt.NDArray[np.uint16]

_Closing = TypeVar("_Closing", bound="Closeable")

class Sk2Error(Exception):
    """Base class of every error streamkinect2 raises."""

class Timeout(Sk2Error):
    """A wait or a request to the server ran out of time."""

class Unreachable(Sk2Error):
    """No server answers at the endpoint, or the connection to it is gone."""

class ProtocolError(Sk2Error):
    """Bytes that are not a valid message: corrupt, truncated or hostile input."""

class UnknownSensor(Sk2Error):
    """The server has no sensor with this id (or no sensor at all)."""

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

class Subscription(Closeable):
    """A sensor's depth frames; iterate, or call ``next(timeout)``."""

    def next(self, timeout: Optional[float] = None) -> Frame:
        """Waits for the next frame; raises Timeout after ``timeout`` seconds."""
    @property
    def sensor_id(self) -> str: ...
    @property
    def endpoint(self) -> str:
        """"depth_v2" or "depth"."""
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
    def __iter__(self) -> Iterator[Frame]: ...
    def __next__(self) -> Frame: ...

class Client(Closeable):
    """A connection to one server's control endpoint."""

    def __init__(
        self, target: Union[str, ServerInfo], heartbeat: float = 10.0, timeout: float = 5.0
    ) -> None:
        """Connects and waits up to ``timeout`` seconds for the server (raises Unreachable)."""
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
    ) -> Subscription:
        """Subscribes to a sensor's depth frames (default: the first sensor, ``depth_v2``)."""
