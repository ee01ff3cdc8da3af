//! Recordings played back: sequence numbers, gaps, times, loops, damaged files.

use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::{MockConfig, MockKinect};
use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::sensor::{StreamSinks, Streams};
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

/// Records `sequences` of a mock with small colour frames: depth and infrared of each, a colour
/// frame after every second depth frame (numbered on its own from 100), and the mock's
/// calibration in the recorded `me`.
fn record_all_streams(path: &Path, sequences: &[u64]) -> MockKinect {
    let mock = MockKinect::new(MockConfig::default().with_color_shape(64, 48));
    let mut writer =
        RecordingWriter::new(std::fs::File::create(path).unwrap(), RecordFormat::DepthV2).unwrap();
    let mut me = sk2_proto::Me::new("test", "tcp://127.0.0.1:1");
    me.devices.push(sk2_proto::Device {
        id: "recorded-sensor".into(),
        endpoints: Default::default(),
    });
    me.calibrations
        .insert("recorded-sensor".into(), mock.calibration().unwrap());
    let me_json = sk2_proto::Reply::Me(me).encode().remove(1);
    writer
        .write_me("test", std::str::from_utf8(&me_json).unwrap(), "test")
        .unwrap();
    let depth = writer.add_sensor("test", "recorded-sensor").unwrap();
    let ir = writer
        .add_stream("test", "recorded-sensor", RecordedStream::Ir)
        .unwrap();
    let color = writer
        .add_stream("test", "recorded-sensor", RecordedStream::Color)
        .unwrap();
    for &sequence in sequences {
        let frame = recorded_frame(&mock, sequence);
        let ir_frame = sk2_proto::CapturedIrFrame {
            ir: mock.ir_frame(sequence),
            sequence,
            device_timestamp: frame.device_timestamp,
            capture_time_ns: frame.capture_time_ns,
        };
        writer
            .write(depth, &depth_v2::encode(&frame, Codec::MedHuf), 0)
            .unwrap();
        writer
            .write(ir, &sk2_proto::ir_v2::encode(&ir_frame, Codec::MedHuf), 0)
            .unwrap();
        if sequence % 2 == 0 {
            let color_frame = sk2_proto::CapturedColorFrame {
                jpeg: mock.color_frame(sequence),
                sequence: 100 + sequence / 2,
                device_timestamp: frame.device_timestamp,
                capture_time_ns: frame.capture_time_ns + 1,
            };
            writer
                .write(color, &sk2_proto::color::encode(&color_frame), 0)
                .unwrap();
        }
    }
    writer.finish().unwrap();
    mock
}

/// Plays all streams of `sensor` until `depth_frames` depth frames came, then stops it.
fn play_all(
    sensor: &mut RecordingSensor,
    depth_frames: usize,
) -> (
    Vec<CapturedFrame>,
    Vec<sk2_proto::CapturedIrFrame>,
    Vec<sk2_proto::CapturedColorFrame>,
) {
    let (depth_tx, depth_rx) = mpsc::channel();
    let (ir_tx, ir_rx) = mpsc::channel();
    let (color_tx, color_rx) = mpsc::channel();
    sensor
        .start_streams(StreamSinks {
            depth: Box::new(move |frame| {
                let _ = depth_tx.send(frame);
            }),
            ir: Some(Box::new(move |frame| {
                let _ = ir_tx.send(frame);
            })),
            color: Some(Box::new(move |frame| {
                let _ = color_tx.send(frame);
            })),
        })
        .unwrap();
    let depth = depth_rx.iter().take(depth_frames).collect::<Vec<_>>();
    // One thread delivers in file order: once the infrared frame of the last depth frame came,
    // every colour frame recorded before it had come too.
    let ir = (0..depth_frames)
        .map_while(|_| ir_rx.recv_timeout(Duration::from_secs(5)).ok())
        .collect();
    sensor.stop();
    (depth, ir, color_rx.try_iter().collect())
}

#[test]
fn infrared_colour_and_calibration_play_beside_depth_with_their_own_numbers() {
    let path = TempPath::new("streams");
    let mock = record_all_streams(&path.0, &[0, 1, 2, 3]);
    let playback = PlaybackConfig {
        rate: 8.0,
        looping: false,
    };
    let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
    assert_eq!(sensors.len(), 1, "one sensor, not one per channel");
    let sensor = &mut sensors[0];
    assert_eq!(sensor.streams(), Streams::ALL);
    assert_eq!(sensor.calibration(), mock.calibration());
    assert_eq!(sensor.recorded().color_sequence_span(), 2);

    let (depth, ir, color) = play_all(sensor, 4);
    assert_eq!(
        depth.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(
        ir.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    for frame in &ir {
        assert_eq!(frame.ir, mock.ir_frame(frame.sequence));
    }
    assert_eq!(
        color.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        [100, 101]
    );
    assert_eq!(color[1].jpeg, mock.color_frame(2));
    assert_eq!(color[1].capture_time_ns, depth[2].capture_time_ns + 1);
}

#[test]
fn a_looped_recording_numbers_colour_on_from_its_own_last_frame() {
    let path = TempPath::new("streams-loop");
    record_all_streams(&path.0, &[0, 1, 2, 3]);
    let playback = PlaybackConfig {
        rate: 16.0,
        looping: true,
    };
    let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
    let (depth, ir, color) = play_all(&mut sensors[0], 8);
    let depth: Vec<u64> = depth.iter().map(|f| f.sequence).collect();
    assert_eq!(depth, [0, 1, 2, 3, 4, 5, 6, 7]);
    let ir: Vec<u64> = ir.iter().map(|f| f.sequence).take(8).collect();
    assert_eq!(ir, depth);
    let color: Vec<u64> = color.iter().map(|f| f.sequence).take(4).collect();
    assert_eq!(color, [100, 101, 102, 103]);
}

#[test]
fn a_recording_without_infrared_or_colour_offers_depth_only() {
    let path = TempPath::new("depth-only");
    record(&path.0, &[0, 1]);
    let sensors = RecordingSensor::open_all(&path.0, PlaybackConfig::default()).unwrap();
    assert_eq!(sensors[0].streams(), Streams::DEPTH_ONLY);
    assert_eq!(sensors[0].calibration(), None);
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
