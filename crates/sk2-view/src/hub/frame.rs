//! The keys, frames and images that pass through the [`Hub`](super::Hub): [`SourceKey`] names a
//! sensor, a source hands in a [`SourceFrame`], and tabs get a [`ServedFrame`] and a
//! [`ServedImage`] of each [`ImageStream`].

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use sk2_proto::id::short_id;
use sk2_proto::DepthFrame;

/// Which sensor of which server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SourceKey {
    /// The server's key: unique among the listed servers (the network source uses the control
    /// endpoint, since two servers may share a name). Its name for people is set apart with
    /// [`Hub::name_server`](super::Hub::name_server).
    pub server: String,
    /// The sensor's id on that server.
    pub sensor: String,
}

impl SourceKey {
    /// A key from a server name and a sensor id.
    pub fn new(server: impl Into<String>, sensor: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            sensor: sensor.into(),
        }
    }
}

impl fmt::Display for SourceKey {
    /// `server/sensor`, the sensor id cut short (these go into log lines).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.server, short_id(&self.sensor))
    }
}

/// One frame as a source hands it to the hub.
#[derive(Debug, Clone)]
pub struct SourceFrame {
    /// The depth image, in millimetres.
    pub depth: DepthFrame,
    /// The sensor's frame counter, when the stream carries one (`depth_v2` does, `depth` does
    /// not).
    pub sensor_sequence: Option<u64>,
    /// When the sensor's host captured the frame, in ns since the Unix epoch, when known.
    pub capture_time_ns: Option<u64>,
    /// Capture to arrival at the source, as the source measured it (the network source gives the
    /// client's [`sk2_client::ReceivedFrame::latency`]), when known.
    pub latency: Option<Duration>,
    /// Frames of this sensor lost on the way to the source since the previous frame it published
    /// (the network source gives the growth of the client's [`sk2_client::SubscriptionStats::lost`]).
    pub lost: u64,
}

/// A frame as the hub keeps it: already laid out as the bytes a tab downloads.
#[derive(Debug)]
pub struct ServedFrame {
    /// Counts up by one per frame the hub received for this sensor, from 1. Tabs ask for frames
    /// newer than the last number they drew; a jump means the tab skipped frames.
    pub number: u64,
    /// Width in pixels.
    pub width_px: usize,
    /// Height in pixels.
    pub height_px: usize,
    /// The pixels as little-endian `u16` millimetres, row-major.
    pub depth_le: Vec<u8>,
    /// From [`SourceFrame::sensor_sequence`].
    pub sensor_sequence: Option<u64>,
    /// From [`SourceFrame::capture_time_ns`].
    pub capture_time_ns: Option<u64>,
}

/// Which image stream of a sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ImageStream {
    /// Infrared amplitudes (`ir_v2`).
    Ir,
    /// Colour as JPEG (`color`).
    Color,
}

impl ImageStream {
    /// The name in `/api/image?stream=`.
    pub fn name(self) -> &'static str {
        match self {
            ImageStream::Ir => "ir",
            ImageStream::Color => "color",
        }
    }

    /// The stream named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [ImageStream::Ir, ImageStream::Color]
            .into_iter()
            .find(|stream| stream.name() == name)
    }
}

/// An image as the hub keeps it.
#[derive(Debug)]
pub struct ServedImage {
    /// Counts up by one per image of this stream the hub received for this sensor, from 1.
    pub number: u64,
    /// Width in pixels.
    pub width_px: usize,
    /// Height in pixels.
    pub height_px: usize,
    /// Infrared: the amplitudes as little-endian `u16`, row-major. Colour: a JPEG file.
    pub bytes: Vec<u8>,
    /// The stream's own sequence number.
    pub sensor_sequence: u64,
}
