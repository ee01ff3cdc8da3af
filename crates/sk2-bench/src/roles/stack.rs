//! What travels between a publisher and its subscribers ([`Stack`]), the baseline's raw layout
//! and the limits both sides set on their sockets.

use anyhow::{Context, Result};
use sk2_proto::depth_v2::Codec;
use sk2_proto::{KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX};

/// Bytes of a raw 512 x 424 `u16` frame: the payload of the baseline.
pub const RAW_FRAME_BYTES: usize = KINECT_V2_WIDTH_PX * KINECT_V2_HEIGHT_PX * 2;
/// The baseline's prefix: sequence (u64 LE) then capture time in ns (u64 LE).
pub const RAW_PREFIX_BYTES: usize = 16;
/// Send high-water mark, in messages, per subscriber pipe: a few frames of slack for a subscriber
/// that is momentarily descheduled, and no more, so a stalled one costs at most this many frames
/// of memory (libzmq's default of 1000 would be 400 MB of raw frames).
pub const SNDHWM_FRAMES: i32 = 4;
/// Receive high-water mark, in messages: the same reasoning on the subscriber side.
pub const RCVHWM_FRAMES: i32 = 4;
/// Largest message a subscriber accepts: a raw frame plus headroom; anything bigger is hostile.
pub const MAX_MESSAGE_BYTES: i64 = 2 * 1024 * 1024;

/// What travels between publisher and subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stack {
    /// Baseline: raw frames with a 16-byte sequence + capture-time prefix over plain PUB/SUB.
    Raw,
    /// The original sk2 codec (sk2-proto), encoded once per frame, over plain PUB/SUB; sequence
    /// and capture time travel in the watermark pixels.
    Sk2Pub,
    /// A `depth_v2` message (sk2-proto's header + the codec's payload), encoded once per frame,
    /// over plain PUB/SUB; sequence and capture time travel in the header.
    V2Pub(Codec),
    /// The real stack: `sk2-server` streaming from a bench sensor, `sk2-client` subscriptions.
    /// `None`: the original `depth` endpoint (sk2), sequence and capture time in the watermark
    /// pixels; `Some(codec)`: `depth_v2` with that codec, sequence and time from its header.
    Server(Option<Codec>),
    /// The real stack through Zenoh: `sk2-server` with an in-process bridge (`sk2-zenoh`), and
    /// `sk2-client` Zenoh subscriptions connected to the bridge over loopback TCP; `depth_v2` with
    /// that codec. Needs a build with the `zenoh` feature.
    Zenoh(Codec),
    /// An `ir_v2` message of the mock's infrared (header + the codec's payload), encoded once per
    /// frame, over plain PUB/SUB.
    IrPub(Codec),
    /// A `color` message of the mock's 1080p JPEG (header + the JPEG as it is: the passthrough a
    /// Kinect v2's own JPEG gets), over plain PUB/SUB. Subscribers check the header and the
    /// JPEG's frame header; decoding JPEG to pixels is the client's and not measured here.
    ColorPub,
    /// `sk2-server` streaming a bench sensor's infrared on `ir_v2` with that codec (and depth
    /// beside it, unwatched); subscribers read `ir_v2`.
    ServerIr(Codec),
    /// `sk2-server` passing a bench sensor's JPEGs through on `color` (and depth beside it,
    /// unwatched); subscribers read `color`.
    ServerColor,
    /// `Server(None)` with CurveZMQ on every socket (docs/security.md): a secure server that
    /// admits any client knowing its key, and `sk2-client` subscriptions with that key.
    ServerCurve,
}

impl Stack {
    /// Whether the publisher is an `sk2-server` (the subscribers then start from its `me`).
    pub fn is_server(self) -> bool {
        matches!(
            self,
            Stack::Server(_) | Stack::ServerIr(_) | Stack::ServerColor | Stack::ServerCurve
        )
    }

    /// Whether the stack carries depth (and so can replay a depth corpus).
    pub fn is_depth(self) -> bool {
        matches!(
            self,
            Stack::Raw | Stack::Sk2Pub | Stack::V2Pub(_) | Stack::Server(_) | Stack::ServerCurve
        )
    }
}

impl std::fmt::Display for Stack {
    /// The name used on the command line and in the table: `raw`, `sk2-pub`, `v2-<codec>-pub`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stack::Raw => f.write_str("raw"),
            Stack::Sk2Pub => f.write_str("sk2-pub"),
            Stack::V2Pub(codec) => write!(f, "v2-{codec}-pub"),
            Stack::Server(None) => f.write_str("server-sk2"),
            Stack::Server(Some(codec)) => write!(f, "server-v2-{codec}"),
            Stack::Zenoh(codec) => write!(f, "zenoh-v2-{codec}"),
            Stack::IrPub(codec) => write!(f, "ir-{codec}-pub"),
            Stack::ColorPub => f.write_str("color-pub"),
            Stack::ServerIr(codec) => write!(f, "server-ir-{codec}"),
            Stack::ServerColor => f.write_str("server-color"),
            Stack::ServerCurve => f.write_str("server-sk2-curve"),
        }
    }
}

impl std::str::FromStr for Stack {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "raw" => Ok(Stack::Raw),
            "sk2-pub" => Ok(Stack::Sk2Pub),
            "server-sk2" => Ok(Stack::Server(None)),
            "color-pub" => Ok(Stack::ColorPub),
            "server-color" => Ok(Stack::ServerColor),
            "server-sk2-curve" => Ok(Stack::ServerCurve),
            _ => text
                .strip_prefix("v2-")
                .and_then(|rest| rest.strip_suffix("-pub"))
                .and_then(|codec| codec.parse::<Codec>().ok())
                .map(Stack::V2Pub)
                .or_else(|| {
                    text.strip_prefix("server-v2-")
                        .and_then(|codec| codec.parse::<Codec>().ok())
                        .map(|codec| Stack::Server(Some(codec)))
                })
                .or_else(|| {
                    text.strip_prefix("zenoh-v2-")
                        .and_then(|codec| codec.parse::<Codec>().ok())
                        .map(Stack::Zenoh)
                })
                .or_else(|| {
                    text.strip_prefix("ir-")
                        .and_then(|rest| rest.strip_suffix("-pub"))
                        .and_then(|codec| codec.parse::<Codec>().ok())
                        .map(Stack::IrPub)
                })
                .or_else(|| {
                    text.strip_prefix("server-ir-")
                        .and_then(|codec| codec.parse::<Codec>().ok())
                        .map(Stack::ServerIr)
                })
                .with_context(|| {
                    format!(
                        "unknown stack {text:?} (known: raw, sk2-pub, v2-<codec>-pub, server-sk2, \
                         server-sk2-curve, server-v2-<codec>, ir-<codec>-pub, color-pub, \
                         server-ir-<codec>, server-color, zenoh-v2-<codec>)"
                    )
                }),
        }
    }
}
