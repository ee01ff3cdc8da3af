//! The sensors running on their capture threads: rates, sequence numbers, exact content, replay.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use sk2_mock::{MockConfig, MockKinect, MockMode, ReplayError, ReplaySensor};
use sk2_proto::{CapturedFrame, Sensor, SensorError};

fn collect_for(sensor: &mut dyn Sensor, duration: Duration) -> Vec<CapturedFrame> {
    let (tx, rx) = mpsc::channel();
    sensor
        .start(Box::new(move |frame| {
            let _ = tx.send(frame);
        }))
        .unwrap();
    std::thread::sleep(duration);
    sensor.stop();
    rx.try_iter().collect()
}

#[test]
fn a_running_mock_delivers_the_exact_frames_in_sequence_at_its_rate() {
    let mut mock = MockKinect::new(MockConfig::default().with_fps(Some(30.0)));
    let frames = collect_for(&mut mock, Duration::from_secs(1));
    // 30 fps for one second: never faster, and at least the original's bar of 10 fps even on
    // a loaded machine.
    assert!((10..=32).contains(&frames.len()), "{} frames", frames.len());
    for (expected, frame) in frames.iter().enumerate() {
        assert_eq!(frame.sequence, expected as u64);
        assert_eq!(frame.depth, mock.frame(frame.sequence));
        assert!(frame.capture_time_ns > 0);
    }
}

#[test]
fn an_unthrottled_mock_produces_well_over_10_fps() {
    let mut mock = MockKinect::new(MockConfig::default().with_fps(None));
    let frames = collect_for(&mut mock, Duration::from_millis(500));
    assert!(frames.len() > 5, "{} frames in 0.5 s", frames.len());
}

#[test]
fn stop_returns_promptly_and_no_frame_arrives_after_it() {
    let mut mock = MockKinect::new(
        MockConfig::default()
            .with_fps(Some(0.5))
            .with_mode(MockMode::Realistic),
    );
    let (tx, rx) = mpsc::channel();
    mock.start(Box::new(move |frame| {
        let _ = tx.send(frame.sequence);
    }))
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    mock.stop();
    // The capture thread waits two seconds between frames but is woken by stop.
    assert!(started.elapsed() < Duration::from_millis(300));
    let delivered: Vec<u64> = rx.try_iter().collect();
    assert_eq!(delivered, vec![0]);
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
}

#[test]
fn starting_twice_is_an_error_and_a_stopped_mock_restarts_from_sequence_zero() {
    let mut mock = MockKinect::new(MockConfig::default());
    mock.start(Box::new(|_| {})).unwrap();
    assert!(matches!(
        mock.start(Box::new(|_| {})),
        Err(SensorError::AlreadyStarted(_))
    ));
    mock.stop();
    mock.stop();
    let frames = collect_for(&mut mock, Duration::from_millis(200));
    assert_eq!(frames.first().map(|f| f.sequence), Some(0));
}

fn write_frame(dir: &std::path::Path, name: &str, values: &[u16]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn a_replay_plays_its_files_in_name_order_in_a_loop() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    write_frame(dir, "b-4x2.u16", &[5000, 2, 3, 4, 5, 6, 7, 8]);
    write_frame(dir, "a-4x2.u16", &[1, 1, 1, 1, 0, 0, 0, 0]);
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let mut replay = ReplaySensor::open(dir, Some(100.0)).unwrap();
    assert_eq!(replay.len(), 2);
    assert_eq!(replay.shape(), (4, 2));
    let frames = collect_for(&mut replay, Duration::from_millis(300));
    assert!(frames.len() >= 5, "{} frames", frames.len());
    for frame in &frames {
        let expected: &[u16] = if frame.sequence % 2 == 0 {
            &[1, 1, 1, 1, 0, 0, 0, 0]
        } else {
            &[5000, 2, 3, 4, 5, 6, 7, 8]
        };
        assert_eq!(frame.depth.depth_mm(), expected);
    }
}

#[test]
fn a_replay_refuses_empty_dirs_nameless_shapes_wrong_sizes_and_mixed_shapes() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    assert!(matches!(
        ReplaySensor::open(dir, None),
        Err(ReplayError::Empty(_))
    ));
    write_frame(dir, "frame.u16", &[0; 8]);
    assert!(matches!(
        ReplaySensor::open(dir, None),
        Err(ReplayError::NoShape(_))
    ));
    std::fs::remove_file(dir.join("frame.u16")).unwrap();
    write_frame(dir, "a-4x2.u16", &[0; 7]);
    assert!(matches!(
        ReplaySensor::open(dir, None),
        Err(ReplayError::BadSize { .. })
    ));
    write_frame(dir, "a-4x2.u16", &[0; 8]);
    write_frame(dir, "b-2x2.u16", &[0; 4]);
    assert!(matches!(
        ReplaySensor::open(dir, None),
        Err(ReplayError::MixedShapes { .. })
    ));
    // A shape filter picks one sensor's files out of a mixed directory.
    let replay = ReplaySensor::open_shape(dir, None, Some((2, 2))).unwrap();
    assert_eq!((replay.len(), replay.shape()), (1, (2, 2)));
    assert!(matches!(
        ReplaySensor::open_shape(dir, None, Some((8, 8))),
        Err(ReplayError::Empty(_))
    ));
    assert!(matches!(
        ReplaySensor::open(dir.join("missing"), None),
        Err(ReplayError::Io { .. })
    ));
}

#[test]
fn dropping_a_running_sensor_stops_its_capture_thread() {
    let (tx, rx) = mpsc::channel();
    let mut mock = MockKinect::new(MockConfig::default().with_fps(None));
    mock.start(Box::new(move |frame| {
        let _ = tx.send(frame.sequence);
    }))
    .unwrap();
    rx.recv_timeout(Duration::from_secs(5))
        .expect("a first frame");
    drop(mock);
    // The sink (and with it the sender) is dropped with the thread: the channel disconnects once
    // the frames already sent are read, instead of filling forever.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(_) => assert!(Instant::now() < deadline, "frames still arrive after drop"),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the capture thread still holds its sink")
            }
        }
    }
}
