//! What a reader yields: a recording's channels ([`ChannelInfo`], [`ChannelKind`]), its
//! `streamkinect2.me` metadata ([`MeRecord`]) and its messages ([`RecordedMessage`]), each
//! decoded by the stream it belongs to.

use std::sync::Arc;

use sk2_proto::color::{self, JpegImage};
use sk2_proto::depth_v2::{self, FrameHeader};
use sk2_proto::sensor::{CapturedColorFrame, CapturedIrFrame};
use sk2_proto::{ir_v2, CapturedFrame};

use crate::error::ReadError;
use crate::foxglove_image;

/// What the messages of a channel are.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelKind {
    /// `depth_v2` messages as received ([`crate::layout::DEPTH_V2_MESSAGE_ENCODING`]).
    DepthV2,
    /// `foxglove.RawImage` in protobuf (a `--foxglove` recording, or another tool's images).
    RawImage,
    /// `ir_v2` messages as received ([`crate::layout::IR_V2_MESSAGE_ENCODING`]).
    IrV2,
    /// `color` messages as received ([`crate::layout::COLOR_MESSAGE_ENCODING`]).
    Color,
    /// Infrared as `foxglove.RawImage` (a `--foxglove` recording: channel metadata
    /// [`crate::layout::STREAM_KEY`] = `ir`).
    IrRawImage,
    /// Colour as `foxglove.CompressedImage` (a `--foxglove` recording, or another tool's
    /// images; only JPEG ones decode).
    CompressedImage,
    /// Anything else: another tool's channel, skipped by replay.
    Other,
}

impl ChannelKind {
    /// Whether its messages are depth frames ([`RecordedMessage::decode`] reads them).
    pub fn is_depth(&self) -> bool {
        matches!(self, ChannelKind::DepthV2 | ChannelKind::RawImage)
    }

    /// Whether its messages are infrared frames ([`RecordedMessage::decode_ir`] reads them).
    pub fn is_ir(&self) -> bool {
        matches!(self, ChannelKind::IrV2 | ChannelKind::IrRawImage)
    }

    /// Whether its messages are colour frames ([`RecordedMessage::decode_color`] reads them).
    pub fn is_color(&self) -> bool {
        matches!(self, ChannelKind::Color | ChannelKind::CompressedImage)
    }
}

/// A channel of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// MCAP channel id.
    pub id: u16,
    /// Topic, `/<server>/<sensor>/<kind>` for streamkinect2's own channels.
    pub topic: String,
    /// What its messages are.
    pub kind: ChannelKind,
    /// The sensor id from the channel metadata (streamkinect2's channels have it).
    pub device_id: Option<String>,
    /// The server name from the channel metadata.
    pub server: Option<String>,
    /// Its message encoding as written.
    pub message_encoding: String,
}

/// The `streamkinect2.me` metadata of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeRecord {
    /// The server's name.
    pub server: String,
    /// The server's `me` reply, JSON as the server sent it.
    pub me_json: String,
    /// The program that recorded, with its version.
    pub recorder: String,
}

/// One message of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    /// Its channel.
    pub channel: Arc<ChannelInfo>,
    /// Its index among the file's messages (of every channel), from 0.
    pub index: u64,
    /// MCAP sequence: the low 32 bits of the frame's sequence number.
    pub sequence: u32,
    /// When the recorder received it, ns since the Unix epoch.
    pub log_time_ns: u64,
    /// When the sensor captured it, ns since the Unix epoch.
    pub publish_time_ns: u64,
    /// The message as stored: for [`ChannelKind::DepthV2`], [`ChannelKind::IrV2`] and
    /// [`ChannelKind::Color`], the message as received.
    pub data: Vec<u8>,
}

impl RecordedMessage {
    /// The `depth_v2` header of a [`ChannelKind::DepthV2`] message, checked.
    pub fn depth_v2_header(&self) -> Result<FrameHeader, ReadError> {
        self.expect_kind(&ChannelKind::DepthV2)?;
        depth_v2::decode_header(&self.data).map_err(|source| self.bad_depth_v2(source))
    }

    /// The frame, decoded from either kind of depth channel, with the sequence number and
    /// timestamps it was captured with. A RawImage carries no device timestamp or 64-bit
    /// sequence: those come from the MCAP message (`sequence`, `publish_time`).
    pub fn decode(&self) -> Result<CapturedFrame, ReadError> {
        match self.channel.kind {
            ChannelKind::DepthV2 => {
                let (header, depth) =
                    depth_v2::decode(&self.data).map_err(|source| self.bad_depth_v2(source))?;
                Ok(CapturedFrame {
                    depth,
                    sequence: header.sequence,
                    device_timestamp: header.device_timestamp,
                    capture_time_ns: header.capture_time_ns,
                })
            }
            ChannelKind::RawImage => {
                let (depth, stamp) =
                    foxglove_image::decode(&self.data).map_err(|reason| self.bad_image(reason))?;
                let (sequence, device_timestamp, capture_time_ns) = self.image_stamps(stamp);
                Ok(CapturedFrame {
                    depth,
                    sequence,
                    device_timestamp,
                    capture_time_ns,
                })
            }
            _ => Err(ReadError::NotDepth {
                topic: self.channel.topic.clone(),
                message_encoding: self.channel.message_encoding.clone(),
            }),
        }
    }

    /// The infrared frame of an infrared message ([`ChannelKind::is_ir`]), with the sequence
    /// number and times of the depth frame of the same exposure. A RawImage carries no device
    /// timestamp or 64-bit sequence: those come from the MCAP message, as for depth.
    pub fn decode_ir(&self) -> Result<CapturedIrFrame, ReadError> {
        match self.channel.kind {
            ChannelKind::IrV2 => {
                let (header, ir) =
                    ir_v2::decode(&self.data).map_err(|source| ReadError::BadIrV2 {
                        topic: self.channel.topic.clone(),
                        index: self.index,
                        source,
                    })?;
                Ok(CapturedIrFrame {
                    ir,
                    sequence: header.sequence,
                    device_timestamp: header.device_timestamp,
                    capture_time_ns: header.capture_time_ns,
                })
            }
            ChannelKind::IrRawImage => {
                let (ir, stamp) = foxglove_image::decode_ir(&self.data)
                    .map_err(|reason| self.bad_image(reason))?;
                let (sequence, device_timestamp, capture_time_ns) = self.image_stamps(stamp);
                Ok(CapturedIrFrame {
                    ir,
                    sequence,
                    device_timestamp,
                    capture_time_ns,
                })
            }
            _ => Err(self.not_stream("infrared")),
        }
    }

    /// The colour frame of a colour message ([`ChannelKind::is_color`]): its JPEG, checked (the
    /// JPEG's size is read, and equals the `color` header's) but not decoded, with its own
    /// sequence number and times.
    pub fn decode_color(&self) -> Result<CapturedColorFrame, ReadError> {
        match self.channel.kind {
            ChannelKind::Color => {
                let (header, jpeg) =
                    color::decode(&self.data).map_err(|source| ReadError::BadColor {
                        topic: self.channel.topic.clone(),
                        index: self.index,
                        source,
                    })?;
                Ok(CapturedColorFrame {
                    jpeg: JpegImage::new(jpeg.to_vec())
                        .map_err(|error| self.bad_image(error.to_string()))?,
                    sequence: header.sequence,
                    device_timestamp: header.device_timestamp,
                    capture_time_ns: header.capture_time_ns,
                })
            }
            ChannelKind::CompressedImage => {
                let (jpeg, stamp) = foxglove_image::decode_jpeg(&self.data)
                    .map_err(|reason| self.bad_image(reason))?;
                let jpeg =
                    JpegImage::new(jpeg).map_err(|error| self.bad_image(error.to_string()))?;
                let (sequence, device_timestamp, capture_time_ns) = self.image_stamps(stamp);
                Ok(CapturedColorFrame {
                    jpeg,
                    sequence,
                    device_timestamp,
                    capture_time_ns,
                })
            }
            _ => Err(self.not_stream("colour")),
        }
    }

    /// Sequence number, device timestamp and capture time of a Foxglove image message, which
    /// carries only its `stamp`: the sequence is the MCAP message's (32 bits), the capture time
    /// the stamp (else the MCAP publish time), and the device timestamp that capture time.
    fn image_stamps(&self, stamp: Option<u64>) -> (u64, u64, u64) {
        let capture_time_ns = stamp.unwrap_or(self.publish_time_ns);
        (u64::from(self.sequence), capture_time_ns, capture_time_ns)
    }

    fn not_stream(&self, stream: &'static str) -> ReadError {
        ReadError::NotStream {
            topic: self.channel.topic.clone(),
            message_encoding: self.channel.message_encoding.clone(),
            stream,
        }
    }

    fn bad_image(&self, reason: String) -> ReadError {
        ReadError::BadImage {
            topic: self.channel.topic.clone(),
            index: self.index,
            reason,
        }
    }

    fn expect_kind(&self, kind: &ChannelKind) -> Result<(), ReadError> {
        if self.channel.kind == *kind {
            Ok(())
        } else {
            Err(ReadError::NotDepth {
                topic: self.channel.topic.clone(),
                message_encoding: self.channel.message_encoding.clone(),
            })
        }
    }

    fn bad_depth_v2(&self, source: depth_v2::DepthV2Error) -> ReadError {
        ReadError::BadDepthV2 {
            topic: self.channel.topic.clone(),
            index: self.index,
            source,
        }
    }
}
