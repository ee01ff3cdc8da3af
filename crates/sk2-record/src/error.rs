//! Why a recording cannot be written or read.

use sk2_proto::color::ColorError;
use sk2_proto::depth_v2::DepthV2Error;

/// Why a recording could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The file could not be written (a full disk, a size limit, a removed drive). The file holds
    /// every chunk finished before this; it has no summary, so readers read it linearly.
    #[error("writing the recording: {0}")]
    Io(#[source] std::io::Error),
    /// The message is not a valid `depth_v2` (or, on an infrared channel, `ir_v2`) message; it
    /// was not written.
    #[error("not a valid depth_v2 or ir_v2 message: {0}")]
    BadMessage(#[source] DepthV2Error),
    /// The message is not a valid `color` message; it was not written.
    #[error("not a valid color message: {0}")]
    BadColorMessage(#[source] ColorError),
    /// The MCAP writer refused (too many channels, a write after an earlier failure, ...).
    #[error("MCAP writer: {0}")]
    Mcap(#[source] mcap::McapError),
}

impl From<mcap::McapError> for WriteError {
    fn from(error: mcap::McapError) -> Self {
        match error {
            mcap::McapError::Io(source) => Self::Io(source),
            other => Self::Mcap(other),
        }
    }
}

/// Why a recording could not be read. Every variant says where: the byte offset in the file up
/// to which it had been read, and how many messages came before.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("reading the recording at byte {offset}: {source}")]
    Io {
        /// Bytes read before the error.
        offset: u64,
        /// The cause.
        source: std::io::Error,
    },
    /// The file does not start with the MCAP magic: not an MCAP file at all.
    #[error(
        "not an MCAP file: it starts with {found:02x?}, MCAP files with 89 4d 43 41 50 30 0d 0a"
    )]
    NotMcap {
        /// Its first bytes (fewer if the file is shorter).
        found: Vec<u8>,
    },
    /// The file ends in the middle of a record: its writer did not close it (killed, or the disk
    /// filled up). Every message before `offset` was read.
    #[error(
        "the recording ends mid-record near byte {offset}, after {messages} complete messages: \
         it was not closed (recorder killed, or disk full)"
    )]
    Truncated {
        /// Bytes read when the file ended.
        offset: u64,
        /// Messages read before.
        messages: u64,
    },
    /// A record is malformed: a bad length, a failed CRC, an unknown compression, a message on
    /// a channel never declared, a record larger than [`crate::layout::MAX_RECORD_BYTES`].
    #[error("corrupt MCAP near byte {offset}, after {messages} messages: {source}")]
    Corrupt {
        /// Bytes read when the problem was found.
        offset: u64,
        /// Messages read before.
        messages: u64,
        /// What the MCAP reader found.
        source: mcap::McapError,
    },
    /// A message on a `depth_v2` channel is not a valid `depth_v2` message.
    #[error("message {index} on {topic} is not a valid depth_v2 message: {source}")]
    BadDepthV2 {
        /// Topic of its channel.
        topic: String,
        /// Its index among the file's messages, from 0.
        index: u64,
        /// What is wrong with it.
        source: DepthV2Error,
    },
    /// A message on an `ir_v2` channel is not a valid `ir_v2` message.
    #[error("message {index} on {topic} is not a valid ir_v2 message: {source}")]
    BadIrV2 {
        /// Topic of its channel.
        topic: String,
        /// Its index among the file's messages, from 0.
        index: u64,
        /// What is wrong with it.
        source: DepthV2Error,
    },
    /// A message on a `color` channel is not a valid `color` message.
    #[error("message {index} on {topic} is not a valid color message: {source}")]
    BadColor {
        /// Topic of its channel.
        topic: String,
        /// Its index among the file's messages, from 0.
        index: u64,
        /// What is wrong with it.
        source: ColorError,
    },
    /// The message's channel holds another stream than the one asked for.
    #[error("{topic} holds {message_encoding:?} messages, not {stream} frames")]
    NotStream {
        /// Topic of its channel.
        topic: String,
        /// The channel's message encoding.
        message_encoding: String,
        /// The stream asked for (`infrared`, `colour`).
        stream: &'static str,
    },
    /// A message on a Foxglove image channel is not an image this crate can read (a RawImage of
    /// one `u16` per pixel, or a JPEG CompressedImage).
    #[error("message {index} on {topic} is not a readable image: {reason}")]
    BadImage {
        /// Topic of its channel.
        topic: String,
        /// Its index among the file's messages, from 0.
        index: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The message's channel holds neither `depth_v2` messages nor RawImages.
    #[error("{topic} holds {message_encoding:?} messages, not depth frames")]
    NotDepth {
        /// Topic of its channel.
        topic: String,
        /// The channel's message encoding.
        message_encoding: String,
    },
    /// The `streamkinect2.me` metadata is not what a recorder writes.
    #[error("metadata {name:?} is malformed: {reason}")]
    BadMetadata {
        /// The metadata record's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ReadError {
    /// Whether this is [`ReadError::Truncated`]: the file is readable up to here, just not
    /// closed. Replay and analysis tools may warn and carry on with what they read.
    pub fn is_truncation(&self) -> bool {
        matches!(self, Self::Truncated { .. })
    }
}
