//! [`RecordingReader`]: reads a recording back, message by message.

use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Read};
use std::sync::Arc;

use mcap::records::Record;
use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};
use mcap::McapError;

use crate::error::ReadError;
use crate::layout::RecordedStream;
use crate::message::{ChannelInfo, ChannelKind, MeRecord, RecordedMessage};

/// Reads a recording front to back from any [`Read`]: an iterator of messages.
///
/// It reads records linearly and needs neither the summary nor the index, so it reads a file
/// whose writer was killed or ran out of disk up to the last complete record, then yields
/// [`ReadError::Truncated`] (see [`ReadError::is_truncation`]). After any error it yields nothing
/// more. Memory is bounded by [`crate::layout::MAX_RECORD_BYTES`] per record, whatever the input.
pub struct RecordingReader<R> {
    source: R,
    reader: LinearReader,
    offset: u64,
    head: Vec<u8>,
    schemas: HashMap<u16, String>,
    channels: HashMap<u16, Arc<ChannelInfo>>,
    me: Option<MeRecord>,
    metadata: Vec<(String, BTreeMap<String, String>)>,
    messages: u64,
    done: bool,
    /// The records of the chunk being read (decompressed), and how far into them.
    chunk: Vec<u8>,
    chunk_at: usize,
}

impl<R> std::fmt::Debug for RecordingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingReader")
            .field("offset", &self.offset)
            .field("messages", &self.messages)
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl RecordingReader<std::io::BufReader<std::fs::File>> {
    /// Opens the recording at `path`.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, ReadError> {
        let file =
            std::fs::File::open(path).map_err(|source| ReadError::Io { offset: 0, source })?;
        Ok(Self::new(std::io::BufReader::new(file)))
    }
}

impl<R: Read> RecordingReader<R> {
    /// A reader of the recording in `source`, from its first byte.
    pub fn new(source: R) -> Self {
        let options = LinearReaderOptions::default()
            // Whole chunks, unpacked by `unpack_chunk`: mcap 0.26 reading the records of an
            // uncompressed chunk subtracts a record's length from what is left of the chunk
            // without checking it fits (an overflow panic in debug builds, found by the fuzz
            // target). Whole chunk records are also held to the record length limit.
            .with_emit_chunks(true)
            .with_record_length_limit(crate::layout::MAX_RECORD_BYTES);
        Self {
            source,
            reader: LinearReader::new_with_options(options),
            offset: 0,
            head: Vec::new(),
            schemas: HashMap::new(),
            channels: HashMap::new(),
            me: None,
            metadata: Vec::new(),
            messages: 0,
            done: false,
            chunk: Vec::new(),
            chunk_at: 0,
        }
    }

    /// The `streamkinect2.me` metadata, once read (it comes before the first message).
    pub fn me(&self) -> Option<&MeRecord> {
        self.me.as_ref()
    }

    /// Other metadata records read so far, by name, in file order (such as
    /// [`crate::layout::STATS_METADATA_NAME`], written at the end).
    pub fn metadata(&self) -> &[(String, BTreeMap<String, String>)] {
        &self.metadata
    }

    /// The channels declared so far.
    pub fn channels(&self) -> Vec<Arc<ChannelInfo>> {
        let mut channels: Vec<_> = self.channels.values().cloned().collect();
        channels.sort_by_key(|channel| channel.id);
        channels
    }

    /// Bytes read from the source so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Messages yielded so far.
    pub fn messages_read(&self) -> u64 {
        self.messages
    }

    fn fail(&mut self, error: ReadError) -> Option<Result<RecordedMessage, ReadError>> {
        self.done = true;
        Some(Err(error))
    }

    fn classify(&self, error: McapError) -> ReadError {
        let magic_seen = self.head.len() >= mcap::MAGIC.len();
        if !mcap::MAGIC.starts_with(&self.head[..self.head.len().min(mcap::MAGIC.len())]) {
            return ReadError::NotMcap {
                found: self.head.clone(),
            };
        }
        match error {
            McapError::UnexpectedEof => ReadError::Truncated {
                offset: self.offset,
                messages: self.messages,
            },
            McapError::BadMagic if !magic_seen => ReadError::Truncated {
                offset: self.offset,
                messages: self.messages,
            },
            McapError::Io(source) => ReadError::Io {
                offset: self.offset,
                source,
            },
            source => ReadError::Corrupt {
                offset: self.offset,
                messages: self.messages,
                source,
            },
        }
    }

    fn corrupt(&self, source: McapError) -> ReadError {
        ReadError::Corrupt {
            offset: self.offset,
            messages: self.messages,
            source,
        }
    }

    /// Handles one record; a message comes back to the caller.
    fn on_record(&mut self, record: Record<'_>) -> Result<Option<RecordedMessage>, ReadError> {
        match record {
            Record::Schema { header, .. } => {
                self.schemas.insert(header.id, header.name);
            }
            Record::Channel(channel) => {
                let schema = match channel.schema_id {
                    0 => None,
                    id => Some(self.schemas.get(&id).cloned().ok_or_else(|| {
                        self.corrupt(McapError::UnknownSchema(channel.topic.clone(), id))
                    })?),
                };
                let kind = match channel.message_encoding.as_str() {
                    crate::layout::DEPTH_V2_MESSAGE_ENCODING => ChannelKind::DepthV2,
                    crate::layout::IR_V2_MESSAGE_ENCODING => ChannelKind::IrV2,
                    crate::layout::COLOR_MESSAGE_ENCODING => ChannelKind::Color,
                    "protobuf" if schema.as_deref() == Some("foxglove.RawImage") => {
                        let stream = channel.metadata.get(crate::layout::STREAM_KEY);
                        if stream.map(String::as_str) == Some(RecordedStream::Ir.name()) {
                            ChannelKind::IrRawImage
                        } else {
                            ChannelKind::RawImage
                        }
                    }
                    "protobuf" if schema.as_deref() == Some("foxglove.CompressedImage") => {
                        ChannelKind::CompressedImage
                    }
                    _ => ChannelKind::Other,
                };
                let info = ChannelInfo {
                    id: channel.id,
                    kind,
                    device_id: channel.metadata.get(crate::layout::DEVICE_ID_KEY).cloned(),
                    server: channel.metadata.get(crate::layout::SERVER_KEY).cloned(),
                    topic: channel.topic,
                    message_encoding: channel.message_encoding,
                };
                // Chunked files repeat channels in the summary: keep the first, they are equal.
                self.channels
                    .entry(info.id)
                    .or_insert_with(|| Arc::new(info));
            }
            Record::Message { header, data } => {
                let channel = self
                    .channels
                    .get(&header.channel_id)
                    .cloned()
                    .ok_or_else(|| {
                        self.corrupt(McapError::UnknownChannel(
                            header.sequence,
                            header.channel_id,
                        ))
                    })?;
                let message = RecordedMessage {
                    channel,
                    index: self.messages,
                    sequence: header.sequence,
                    log_time_ns: header.log_time,
                    publish_time_ns: header.publish_time,
                    data: data.into_owned(),
                };
                self.messages += 1;
                return Ok(Some(message));
            }
            Record::Metadata(metadata) if metadata.name == crate::layout::ME_METADATA_NAME => {
                let field = |key: &str| {
                    metadata
                        .metadata
                        .get(key)
                        .cloned()
                        .ok_or_else(|| ReadError::BadMetadata {
                            name: metadata.name.clone(),
                            reason: format!("no {key:?} key"),
                        })
                };
                self.me = Some(MeRecord {
                    server: field("server")?,
                    me_json: field("me")?,
                    recorder: field("recorder").unwrap_or_default(),
                });
            }
            Record::Metadata(metadata) => self.metadata.push((metadata.name, metadata.metadata)),
            Record::Chunk { header, data } => {
                // A chunk's CRC is checked before any of its records is used: a damaged chunk
                // yields nothing.
                self.chunk = unpack_chunk(&header, &data).map_err(|error| self.corrupt(error))?;
                self.chunk_at = 0;
            }
            _ => {}
        }
        Ok(None)
    }

    /// The next record of the current chunk, handled; `None` when the chunk is done.
    fn next_in_chunk(&mut self) -> Option<Result<Option<RecordedMessage>, ReadError>> {
        let rest = self
            .chunk
            .get(self.chunk_at..)
            .filter(|rest| !rest.is_empty())?;
        let parsed = split_record(rest)
            .and_then(|(opcode, body, used)| Ok((parse_record(opcode, body)?.into_owned(), used)));
        let (record, used) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                self.chunk.clear();
                return Some(Err(self.corrupt(error)));
            }
        };
        self.chunk_at += used;
        if matches!(record, Record::Chunk { .. }) {
            return Some(Err(self.corrupt(McapError::BadIndex)));
        }
        Some(self.on_record(record))
    }
}

/// The records of a chunk: its data, decompressed when it is zstd, checked against the
/// uncompressed size and (when not 0) the CRC its header gives.
fn unpack_chunk(header: &mcap::records::ChunkHeader, data: &[u8]) -> Result<Vec<u8>, McapError> {
    let size = usize::try_from(header.uncompressed_size)
        .ok()
        .filter(|&size| size <= crate::layout::MAX_RECORD_BYTES)
        .ok_or(McapError::ChunkTooLarge(header.uncompressed_size))?;
    let records = match header.compression.as_str() {
        "" => data.to_vec(),
        "zstd" => zstd::bulk::decompress(data, size)
            .map_err(|error| McapError::DecompressionError(error.to_string()))?,
        other => return Err(McapError::UnsupportedCompression(other.to_owned())),
    };
    if records.len() != size {
        return Err(McapError::BadChunkLength {
            header: header.uncompressed_size,
            available: records.len() as u64,
        });
    }
    let calculated = crc32fast::hash(&records);
    if header.uncompressed_crc != 0 && header.uncompressed_crc != calculated {
        return Err(McapError::BadChunkCrc {
            saved: header.uncompressed_crc,
            calculated,
        });
    }
    Ok(records)
}

/// `mcap::parse_record`, after the one check it leaves out: that an attachment's CRC fits in its
/// record. The mcap crate slices the attachment's data up to four bytes before the record's end,
/// and that slice panics when the header already reaches past that point.
fn parse_record(opcode: u8, body: &[u8]) -> Result<Record<'_>, McapError> {
    if opcode == mcap::records::op::ATTACHMENT {
        check_attachment_fits(body)?;
    }
    mcap::parse_record(opcode, body)
}

/// An attachment record's body is
///
/// ```text
/// log_time u64 | create_time u64 | name (u32 length, bytes) | media_type (u32 length, bytes)
/// | data length u64 | data | CRC u32
/// ```
///
/// all little-endian. A header that does not fit is left to the mcap crate (its parser reports
/// it); a header that fits must leave room for the data it announces and the CRC.
fn check_attachment_fits(body: &[u8]) -> Result<(), McapError> {
    let u64_at = |at: usize| Some(u64::from_le_bytes(*body.get(at..)?.first_chunk::<8>()?));
    let string_end = |at: usize| {
        let length = u32::from_le_bytes(*body.get(at..)?.first_chunk::<4>()?);
        (at + 4).checked_add(usize::try_from(length).ok()?)
    };
    let Some((data_length, data_at)) = string_end(16)
        .and_then(string_end)
        .and_then(|media_end| Some((u64_at(media_end)?, media_end + 8)))
    else {
        return Ok(());
    };
    let available = body.len().saturating_sub(data_at).saturating_sub(4) as u64;
    if body.len() < data_at + 4 || data_length > available {
        return Err(McapError::BadAttachmentLength {
            header: data_length,
            available,
        });
    }
    Ok(())
}

/// Splits the record at the start of `records` (opcode, u64 little-endian length, body) into
/// its opcode, its body and the bytes it takes.
fn split_record(records: &[u8]) -> Result<(u8, &[u8], usize), McapError> {
    let (&[opcode], rest) = records
        .split_first_chunk::<1>()
        .ok_or(McapError::UnexpectedEoc)?;
    let (length, rest) = rest
        .split_first_chunk::<8>()
        .ok_or(McapError::UnexpectedEoc)?;
    let length = usize::try_from(u64::from_le_bytes(*length))
        .ok()
        .filter(|&length| length <= rest.len())
        .ok_or(McapError::UnexpectedEoc)?;
    Ok((opcode, &rest[..length], 9 + length))
}

impl<R: Read> Iterator for RecordingReader<R> {
    type Item = Result<RecordedMessage, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.next_in_chunk() {
                Some(Ok(Some(message))) => return Some(Ok(message)),
                Some(Ok(None)) => continue,
                Some(Err(error)) => return self.fail(error),
                None => {}
            }
            let event = match self.reader.next_event() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(error)) => {
                    let error = self.classify(error);
                    return self.fail(error);
                }
                Some(Ok(event)) => event,
            };
            match event {
                LinearReadEvent::ReadRequest(need) => {
                    let buffer = self.reader.insert(need);
                    let read = loop {
                        match self.source.read(buffer) {
                            Ok(read) => break read,
                            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                            Err(source) => {
                                let offset = self.offset;
                                return self.fail(ReadError::Io { offset, source });
                            }
                        }
                    };
                    let missing_head = mcap::MAGIC.len().saturating_sub(self.head.len());
                    self.head
                        .extend_from_slice(&buffer[..read.min(missing_head)]);
                    self.offset += read as u64;
                    self.reader.notify_read(read);
                }
                LinearReadEvent::Record { opcode, data } => {
                    let record = match parse_record(opcode, data) {
                        Ok(record) => record,
                        Err(error) => {
                            let error = self.corrupt(error);
                            return self.fail(error);
                        }
                    };
                    // `record` borrows the reader's buffer; owned data leaves with the message.
                    let record = record.into_owned();
                    match self.on_record(record) {
                        Ok(Some(message)) => return Some(Ok(message)),
                        Ok(None) => {}
                        Err(error) => return self.fail(error),
                    }
                }
            }
        }
    }
}
