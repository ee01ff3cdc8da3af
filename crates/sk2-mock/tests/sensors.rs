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

mod streams {
    use std::sync::mpsc;
    use std::time::Duration;

    use sk2_mock::{MockConfig, MockKinect, MockMode, ReplayError, ReplaySensor};
    use sk2_proto::color::jpeg_shape;
    use sk2_proto::{Calibration, Sensor, StreamDemand, StreamSinks, Streams};

    #[test]
    fn the_mock_offers_all_three_streams_and_the_typical_calibration() {
        let mock = MockKinect::new(MockConfig::default());
        assert_eq!(mock.streams(), Streams::ALL);
        assert_eq!(mock.calibration(), Some(Calibration::KINECT_V2_TYPICAL));
    }

    #[test]
    fn infrared_follows_the_depth_scene_brighter_where_nearer() {
        let mock = MockKinect::new(MockConfig::default().with_mode(MockMode::Realistic));
        let (depth, ir) = (mock.frame(0), mock.ir_frame(0));
        assert_eq!((ir.width(), ir.height()), (512, 424));
        assert_eq!(ir, mock.ir_frame(0), "reproducible");
        // The ball (about 1.2 m, centre) against the back wall (about 3 m, top left).
        let (ball, wall) = (ir.at(212, 256).unwrap(), ir.at(20, 20).unwrap());
        assert!(depth.at(212, 256).unwrap() < 1400 && depth.at(20, 20).unwrap() > 2900);
        assert!(ball > 3 * wall, "ball {ball}, wall {wall}");
        // The floor is seen at a grazing angle: dim, but it sends some light back.
        assert!(ir.at(420, 100).unwrap() > 20);
    }

    #[test]
    fn colour_is_a_1080p_jpeg_of_the_same_scene_with_the_ball_red() {
        let mock = MockKinect::new(MockConfig::default().with_mode(MockMode::Realistic));
        let jpeg = mock.color_frame(0);
        assert_eq!((jpeg.width(), jpeg.height()), (1920, 1080));
        assert_eq!(jpeg_shape(jpeg.bytes()), Ok((1920, 1080)));
        let rgb = mock.color_rgb(0);
        assert_eq!(rgb.len(), 1920 * 1080 * 3);
        let pixel = |row: usize, col: usize| {
            let at = (row * 1920 + col) * 3;
            [rgb[at], rgb[at + 1], rgb[at + 2]]
        };
        let [r, g, b] = pixel(540, 960);
        assert!(
            r > 2 * g && r > 2 * b,
            "centre is the red ball: {r} {g} {b}"
        );
        let [r, g, b] = pixel(60, 100);
        assert!(g > 100 && b > 80, "top left is the beige wall: {r} {g} {b}");
        // Lit from the upper left: the ball's upper left is brighter than its lower right.
        let brightness = |[r, g, b]: [u8; 3]| u32::from(r) + u32::from(g) + u32::from(b);
        assert!(brightness(pixel(420, 840)) > brightness(pixel(660, 1080)));
    }

    #[test]
    fn a_running_mock_delivers_ir_with_its_depth_sequence_and_colour_on_its_own_thread() {
        let mut mock = MockKinect::new(MockConfig::default().with_fps(Some(30.0)));
        let (depth_tx, depth_rx) = mpsc::channel();
        let (ir_tx, ir_rx) = mpsc::channel();
        let (color_tx, color_rx) = mpsc::channel();
        mock.start_streams(StreamSinks {
            depth: Box::new(move |frame| {
                let _ = depth_tx.send(frame.sequence);
            }),
            ir: Some(Box::new(move |frame| {
                let _ = ir_tx.send((frame.sequence, frame.ir));
            })),
            color: Some(Box::new(move |frame| {
                let _ = color_tx.send((frame.sequence, frame.jpeg));
            })),
        })
        .unwrap();
        let (sequence, ir) = ir_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(ir, mock.ir_frame(sequence));
        let (sequence, jpeg) = color_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(jpeg, mock.color_frame(sequence));
        mock.stop();
        assert!(depth_rx.try_iter().count() > 0);
    }

    #[test]
    fn a_mock_told_nobody_wants_colour_or_ir_skips_them() {
        let mut mock = MockKinect::new(MockConfig::default().with_fps(Some(60.0)));
        let demand = StreamDemand::default();
        mock.set_demand(demand.clone());
        let (ir_tx, ir_rx) = mpsc::channel();
        let (color_tx, color_rx) = mpsc::channel();
        let (depth_tx, depth_rx) = mpsc::channel();
        mock.start_streams(StreamSinks {
            depth: Box::new(move |frame| {
                let _ = depth_tx.send(frame.sequence);
            }),
            ir: Some(Box::new(move |frame| {
                let _ = ir_tx.send(frame.sequence);
            })),
            color: Some(Box::new(move |frame| {
                let _ = color_tx.send(frame.sequence);
            })),
        })
        .unwrap();
        depth_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(ir_rx.try_iter().count(), 0);
        assert_eq!(color_rx.try_iter().count(), 0);
        demand.set_ir(true);
        demand.set_color(true);
        ir_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        color_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        mock.stop();
    }

    fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    /// A 2 x 1 depth or IR frame as little-endian bytes.
    fn u16s(values: [u16; 2]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// The smallest bytes whose JPEG size can be read: SOI and a frame header of `width x 1`.
    fn jpeg(width: u8) -> Vec<u8> {
        vec![
            0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0, 1, 0, width, 1, 1, 0x11, 0,
        ]
    }

    #[test]
    fn replay_offers_the_ir_and_colour_files_beside_its_depth_files() {
        let dir = tempfile::tempdir().unwrap();
        for (index, name) in ["a-2x1", "b-2x1"].iter().enumerate() {
            let index = index as u16;
            write(
                dir.path(),
                &format!("{name}.u16"),
                &u16s([1000 + index, 2000]),
            );
            write(dir.path(), &format!("{name}.ir.u16"), &u16s([7 + index, 9]));
            write(dir.path(), &format!("{name}.jpg"), &jpeg(2 + index as u8));
        }
        let mut replay = ReplaySensor::open(dir.path(), Some(100.0)).unwrap();
        assert_eq!(replay.len(), 2, "the .ir.u16 files are not depth frames");
        assert_eq!(replay.streams(), Streams::ALL);
        let (tx, rx) = mpsc::channel();
        let (ir_tx, color_tx) = (tx.clone(), tx.clone());
        replay
            .start_streams(StreamSinks {
                depth: Box::new(move |frame| {
                    let _ = tx.send(("depth", frame.sequence, frame.depth.depth_mm()[0]));
                }),
                ir: Some(Box::new(move |frame| {
                    let _ = ir_tx.send(("ir", frame.sequence, frame.ir.amplitude()[0]));
                })),
                color: Some(Box::new(move |frame| {
                    let width = frame.jpeg.width() as u16;
                    let _ = color_tx.send(("color", frame.sequence, width));
                })),
            })
            .unwrap();
        let delivered: Vec<_> = rx.iter().take(6).collect();
        replay.stop();
        assert_eq!(
            delivered,
            [
                ("depth", 0, 1000),
                ("ir", 0, 7),
                ("color", 0, 2),
                ("depth", 1, 1001),
                ("ir", 1, 8),
                ("color", 1, 3),
            ]
        );
    }

    #[test]
    fn replay_refuses_companions_for_only_some_frames_and_unreadable_jpegs() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a-2x1.u16", &u16s([1, 2]));
        write(dir.path(), "b-2x1.u16", &u16s([1, 2]));
        write(dir.path(), "b-2x1.ir.u16", &u16s([1, 2]));
        assert!(matches!(
            ReplaySensor::open(dir.path(), None),
            Err(ReplayError::MissingCompanion { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a-2x1.u16", &u16s([1, 2]));
        write(dir.path(), "a-2x1.jpg", b"not a jpeg");
        assert!(matches!(
            ReplaySensor::open(dir.path(), None),
            Err(ReplayError::BadJpeg { .. })
        ));
        // Depth alone still replays as before.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a-2x1.u16", &u16s([1, 2]));
        let replay = ReplaySensor::open(dir.path(), None).unwrap();
        assert_eq!(replay.streams(), Streams::DEPTH_ONLY);
    }
}
