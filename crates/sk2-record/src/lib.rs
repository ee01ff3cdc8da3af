//! streamkinect2 recordings: `depth_v2` (and `ir_v2`, `color`) messages in
//! [MCAP](https://mcap.dev) files.
//!
//! MCAP is the robotics log container: Foxglove opens it, ROS 2's rosbag2 stores in it. This crate
//! is the one place that knows how a recording is laid out in it (the normative description is
//! `docs/protocol.md`, section "Recordings"); the container itself is the `mcap` crate's.
//!
//! * [`RecordingWriter`] writes a recording: each `depth_v2` message exactly as received
//!   ([`RecordFormat::DepthV2`], the default) or decoded into a `foxglove.RawImage` of 16UC1 pixels
//!   with zstd chunks ([`RecordFormat::FoxgloveRawImage`], opens in Foxglove without plugins).
//! * [`RecordingReader`] reads one back, message by message, from any [`std::io::Read`]. It needs
//!   no summary or index, so a file whose recorder was killed reads up to its last complete
//!   record, and then reports [`ReadError::Truncated`] so the caller can decide.
//!
//! A recording has:
//!
//! ```text
//! metadata "streamkinect2.me"     server = <name>, me = <the server's `me` reply, JSON>,
//!                                 recorder = <program and version>
//! channel  /<server>/<sensor>/depth_v2     message encoding "streamkinect2.depth_v2",
//!                                          schema "streamkinect2.DepthV2"
//!          metadata device_id, server
//! message  data = the depth_v2 message as received (44-byte header + payload)
//!          sequence = header sequence (low 32 bits), publish_time = header capture_time_ns,
//!          log_time = when the recorder received it (ns since the Unix epoch)
//! channel  /<server>/<sensor>/ir_v2, /<server>/<sensor>/color   (when recorded)
//!          message encodings "streamkinect2.ir_v2", "streamkinect2.color", messages as above
//! metadata "streamkinect2.stats"  the recorder's counters at the end (when it ended cleanly)
//! ```
//!
//! ```
//! use std::io::Cursor;
//! use sk2_proto::{depth_v2, CapturedFrame, DepthFrame};
//! use sk2_record::{RecordFormat, RecordingReader, RecordingWriter};
//!
//! let frame = CapturedFrame {
//!     depth: DepthFrame::new(2, 2, vec![1000, 1001, 0, 4000])?,
//!     sequence: 7,
//!     device_timestamp: 7,
//!     capture_time_ns: 1_700_000_000_000_000_000,
//! };
//! let message = depth_v2::encode(&frame, depth_v2::Codec::MedHuf);
//!
//! let mut writer = RecordingWriter::new(Cursor::new(Vec::new()), RecordFormat::DepthV2)?;
//! writer.write_me("Kinect a1", r#"{"name":"Kinect a1"}"#, "doc test")?;
//! let channel = writer.add_sensor("Kinect a1", "0123abcd")?;
//! writer.write_depth_v2(channel, &message, 1_700_000_000_002_000_000)?;
//! let file = writer.finish()?.into_inner();
//!
//! let mut reader = RecordingReader::new(Cursor::new(file));
//! let recorded = reader.next().transpose()?.expect("one message");
//! assert_eq!(recorded.channel.topic, "/Kinect a1/0123abcd/depth_v2");
//! assert_eq!(recorded.data, message); // stored exactly as received
//! assert_eq!(recorded.publish_time_ns, frame.capture_time_ns);
//! assert_eq!(reader.me().map(|me| me.server.as_str()), Some("Kinect a1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod foxglove_image;
mod layout;
mod message;
mod read;
mod write;

pub use error::{ReadError, WriteError};
pub use layout::*;
pub use message::{ChannelInfo, ChannelKind, MeRecord, RecordedMessage};
pub use read::RecordingReader;
pub use write::{RecordingWriter, SensorChannel};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_have_three_components_whatever_the_names() {
        assert_eq!(
            topic("Kinect 1a", "0123", DEPTH_V2_TOPIC_SUFFIX),
            "/Kinect 1a/0123/depth_v2"
        );
        assert_eq!(topic("a/b", "c/d", "x"), "/a_b/c_d/x");
    }
}
