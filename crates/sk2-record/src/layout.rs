//! What a recording's channels, schemas and metadata are called, what it can hold, and the
//! limits a reader keeps: the names docs/protocol.md (section 9) gives, re-exported at the crate
//! root.

/// What a recording stores for each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecordFormat {
    /// Each `depth_v2` message exactly as received, in uncompressed chunks (the payload is
    /// already compressed by its codec): the file is the size of the messages, and replay
    /// publishes the recorded frames exactly.
    #[default]
    DepthV2,
    /// Each frame decoded into Foxglove's image messages (protobuf) in zstd chunks: depth a
    /// `foxglove.RawImage` (16UC1), infrared a RawImage (mono16), colour a
    /// `foxglove.CompressedImage` (the JPEG as received). Opens in Foxglove without a plugin, at
    /// the cost of a decode per frame and a larger file.
    FoxgloveRawImage,
}

/// Which of a sensor's streams a channel holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum RecordedStream {
    /// `depth_v2` messages.
    #[default]
    Depth,
    /// `ir_v2` messages: infrared amplitudes.
    Ir,
    /// `color` messages: JPEG files.
    Color,
}

impl RecordedStream {
    /// Its name in the channel metadata [`STREAM_KEY`]: `depth`, `ir` or `color`.
    pub fn name(self) -> &'static str {
        match self {
            RecordedStream::Depth => "depth",
            RecordedStream::Ir => "ir",
            RecordedStream::Color => "color",
        }
    }
}

/// Message encoding of a `depth_v2` channel: each message is one `depth_v2` message as the
/// server published it (docs/protocol.md, section 5).
pub const DEPTH_V2_MESSAGE_ENCODING: &str = "streamkinect2.depth_v2";
/// Schema name of a `depth_v2` channel.
pub const DEPTH_V2_SCHEMA_NAME: &str = "streamkinect2.DepthV2";
/// Schema encoding of a `depth_v2` channel: the schema data is the header layout as text (no
/// schema language describes a header followed by a codec payload).
pub const DEPTH_V2_SCHEMA_ENCODING: &str = "streamkinect2.layout";
/// Schema data of a `depth_v2` channel.
pub const DEPTH_V2_SCHEMA_TEXT: &str = "\
depth_v2 message, little-endian (docs/protocol.md, section 5):
offset size field
     0    4 magic \"SKD2\"
     4    1 header_version (1)
     5    1 codec (0 raw, 1 rvl, 2 medans, 3 medhuf)
     6    2 flags (0)
     8    4 width
    12    4 height
    16    8 sequence
    24    8 device_timestamp
    32    8 capture_time_ns
    40    4 payload_len
    44    - payload
";
/// Message encoding of an `ir_v2` channel: each message is one `ir_v2` message as the server
/// published it (docs/protocol.md, section 5.6: the `depth_v2` layout, amplitudes for pixels).
pub const IR_V2_MESSAGE_ENCODING: &str = "streamkinect2.ir_v2";
/// Schema name of an `ir_v2` channel.
pub const IR_V2_SCHEMA_NAME: &str = "streamkinect2.IrV2";
/// Schema data of an `ir_v2` channel (schema encoding [`DEPTH_V2_SCHEMA_ENCODING`]).
pub const IR_V2_SCHEMA_TEXT: &str = "\
ir_v2 message: the depth_v2 layout (docs/protocol.md, sections 5 and 5.6), infrared amplitudes
for pixels; sequence and times are those of the depth frame of the same exposure.
";
/// Message encoding of a `color` channel: each message is one `color` message as the server
/// published it (docs/protocol.md, section 5.7: the `depth_v2` header, then a JPEG file).
pub const COLOR_MESSAGE_ENCODING: &str = "streamkinect2.color";
/// Schema name of a `color` channel.
pub const COLOR_SCHEMA_NAME: &str = "streamkinect2.Color";
/// Schema data of a `color` channel (schema encoding [`DEPTH_V2_SCHEMA_ENCODING`]).
pub const COLOR_SCHEMA_TEXT: &str = "\
color message: the 44-byte depth_v2 header with codec 0x10 (jpeg), then one JPEG file as the
payload (docs/protocol.md, section 5.7); sequence counts colour frames on their own.
";
/// Name of the metadata record holding the server's `me` reply.
pub const ME_METADATA_NAME: &str = "streamkinect2.me";
/// Name of the metadata record holding the recorder's counters, written when it ends cleanly.
pub const STATS_METADATA_NAME: &str = "streamkinect2.stats";
/// Channel metadata key: the sensor's id.
pub const DEVICE_ID_KEY: &str = "device_id";
/// Channel metadata key: the server's name.
pub const SERVER_KEY: &str = "server";
/// Channel metadata key: which of the sensor's streams the channel holds
/// ([`RecordedStream::name`]). It tells an infrared RawImage channel from a depth one.
pub const STREAM_KEY: &str = "stream";
/// Last topic component of a `depth_v2` channel.
pub const DEPTH_V2_TOPIC_SUFFIX: &str = "depth_v2";
/// Last topic component of an `ir_v2` channel.
pub const IR_V2_TOPIC_SUFFIX: &str = "ir_v2";
/// Last topic component of a `color` channel.
pub const COLOR_TOPIC_SUFFIX: &str = "color";
/// Last topic component of an infrared `foxglove.RawImage` channel.
pub const IR_IMAGE_TOPIC_SUFFIX: &str = "ir_image";
/// Last topic component of a colour `foxglove.CompressedImage` channel.
pub const COLOR_IMAGE_TOPIC_SUFFIX: &str = "color_image";
/// Last topic component of a depth `foxglove.RawImage` channel.
pub const RAW_IMAGE_TOPIC_SUFFIX: &str = "depth_image";
/// Most bytes of one record (or one chunk's buffered compressed data) a reader accepts: a raw
/// frame of the largest shape `depth_v2` allows (2^24 pixels, 32 MiB) fits twice over. A corrupt
/// length beyond it is an error, not an allocation.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// The topic of a sensor's channel: `/<server>/<sensor>/<suffix>`. A `/` inside the server name
/// or sensor id becomes `_`, so the topic always has exactly three components.
pub fn topic(server: &str, device_id: &str, suffix: &str) -> String {
    let clean = |part: &str| part.replace('/', "_");
    format!("/{}/{}/{suffix}", clean(server), clean(device_id))
}
