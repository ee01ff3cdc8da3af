//! What a subscription delivers: which endpoint it reads ([`EndpointKind`]), decoded depth
//! frames ([`ReceivedFrame`]) and undecoded `depth_v2` messages ([`RawMessage`]).

use std::time::{Duration, Instant};

use sk2_proto::color::{self, ENDPOINT_COLOR};
use sk2_proto::control::ENDPOINT_DEPTH;
use sk2_proto::depth_v2::{self, FrameHeader, ENDPOINT_DEPTH_V2};
use sk2_proto::ir_v2::{self, ENDPOINT_IR_V2};
use sk2_proto::DepthFrame;

/// Which endpoint kind a subscription reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointKind {
    /// The original `depth` format (lossy above 4095 mm, no metadata).
    Depth,
    /// `depth_v2`: lossless, with header.
    DepthV2,
    /// `ir_v2`: infrared amplitudes in the `depth_v2` envelope.
    Ir,
    /// `color`: JPEG in the `depth_v2` envelope.
    Color,
}

impl EndpointKind {
    /// The name under which a device advertises its endpoint of this kind in `me`.
    pub fn endpoint_name(self) -> &'static str {
        match self {
            EndpointKind::Depth => ENDPOINT_DEPTH,
            EndpointKind::DepthV2 => ENDPOINT_DEPTH_V2,
            EndpointKind::Ir => ENDPOINT_IR_V2,
            EndpointKind::Color => ENDPOINT_COLOR,
        }
    }

    /// The sequence number and capture time (ns since the Unix epoch) of a message of this
    /// kind, from its header alone, which is checked; `None` for the original `depth`, which
    /// has no header.
    pub(crate) fn stamp_of(self, message: &[u8]) -> Result<Option<(u64, u64)>, String> {
        let stamp = match self {
            EndpointKind::Depth => return Ok(None),
            EndpointKind::DepthV2 => depth_v2::decode_header(message)
                .map(|h| (h.sequence, h.capture_time_ns))
                .map_err(|error| error.to_string())?,
            EndpointKind::Ir => ir_v2::decode_header(message)
                .map(|h| (h.sequence, h.capture_time_ns))
                .map_err(|error| error.to_string())?,
            EndpointKind::Color => color::decode_header(message)
                .map(|h| (h.sequence, h.capture_time_ns))
                .map_err(|error| error.to_string())?,
        };
        Ok(Some(stamp))
    }
}

/// One decoded depth frame.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedFrame {
    /// The device that produced it.
    pub device_id: String,
    /// The image; [`DepthFrame::into_array`] gives an `ndarray::Array2<u16>` of shape (424, 512).
    pub depth: DepthFrame,
    /// The `depth_v2` header (codec, sequence, timestamps); `None` for the original `depth`.
    pub header: Option<FrameHeader>,
    /// When the message arrived at this client.
    pub received_at: Instant,
}

impl ReceivedFrame {
    /// The sensor's frame counter, when the endpoint carries one (`depth` does not).
    pub fn sequence(&self) -> Option<u64> {
        self.header.map(|header| header.sequence)
    }

    /// When the server captured the frame, in ns since the Unix epoch, if the endpoint says.
    pub fn capture_time_ns(&self) -> Option<u64> {
        self.header.map(|header| header.capture_time_ns)
    }

    /// Capture to now, by the two hosts' wall clocks (meaningful when they are synchronised).
    pub fn latency(&self) -> Option<Duration> {
        let captured = self.capture_time_ns()?;
        let now = sk2_proto::sensor::unix_time_ns();
        Some(Duration::from_nanos(now.saturating_sub(captured)))
    }
}

/// One `depth_v2` message exactly as the server sent it, not decoded: what a recorder stores.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawMessage {
    /// The device that produced it.
    pub device_id: String,
    /// Its header, checked (docs/protocol.md, section 5.4); the payload is not decoded.
    pub header: FrameHeader,
    /// The whole message, header and payload, byte for byte.
    pub bytes: Vec<u8>,
    /// When the message arrived at this client.
    pub received_at: Instant,
    /// When the message arrived, by this host's wall clock, in ns since the Unix epoch.
    pub received_time_ns: u64,
}

/// One message of any stream exactly as the server sent it, its header checked and its payload
/// not decoded: what a recorder stores of infrared and colour (and of depth, beside
/// [`RawMessage`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawStreamMessage {
    /// The device that produced it.
    pub device_id: String,
    /// The stream it came on.
    pub kind: EndpointKind,
    /// The frame's sequence number; `None` on the original `depth`, which has no header.
    pub sequence: Option<u64>,
    /// When the sensor captured it, ns since the Unix epoch; `None` on the original `depth`.
    pub capture_time_ns: Option<u64>,
    /// The whole message, header and payload, byte for byte.
    pub bytes: Vec<u8>,
    /// When the message arrived at this client.
    pub received_at: Instant,
    /// When the message arrived, by this host's wall clock, in ns since the Unix epoch.
    pub received_time_ns: u64,
}
