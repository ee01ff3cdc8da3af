//! Recordings played back: sequence numbers, gaps, times, loops, damaged files.

use super::*;
use crate::{MockConfig, MockKinect};
use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::CapturedFrame;
use sk2_record::{RecordFormat, RecordedStream, RecordingWriter};

const FIRST_CAPTURE_NS: u64 = 1_700_000_000_000_000_000;
const PERIOD_NS: u64 = 33_333_333;

/// A temporary file removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        let unique = format!("sk2-mock-{}-{name}.mcap", std::process::id());
        Self(std::env::temp_dir().join(unique))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn recorded_frame(mock: &MockKinect, sequence: u64) -> CapturedFrame {
    CapturedFrame {
        depth: mock.frame(sequence),
        sequence,
        device_timestamp: sequence * 8,
        capture_time_ns: FIRST_CAPTURE_NS + sequence * PERIOD_NS,
    }
}

/// Records the mock's frames with these sequence numbers (gaps are drops), ending a chunk
/// every 5 frames as a recorder does every second.
fn record(path: &Path, sequences: &[u64]) -> MockKinect {
    let mock = MockKinect::new(MockConfig::default());
    let file = std::fs::File::create(path).unwrap();
    let mut writer = RecordingWriter::new(file, RecordFormat::DepthV2).unwrap();
    let channel = writer.add_sensor("test", "recorded-sensor").unwrap();
    for &sequence in sequences {
        let message = depth_v2::encode(&recorded_frame(&mock, sequence), Codec::MedHuf);
        writer.write_depth_v2(channel, &message, 0).unwrap();
        if sequence % 5 == 4 {
            writer.flush().unwrap();
        }
    }
    writer.finish().unwrap();
    mock
}

fn play(sensor: &mut RecordingSensor, frames: usize) -> Vec<CapturedFrame> {
    let (sender, receiver) = mpsc::channel();
    sensor
        .start(Box::new(move |frame| {
            let _ = sender.send(frame);
        }))
        .unwrap();
    let played = receiver.iter().take(frames).collect::<Vec<_>>();
    sensor.stop();
    played
}

#[test]
fn a_recording_plays_with_its_sequence_numbers_gaps_and_times() {
    let path = TempPath::new("gaps");
    let sequences = [10, 11, 12, 15, 16];
    let mock = record(&path.0, &sequences);
    let playback = PlaybackConfig {
        rate: 8.0,
        looping: false,
    };
    let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
    assert_eq!(sensors.len(), 1);
    let sensor = &mut sensors[0];
    assert_eq!(sensor.id(), "recorded-sensor");
    assert_eq!(sensor.shape(), (512, 424));
    assert_eq!(sensor.recorded().sequences, (10, 16));
    assert!(!sensor.truncated());
    let played = play(sensor, sequences.len());
    for (frame, &sequence) in played.iter().zip(&sequences) {
        let recorded = recorded_frame(&mock, sequence);
        assert_eq!(frame.sequence, sequence);
        assert_eq!(frame.capture_time_ns, recorded.capture_time_ns);
        assert_eq!(frame.device_timestamp, recorded.device_timestamp);
        assert_eq!(frame.depth, recorded.depth);
    }
}

#[test]
fn infrared_and_colour_channels_are_not_replayed_as_sensors() {
    let path = TempPath::new("streams");
    let mock = MockKinect::new(MockConfig::default());
    let mut writer = RecordingWriter::new(
        std::fs::File::create(&path.0).unwrap(),
        RecordFormat::DepthV2,
    )
    .unwrap();
    let depth = writer.add_sensor("test", "recorded-sensor").unwrap();
    let ir = writer
        .add_stream("test", "recorded-sensor", RecordedStream::Ir)
        .unwrap();
    for sequence in 0..3 {
        let frame = recorded_frame(&mock, sequence);
        let ir_frame = sk2_proto::CapturedIrFrame {
            ir: mock.ir_frame(sequence),
            sequence,
            device_timestamp: frame.device_timestamp,
            capture_time_ns: frame.capture_time_ns,
        };
        writer
            .write(ir, &sk2_proto::ir_v2::encode(&ir_frame, Codec::MedHuf), 0)
            .unwrap();
        writer
            .write(depth, &depth_v2::encode(&frame, Codec::MedHuf), 0)
            .unwrap();
    }
    writer.finish().unwrap();
    let playback = PlaybackConfig {
        rate: 8.0,
        looping: false,
    };
    let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
    assert_eq!(sensors.len(), 1);
    let played = play(&mut sensors[0], 3);
    let sequences: Vec<u64> = played.iter().map(|frame| frame.sequence).collect();
    assert_eq!(sequences, [0, 1, 2]);
    assert_eq!(played[1].depth, mock.frame(1));
}

#[test]
fn a_loop_keeps_sequence_numbers_and_times_increasing() {
    let path = TempPath::new("loop");
    let mock = record(&path.0, &[10, 11, 12, 15, 16]);
    let playback = PlaybackConfig {
        rate: 16.0,
        looping: true,
    };
    let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
    let played = play(&mut sensors[0], 12);
    let sequences: Vec<u64> = played.iter().map(|frame| frame.sequence).collect();
    // The span is 16 - 10 + 1 = 7: the second pass starts at 17, the third at 24.
    assert_eq!(sequences, [10, 11, 12, 15, 16, 17, 18, 19, 22, 23, 24, 25]);
    assert!(played
        .windows(2)
        .all(|pair| pair[0].capture_time_ns < pair[1].capture_time_ns));
    assert_eq!(played[5].depth, mock.frame(10));
    // One mean period after the last frame of the first pass (6 periods over 4 intervals).
    let span = sensors[0].recorded().duration_span_ns();
    assert_eq!(span, 6 * PERIOD_NS + 6 * PERIOD_NS / 4);
    assert_eq!(played[5].capture_time_ns, played[0].capture_time_ns + span);
}

#[test]
fn files_that_cannot_be_played_say_why() {
    let path = TempPath::new("foreign");
    std::fs::write(&path.0, b"not a recording").unwrap();
    let error = RecordingSensor::open_all(&path.0, PlaybackConfig::default()).unwrap_err();
    assert!(error.to_string().contains("not an MCAP file"), "{error}");

    let empty = TempPath::new("empty");
    let writer = RecordingWriter::new(
        std::fs::File::create(&empty.0).unwrap(),
        RecordFormat::DepthV2,
    )
    .unwrap();
    writer.finish().unwrap();
    let error = RecordingSensor::open_all(&empty.0, PlaybackConfig::default()).unwrap_err();
    assert!(
        matches!(error, ReplayError::NoDepthChannel { .. }),
        "{error}"
    );

    let bad_rate = PlaybackConfig {
        rate: 0.0,
        looping: false,
    };
    let error = RecordingSensor::open_all(&empty.0, bad_rate).unwrap_err();
    assert!(matches!(error, ReplayError::BadRate(_)));
}

#[test]
fn a_truncated_recording_plays_its_complete_frames() {
    let path = TempPath::new("cut");
    let mock = record(&path.0, &(0..30).collect::<Vec<_>>());
    let bytes = std::fs::read(&path.0).unwrap();
    // Cut in the middle of the file: some chunks complete, the rest lost.
    std::fs::write(&path.0, &bytes[..bytes.len() / 2]).unwrap();
    let playback = PlaybackConfig {
        rate: 16.0,
        looping: false,
    };
    let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
    assert!(sensors[0].truncated());
    let frames = sensors[0].recorded().frames as usize;
    assert!((5..30).contains(&frames), "{frames} frames survive");
    let played = play(&mut sensors[0], frames);
    assert_eq!(played.last().unwrap().depth, mock.frame(frames as u64 - 1));
}
