//! [`RecordingWriter`]: writes `depth_v2`, `ir_v2` and `color` messages into an MCAP file.

use std::collections::BTreeMap;
use std::io::{Seek, Write};

use mcap::records::{MessageHeader, Metadata};
use mcap::{Compression, WriteOptions};
use sk2_proto::{color, depth_v2, ir_v2};

use crate::error::WriteError;
use crate::foxglove_image;
use crate::layout::{topic, RecordFormat, RecordedStream};

/// Uncompressed bytes per chunk. A chunk is the unit a killed recorder can lose: about 10 MEDHUF
/// Kinect v2 frames (a third of a second at 30 fps), or two RawImage frames. Larger chunks would
/// compress RawImage slightly better (zstd at level 1 gains little past a few frames).
const CHUNK_BYTES: u64 = 1 << 20;

/// zstd level of RawImage chunks: level 1 is the fast setting, and depth images compress to
/// about the same size at higher levels for many times the CPU (docs/recording.md).
const ZSTD_LEVEL: u32 = 1;

/// A sensor's channel in a recording, from [`RecordingWriter::add_sensor`] or
/// [`RecordingWriter::add_stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorChannel {
    id: u16,
    stream: RecordedStream,
}

impl SensorChannel {
    /// The stream it holds.
    pub fn stream(&self) -> RecordedStream {
        self.stream
    }
}

/// Writes one recording (layout in the [crate docs](crate)).
///
/// Call [`RecordingWriter::finish`] to write the summary and index; without it (a crash, a full
/// disk) the file still reads linearly up to its last complete chunk. [`RecordingWriter::flush`]
/// ends the current chunk early, bounding what a crash can lose.
pub struct RecordingWriter<W: Write + Seek> {
    mcap: mcap::Writer<W>,
    format: RecordFormat,
    channels: BTreeMap<(String, RecordedStream), SensorChannel>,
    /// The sensor id of each channel, the `frame_id` of its RawImages.
    device_ids: BTreeMap<u16, String>,
    scratch: Vec<u8>,
    messages: u64,
    message_bytes: u64,
}

impl<W: Write + Seek> std::fmt::Debug for RecordingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingWriter")
            .field("format", &self.format)
            .field("channels", &self.channels.len())
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Seek> RecordingWriter<W> {
    /// Starts a recording in `out` (the MCAP header is written at once).
    pub fn new(out: W, format: RecordFormat) -> Result<Self, WriteError> {
        let options = WriteOptions::new()
            .profile("")
            .library(format!("streamkinect2/{}", env!("CARGO_PKG_VERSION")))
            .chunk_size(Some(CHUNK_BYTES))
            // Chunks are built in memory and written whole, instead of streamed behind a
            // placeholder header that is patched when the chunk ends: a killed recorder then
            // leaves complete chunks followed by at most one cut write, which readers see as
            // the end of the file, not as a corrupt chunk. Costs one chunk (1 MiB) of memory.
            .disable_seeking(true);
        let options = match format {
            RecordFormat::DepthV2 => options.compression(None),
            RecordFormat::FoxgloveRawImage => options
                .compression(Some(Compression::Zstd))
                .compression_level(ZSTD_LEVEL)
                // zstd on the recorder's thread: a depth recording must not take every core.
                .compression_threads(0),
        };
        Ok(Self {
            mcap: options.create(out)?,
            format,
            channels: BTreeMap::new(),
            device_ids: BTreeMap::new(),
            scratch: Vec::new(),
            messages: 0,
            message_bytes: 0,
        })
    }

    /// What this writer stores.
    pub fn format(&self) -> RecordFormat {
        self.format
    }

    /// Writes the `streamkinect2.me` metadata: the server's name, its `me` reply as JSON and
    /// the program that recorded.
    pub fn write_me(
        &mut self,
        server: &str,
        me_json: &str,
        recorder: &str,
    ) -> Result<(), WriteError> {
        let metadata = BTreeMap::from([
            ("server".to_owned(), server.to_owned()),
            ("me".to_owned(), me_json.to_owned()),
            ("recorder".to_owned(), recorder.to_owned()),
        ]);
        self.write_metadata(crate::layout::ME_METADATA_NAME, metadata)
    }

    /// Writes a metadata record (for example [`crate::layout::STATS_METADATA_NAME`] at the end).
    pub fn write_metadata(
        &mut self,
        name: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<(), WriteError> {
        self.mcap.write_metadata(&Metadata {
            name: name.to_owned(),
            metadata,
        })?;
        Ok(())
    }

    /// The depth channel of sensor `device_id` of `server`, declared on first use.
    pub fn add_sensor(
        &mut self,
        server: &str,
        device_id: &str,
    ) -> Result<SensorChannel, WriteError> {
        self.add_stream(server, device_id, RecordedStream::Depth)
    }

    /// The channel of `stream` of sensor `device_id` of `server`, declared on first use.
    ///
    /// In a [`RecordFormat::FoxgloveRawImage`] recording, infrared is a `foxglove.RawImage`
    /// (`mono16`) and colour a `foxglove.CompressedImage` (the JPEG as received).
    pub fn add_stream(
        &mut self,
        server: &str,
        device_id: &str,
        stream: RecordedStream,
    ) -> Result<SensorChannel, WriteError> {
        let key = (device_id.to_owned(), stream);
        if let Some(channel) = self.channels.get(&key) {
            return Ok(*channel);
        }
        use crate::layout as l;
        let (schema_id, suffix, encoding) = match (self.format, stream) {
            (RecordFormat::DepthV2, _) => {
                let (name, text, suffix, encoding) = match stream {
                    RecordedStream::Depth => (
                        l::DEPTH_V2_SCHEMA_NAME,
                        l::DEPTH_V2_SCHEMA_TEXT,
                        l::DEPTH_V2_TOPIC_SUFFIX,
                        l::DEPTH_V2_MESSAGE_ENCODING,
                    ),
                    RecordedStream::Ir => (
                        l::IR_V2_SCHEMA_NAME,
                        l::IR_V2_SCHEMA_TEXT,
                        l::IR_V2_TOPIC_SUFFIX,
                        l::IR_V2_MESSAGE_ENCODING,
                    ),
                    RecordedStream::Color => (
                        l::COLOR_SCHEMA_NAME,
                        l::COLOR_SCHEMA_TEXT,
                        l::COLOR_TOPIC_SUFFIX,
                        l::COLOR_MESSAGE_ENCODING,
                    ),
                };
                let schema =
                    self.mcap
                        .add_schema(name, l::DEPTH_V2_SCHEMA_ENCODING, text.as_bytes())?;
                (schema, suffix, encoding.to_owned())
            }
            (RecordFormat::FoxgloveRawImage, stream) => {
                let (schema, suffix) = match stream {
                    RecordedStream::Depth => (
                        foxglove_image::raw_image_schema(),
                        l::RAW_IMAGE_TOPIC_SUFFIX,
                    ),
                    RecordedStream::Ir => {
                        (foxglove_image::raw_image_schema(), l::IR_IMAGE_TOPIC_SUFFIX)
                    }
                    RecordedStream::Color => (
                        foxglove_image::compressed_image_schema(),
                        l::COLOR_IMAGE_TOPIC_SUFFIX,
                    ),
                };
                (
                    self.mcap
                        .add_schema(&schema.name, &schema.encoding, &schema.data)?,
                    suffix,
                    foxglove_image::message_encoding(),
                )
            }
        };
        let metadata = BTreeMap::from([
            (l::DEVICE_ID_KEY.to_owned(), device_id.to_owned()),
            (l::SERVER_KEY.to_owned(), server.to_owned()),
            (l::STREAM_KEY.to_owned(), stream.name().to_owned()),
        ]);
        let id = self.mcap.add_channel(
            schema_id,
            &topic(server, device_id, suffix),
            &encoding,
            &metadata,
        )?;
        let channel = SensorChannel { id, stream };
        self.channels.insert(key, channel);
        self.device_ids.insert(id, device_id.to_owned());
        Ok(channel)
    }

    /// Writes one `depth_v2` message received at `receive_time_ns` (ns since the Unix epoch):
    /// [`RecordingWriter::write`] on a depth channel.
    pub fn write_depth_v2(
        &mut self,
        channel: SensorChannel,
        message: &[u8],
        receive_time_ns: u64,
    ) -> Result<(), WriteError> {
        self.write(channel, message, receive_time_ns)
    }

    /// Writes one message of `channel`'s stream (`depth_v2`, `ir_v2` or `color`) received at
    /// `receive_time_ns` (ns since the Unix epoch).
    ///
    /// The header is checked first, so a recording never holds a message a reader would refuse.
    /// [`RecordFormat::DepthV2`] stores `message` byte for byte; [`RecordFormat::FoxgloveRawImage`]
    /// decodes it (a corrupt payload is then [`WriteError::BadMessage`]).
    pub fn write(
        &mut self,
        channel: SensorChannel,
        message: &[u8],
        receive_time_ns: u64,
    ) -> Result<(), WriteError> {
        let (sequence, capture_time_ns) = match channel.stream {
            RecordedStream::Depth => depth_v2::decode_header(message)
                .map(|h| (h.sequence, h.capture_time_ns))
                .map_err(WriteError::BadMessage)?,
            RecordedStream::Ir => ir_v2::decode_header(message)
                .map(|h| (h.sequence, h.capture_time_ns))
                .map_err(WriteError::BadMessage)?,
            // The JPEG's own size is checked against the header too.
            RecordedStream::Color => color::decode(message)
                .map(|(h, _)| (h.sequence, h.capture_time_ns))
                .map_err(WriteError::BadColorMessage)?,
        };
        let mcap_header = MessageHeader {
            channel_id: channel.id,
            // MCAP's sequence is 32 bits; the full 64-bit one stays in the message header.
            sequence: sequence as u32,
            log_time: receive_time_ns,
            publish_time: capture_time_ns,
        };
        let data: &[u8] = match self.format {
            RecordFormat::DepthV2 => message,
            RecordFormat::FoxgloveRawImage => {
                let frame_id = self.device_ids.get(&channel.id).map_or("", String::as_str);
                let out = &mut self.scratch;
                match channel.stream {
                    RecordedStream::Depth => {
                        let (_, depth) =
                            depth_v2::decode(message).map_err(WriteError::BadMessage)?;
                        foxglove_image::encode(&depth, capture_time_ns, frame_id, out);
                    }
                    RecordedStream::Ir => {
                        let (_, ir) = ir_v2::decode(message).map_err(WriteError::BadMessage)?;
                        foxglove_image::encode_ir(&ir, capture_time_ns, frame_id, out);
                    }
                    RecordedStream::Color => {
                        let (_, jpeg) =
                            color::decode(message).map_err(WriteError::BadColorMessage)?;
                        foxglove_image::encode_jpeg(jpeg, capture_time_ns, frame_id, out);
                    }
                }
                &self.scratch
            }
        };
        self.mcap.write_to_known_channel(&mcap_header, data)?;
        self.messages += 1;
        self.message_bytes += data.len() as u64;
        Ok(())
    }

    /// Ends the current chunk and flushes it to `out`: everything written so far survives a
    /// crash of the process.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.mcap.flush()?;
        Ok(())
    }

    /// Messages written.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Bytes of message data written (before chunk compression).
    pub fn message_bytes(&self) -> u64 {
        self.message_bytes
    }

    /// Writes the summary (channels, statistics, chunk and metadata indexes) and the footer, and
    /// returns `out`.
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.mcap.finish()?;
        Ok(self.mcap.into_inner())
    }
}
