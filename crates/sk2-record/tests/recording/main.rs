//! Recordings written and read back: exact bytes, times, metadata, and every kind of damage a
//! file can suffer (cut anywhere, corrupted, foreign, a disk that fills up).

use std::collections::BTreeMap;
use std::io::{Cursor, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::{CapturedFrame, DepthFrame};
use sk2_record::{
    ChannelKind, ReadError, RecordFormat, RecordedMessage, RecordingReader, RecordingWriter,
    WriteError, STATS_METADATA_NAME,
};

mod streams;

const SERVER: &str = "Kinect test";
const RECEIVE_DELAY_NS: u64 = 2_000_000;

/// A frame that differs from its neighbours in every row, so a mix-up shows.
fn captured(sequence: u64, width: usize, height: usize) -> CapturedFrame {
    let depth_mm = (0..width * height)
        .map(|i| ((i as u64 * 7 + sequence * 13) % 4500) as u16 + 500)
        .collect();
    CapturedFrame {
        depth: DepthFrame::new(width, height, depth_mm).unwrap(),
        sequence,
        device_timestamp: sequence * 1000,
        capture_time_ns: 1_700_000_000_000_000_000 + sequence * 33_333_333,
    }
}

fn message(sequence: u64) -> Vec<u8> {
    depth_v2::encode(&captured(sequence, 64, 48), Codec::MedHuf)
}

fn kinect_v2_message(sequence: u64) -> Vec<u8> {
    depth_v2::encode(&captured(sequence, 512, 424), Codec::MedHuf)
}

/// A `Write + Seek` whose bytes the test can look at while the writer still owns it.
#[derive(Clone, Default)]
struct SharedFile {
    bytes: Arc<Mutex<Vec<u8>>>,
    position: usize,
    /// Writes fail once the file would grow past this, like a full disk.
    limit: Option<usize>,
}

impl SharedFile {
    fn snapshot(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }
}

impl Write for SharedFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.bytes.lock().unwrap();
        let end = self.position + data.len();
        if self.limit.is_some_and(|limit| end > limit) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[self.position..end].copy_from_slice(data);
        self.position = end;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let len = self.bytes.lock().unwrap().len() as i64;
        let position = match to {
            SeekFrom::Start(at) => at as i64,
            SeekFrom::End(delta) => len + delta,
            SeekFrom::Current(delta) => self.position as i64 + delta,
        };
        self.position = usize::try_from(position).map_err(std::io::Error::other)?;
        Ok(self.position as u64)
    }
}

/// A complete recording of `frames` frames of two sensors, interleaved.
fn recording(frames: u64, format: RecordFormat) -> Vec<u8> {
    let mut writer = RecordingWriter::new(Cursor::new(Vec::new()), format).unwrap();
    writer
        .write_me(SERVER, r#"{"name":"Kinect test"}"#, "test")
        .unwrap();
    let a = writer.add_sensor(SERVER, "sensor-a").unwrap();
    let b = writer.add_sensor(SERVER, "sensor-b").unwrap();
    for sequence in 0..frames {
        let message = message(sequence);
        let received = captured(sequence, 1, 1).capture_time_ns + RECEIVE_DELAY_NS;
        writer.write_depth_v2(a, &message, received).unwrap();
        writer.write_depth_v2(b, &message, received + 1).unwrap();
    }
    writer
        .write_metadata(
            STATS_METADATA_NAME,
            BTreeMap::from([("dropped".to_owned(), "0".to_owned())]),
        )
        .unwrap();
    writer.finish().unwrap().into_inner()
}

fn read_all(bytes: &[u8]) -> (Vec<RecordedMessage>, Option<ReadError>) {
    let mut messages = Vec::new();
    for item in RecordingReader::new(bytes) {
        match item {
            Ok(message) => messages.push(message),
            Err(error) => return (messages, Some(error)),
        }
    }
    (messages, None)
}

#[test]
fn depth_v2_messages_come_back_byte_for_byte_with_their_times() {
    let file = recording(20, RecordFormat::DepthV2);
    let mut reader = RecordingReader::new(file.as_slice());
    let messages: Vec<_> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(messages.len(), 40);
    for (index, recorded) in messages.iter().enumerate() {
        let sequence = index as u64 / 2;
        assert_eq!(recorded.data, message(sequence), "message {index}");
        assert_eq!(recorded.index, index as u64);
        assert_eq!(u64::from(recorded.sequence), sequence);
        let capture = captured(sequence, 1, 1).capture_time_ns;
        assert_eq!(recorded.publish_time_ns, capture);
        assert_eq!(
            recorded.log_time_ns,
            capture + RECEIVE_DELAY_NS + index as u64 % 2
        );
        assert_eq!(recorded.channel.kind, ChannelKind::DepthV2);
        let sensor = if index % 2 == 0 {
            "sensor-a"
        } else {
            "sensor-b"
        };
        assert_eq!(recorded.channel.device_id.as_deref(), Some(sensor));
        assert_eq!(
            recorded.channel.topic,
            format!("/{SERVER}/{sensor}/depth_v2")
        );
        let frame = recorded.decode().unwrap();
        assert_eq!(frame.sequence, sequence);
        assert_eq!(frame.depth, captured(sequence, 64, 48).depth);
    }
    let me = reader.me().unwrap();
    assert_eq!((me.server.as_str(), me.recorder.as_str()), (SERVER, "test"));
    assert_eq!(me.me_json, r#"{"name":"Kinect test"}"#);
    assert_eq!(reader.metadata()[0].0, STATS_METADATA_NAME);
    assert_eq!(reader.channels().len(), 2);
}

#[test]
fn a_kinect_v2_depth_v2_file_is_within_two_percent_of_its_messages() {
    let mut writer = RecordingWriter::new(Cursor::new(Vec::new()), RecordFormat::DepthV2).unwrap();
    let channel = writer.add_sensor(SERVER, "s").unwrap();
    let mut messages = 0;
    for sequence in 0..60 {
        let message = kinect_v2_message(sequence);
        messages += message.len() as u64;
        writer.write_depth_v2(channel, &message, sequence).unwrap();
    }
    let file = writer.finish().unwrap().into_inner();
    let overhead = file.len() as f64 / messages as f64 - 1.0;
    assert!(
        overhead < 0.02,
        "{} bytes for {messages} of messages",
        file.len()
    );
}

#[test]
fn foxglove_raw_images_decode_to_the_same_pixels() {
    let file = recording(5, RecordFormat::FoxgloveRawImage);
    let (messages, error) = read_all(&file);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(messages.len(), 10);
    for (index, recorded) in messages.iter().enumerate() {
        let sequence = index as u64 / 2;
        assert_eq!(recorded.channel.kind, ChannelKind::RawImage);
        assert!(recorded.channel.topic.ends_with("/depth_image"));
        let frame = recorded.decode().unwrap();
        assert_eq!(frame.depth, captured(sequence, 64, 48).depth);
        assert_eq!(frame.sequence, sequence);
        assert_eq!(
            frame.capture_time_ns,
            captured(sequence, 1, 1).capture_time_ns
        );
        assert!(recorded.depth_v2_header().is_err());
    }
}

#[test]
fn a_file_cut_anywhere_reads_its_complete_messages_then_says_truncated() {
    let file = recording(6, RecordFormat::DepthV2);
    let (all, _) = read_all(&file);
    // Every cut point of the data section and a sample of the summary: never a panic, never a
    // wrong message, and a cut before the end is reported (at worst as corrupt, never as clean).
    for cut in (0..file.len())
        .step_by(7)
        .chain([1, 7, 8, 9, file.len() - 1])
    {
        let (messages, error) = read_all(&file[..cut]);
        assert_eq!(messages[..], all[..messages.len()], "cut at {cut}");
        let error = error.unwrap_or_else(|| panic!("cut at {cut} read as complete"));
        assert!(
            matches!(
                error,
                ReadError::Truncated { .. } | ReadError::Corrupt { .. }
            ),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn a_killed_recorder_leaves_every_flushed_chunk_readable() {
    let file = SharedFile::default();
    let mut writer = RecordingWriter::new(file.clone(), RecordFormat::DepthV2).unwrap();
    let channel = writer.add_sensor(SERVER, "s").unwrap();
    for sequence in 0..10 {
        writer
            .write_depth_v2(channel, &message(sequence), sequence)
            .unwrap();
    }
    writer.flush().unwrap();
    for sequence in 10..13 {
        writer
            .write_depth_v2(channel, &message(sequence), sequence)
            .unwrap();
    }
    // SIGKILL now: the process ends with the writer in memory, nothing more reaches the file.
    let on_disk = file.snapshot();
    std::mem::forget(writer);
    let (messages, error) = read_all(&on_disk);
    assert_eq!(messages.len(), 10);
    let error = error.unwrap();
    assert!(error.is_truncation(), "{error:?}");
}

#[test]
fn a_full_disk_is_an_io_error_and_leaves_a_readable_file() {
    let full_at = 20_000;
    let file = SharedFile {
        limit: Some(full_at),
        ..SharedFile::default()
    };
    let mut writer = RecordingWriter::new(file.clone(), RecordFormat::DepthV2).unwrap();
    let channel = writer.add_sensor(SERVER, "s").unwrap();
    let mut written = 0;
    let error = loop {
        match writer
            .write_depth_v2(channel, &message(written), written)
            .and_then(|()| writer.flush())
        {
            Ok(()) => written += 1,
            Err(error) => break error,
        }
        assert!(written < 1000, "the disk never filled up");
    };
    assert!(matches!(&error, WriteError::Io(io) if io.kind() == std::io::ErrorKind::StorageFull));
    drop(writer);
    let (messages, error) = read_all(&file.snapshot());
    assert!(error.is_some());
    assert!(
        messages.len() as u64 + 1 >= written && !messages.is_empty(),
        "{} of {written} readable",
        messages.len()
    );
    for (sequence, recorded) in messages.iter().enumerate() {
        assert_eq!(recorded.data, message(sequence as u64));
    }
}

#[test]
fn a_foreign_file_is_not_mcap() {
    for foreign in [
        &b"\x89PNG\r\n\x1a\n0000"[..],
        b"hello",
        b"",
        b"\x89MCAX0\r\n",
    ] {
        let (messages, error) = read_all(foreign);
        assert!(messages.is_empty());
        match error {
            Some(ReadError::NotMcap { found }) => {
                assert_eq!(found, foreign[..foreign.len().min(8)])
            }
            Some(ReadError::Truncated { messages: 0, .. }) if foreign.is_empty() => {}
            other => panic!("{foreign:?}: {other:?}"),
        }
    }
}

#[test]
fn another_tools_channel_is_read_but_not_decoded() {
    let mut writer = mcap::Writer::new(Cursor::new(Vec::new())).unwrap();
    let channel = writer
        .add_channel(0, "/imu", "json", &BTreeMap::new())
        .unwrap();
    writer
        .write_to_known_channel(
            &mcap::records::MessageHeader {
                channel_id: channel,
                sequence: 1,
                log_time: 2,
                publish_time: 3,
            },
            b"{}",
        )
        .unwrap();
    writer.finish().unwrap();
    let file = writer.into_inner().into_inner();
    let (messages, error) = read_all(&file);
    assert!(error.is_none());
    assert_eq!(messages[0].channel.kind, ChannelKind::Other);
    let error = messages[0].decode().unwrap_err();
    assert!(error.to_string().contains("/imu holds \"json\""), "{error}");
}

#[test]
fn a_corrupted_chunk_is_a_crc_error_that_says_where() {
    let mut file = recording(4, RecordFormat::DepthV2);
    // Inside the first message's payload (past the header, metadata and channel records).
    let at = file.windows(4).position(|w| w == b"SKD2").unwrap() + 60;
    file[at] ^= 0x55;
    let (messages, error) = read_all(&file);
    assert!(messages.len() < 8);
    match error {
        Some(error @ ReadError::Corrupt { .. }) => {
            let text = error.to_string();
            assert!(text.contains("CRC") && text.contains("near byte"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_messages_are_not_written() {
    let mut writer = RecordingWriter::new(Cursor::new(Vec::new()), RecordFormat::DepthV2).unwrap();
    let channel = writer.add_sensor(SERVER, "s").unwrap();
    let mut bad = message(0);
    bad[0] = b'X';
    assert!(matches!(
        writer.write_depth_v2(channel, &bad, 0),
        Err(WriteError::BadMessage(depth_v2::DepthV2Error::BadMagic(_)))
    ));
    assert_eq!(writer.messages(), 0);
}

#[test]
fn a_record_longer_than_its_chunk_is_a_corrupt_chunk_not_a_panic() {
    // Found by the recording_read fuzz target: the mcap crate's own chunk reader subtracts the
    // record's length from the chunk's without checking it fits.
    let file = include_bytes!("../fixtures/record-longer-than-its-chunk.mcap");
    let (_, error) = read_all(file);
    assert!(
        matches!(error, Some(ReadError::Corrupt { .. })),
        "{error:?}"
    );
}

#[test]
fn a_chunk_whose_records_overrun_it_is_corrupt() {
    // A valid file whose first chunk's first record claims a length past the chunk's end (the
    // chunk's CRC is zeroed, which MCAP reads as "not computed").
    let mut file = recording(2, RecordFormat::DepthV2);
    let mut chunk = 8; // after the magic, walk the records to the first chunk (opcode 0x06)
    while file[chunk] != 0x06 {
        let length = u64::from_le_bytes(file[chunk + 1..chunk + 9].try_into().unwrap());
        chunk += 9 + length as usize;
    }
    // Chunk record: opcode, u64 length, then start, end, uncompressed size, CRC (u32) ...
    let crc_at = chunk + 9 + 24;
    file[crc_at..crc_at + 4].copy_from_slice(&[0; 4]);
    let compression_len_at = crc_at + 4;
    let records_at = compression_len_at + 4 + 8;
    file[records_at + 1..records_at + 9].copy_from_slice(&u64::MAX.to_le_bytes());
    let (messages, error) = read_all(&file);
    assert!(messages.is_empty());
    assert!(
        matches!(error, Some(ReadError::Corrupt { .. })),
        "{error:?}"
    );
}

/// An MCAP record: opcode, u64 little-endian body length, body.
fn mcap_record(opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut record = vec![opcode];
    record.extend_from_slice(&(body.len() as u64).to_le_bytes());
    record.extend_from_slice(body);
    record
}

/// An attachment record's body (log time, create time, name, media type, data length, data,
/// CRC 0 for "not computed"), its last `cut` bytes left out.
fn attachment_body(data: &[u8], cut: usize) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&1u64.to_le_bytes());
    body.extend_from_slice(&2u64.to_le_bytes());
    for text in ["notes", "text/plain"] {
        body.extend_from_slice(&(text.len() as u32).to_le_bytes());
        body.extend_from_slice(text.as_bytes());
    }
    body.extend_from_slice(&(data.len() as u64).to_le_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(&0u32.to_le_bytes());
    body.truncate(body.len() - cut);
    body
}

/// `file` with `record` placed right after its header record.
fn with_record_after_header(mut file: Vec<u8>, record: &[u8]) -> Vec<u8> {
    assert_eq!(file[8], 0x01, "a recording starts with its header record");
    let header_length = u64::from_le_bytes(file[9..17].try_into().unwrap()) as usize;
    let after_header = 8 + 9 + header_length;
    file.splice(after_header..after_header, record.iter().copied());
    file
}

#[test]
fn an_attachment_is_passed_over_and_one_too_short_for_its_crc_is_corrupt_not_a_panic() {
    let whole = mcap_record(0x09, &attachment_body(b"hello", 0));
    let (messages, error) = read_all(&with_record_after_header(
        recording(2, RecordFormat::DepthV2),
        &whole,
    ));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(messages.len(), 4);

    // Found by the recording_read fuzz target: the mcap crate slices an attachment's data up to
    // the CRC without checking the header leaves room for it. Cut into the CRC, then into the data.
    for cut in [2, 4 + 3] {
        let short = mcap_record(0x09, &attachment_body(b"hello", cut));
        let (messages, error) = read_all(&with_record_after_header(
            recording(2, RecordFormat::DepthV2),
            &short,
        ));
        assert!(messages.is_empty());
        match error {
            Some(ReadError::Corrupt { source, .. }) => assert!(
                matches!(
                    source,
                    mcap::McapError::BadAttachmentLength { header: 5, .. }
                ),
                "{source:?}"
            ),
            other => panic!("cut {cut}: {other:?}"),
        }
    }
}

#[test]
fn an_attachment_too_short_for_its_crc_inside_a_chunk_is_corrupt_not_a_panic() {
    let records = mcap_record(0x09, &attachment_body(b"", 3));
    // Chunk body: start and end times, uncompressed size, CRC (0: not computed), compression
    // (empty string: none), records length, records.
    let mut chunk = Vec::new();
    chunk.extend_from_slice(&0u64.to_le_bytes());
    chunk.extend_from_slice(&0u64.to_le_bytes());
    chunk.extend_from_slice(&(records.len() as u64).to_le_bytes());
    chunk.extend_from_slice(&0u32.to_le_bytes());
    chunk.extend_from_slice(&0u32.to_le_bytes());
    chunk.extend_from_slice(&(records.len() as u64).to_le_bytes());
    chunk.extend_from_slice(&records);
    let file = with_record_after_header(
        recording(2, RecordFormat::DepthV2),
        &mcap_record(0x06, &chunk),
    );
    let (messages, error) = read_all(&file);
    assert!(messages.is_empty());
    assert!(
        matches!(
            error,
            Some(ReadError::Corrupt {
                source: mcap::McapError::BadAttachmentLength { header: 0, .. },
                ..
            })
        ),
        "{error:?}"
    );
}
