//! `Freenect2Sensor`'s IR and colour: its own sink per stream, IR numbered to pair with depth,
//! colour passed through as the device's JPEG and never delaying depth, and the calibration read
//! from the device when the sensor is made.

use std::sync::mpsc;

use sk2_freenect2::OpenOptions;
use sk2_proto::{Sensor, StreamDemand, StreamSinks, Streams};

use crate::streams::{expected_params, EXPECTED_SPECIAL_IR};
use sk2_testkit::wait_until;

use crate::{
    assert_nothing_alive, channel_sink, color_channel_sink, exclusive, open_sensor, standin,
    start_all_streams, StreamReceivers, FRAME_WAIT,
};

#[test]
fn a_sensor_offers_ir_and_colour_and_the_devices_calibration() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 0);
    let sensor = open_sensor(&OpenOptions::default());
    assert_eq!(sensor.streams(), Streams::ALL);
    // Read from the device when the sensor was made, before any start.
    assert_eq!(sensor.calibration(), Some(expected_params()));
    drop(sensor);
    let sensor = open_sensor(&OpenOptions {
        color: false,
        ..OpenOptions::default()
    });
    assert_eq!(sensor.streams(), Streams::DEPTH_ONLY.with_ir());
    assert_eq!(sensor.calibration(), Some(expected_params()));
    drop(sensor);
    assert_nothing_alive();
}

#[test]
fn ir_and_colour_reach_their_own_sinks_ir_numbered_like_its_depth_frame() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 300);
    let mut sensor = open_sensor(&OpenOptions::default());
    let StreamReceivers { depth, ir, color } = start_all_streams(&mut sensor, 64);
    let depth: Vec<_> = (0..5)
        .map(|_| depth.recv_timeout(FRAME_WAIT).unwrap())
        .collect();
    let ir: Vec<_> = (0..5)
        .map(|_| ir.recv_timeout(FRAME_WAIT).unwrap())
        .collect();
    let color: Vec<_> = (0..3)
        .map(|_| color.recv_timeout(FRAME_WAIT).unwrap())
        .collect();
    sensor.stop();
    let stats = sensor.stats();

    // The stand-in stamps device frame n with 267 * n; depth numbers its frames from the first.
    let first_depth_device = depth[0].device_timestamp / 267;
    for frame in &ir {
        let device_sequence = frame.device_timestamp / 267;
        assert_eq!(frame.device_timestamp % 267, 0);
        // Paired with depth by sequence: the same numbering as the depth frames.
        assert_eq!(frame.sequence, device_sequence - first_depth_device);
        assert_eq!((frame.ir.width(), frame.ir.height()), (512, 424));
        let amplitude = frame.ir.amplitude();
        assert_eq!(amplitude[..8], EXPECTED_SPECIAL_IR);
        assert_eq!(
            u64::from(amplitude[1000]),
            (1000 * 7 + device_sequence) % 65536
        );
    }
    let first_color_device = color[0].device_timestamp / 267;
    for frame in &color {
        let device_sequence = frame.device_timestamp / 267;
        assert_eq!(frame.sequence, device_sequence - first_color_device);
        assert_eq!((frame.jpeg.width(), frame.jpeg.height()), (1920, 1080));
        // Passed through: byte for byte what the device sent.
        let sent = standin::color_jpeg(u32::try_from(device_sequence).unwrap());
        assert!(
            frame.jpeg.bytes() == sent.as_slice(),
            "colour frame {device_sequence} changed"
        );
    }
    assert_eq!(color[0].sequence, 0);
    assert!(stats.ir_frames >= 5 && stats.color_frames >= 3, "{stats:?}");
    assert_eq!(stats.errors, 0);
    drop(sensor);
    assert_nothing_alive();
}

#[test]
fn a_stuck_colour_sink_never_delays_depth() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 0);
    let mut sensor = open_sensor(&OpenOptions::default());
    let (depth_sink, depth) = channel_sink(64);
    let (release, released) = mpsc::channel::<()>();
    let (entered, colour_entered) = mpsc::channel::<()>();
    sensor
        .start_streams(StreamSinks {
            depth: depth_sink,
            ir: None,
            // The worst colour consumer: it blocks until the test lets it go.
            color: Some(Box::new(move |_frame| {
                let _ = entered.send(());
                let _ = released.recv();
            })),
        })
        .unwrap();
    colour_entered
        .recv_timeout(FRAME_WAIT)
        .expect("the colour sink was called");
    // Depth keeps flowing while the colour thread is stuck in its sink.
    let sequences: Vec<u64> = (0..30)
        .map(|_| {
            depth
                .recv_timeout(FRAME_WAIT)
                .expect("depth flows while colour is stuck")
                .sequence
        })
        .collect();
    assert!(sequences.windows(2).all(|pair| pair[0] < pair[1]));
    let stuck = sensor.stats();
    assert_eq!(stuck.color_frames, 1, "{stuck:?}");
    drop(release);
    sensor.stop();
    drop(sensor);
    assert_nothing_alive();
}

#[test]
fn without_ir_and_colour_sinks_only_depth_is_delivered_and_colour_stays_off() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 0);
    let mut sensor = open_sensor(&OpenOptions::default());
    let (sink, frames) = channel_sink(8);
    sensor.start(sink).unwrap();
    for _ in 0..5 {
        frames.recv_timeout(FRAME_WAIT).unwrap();
    }
    sensor.stop();
    let stats = sensor.stats();
    assert!(stats.frames >= 5);
    assert_eq!((stats.ir_frames, stats.color_frames), (0, 0), "{stats:?}");
    assert_eq!(standin::counts().color_frames_made, 0);
    drop(sensor);
    assert_nothing_alive();
}

#[test]
fn corrupt_colour_frames_are_skipped_and_counted_while_depth_flows() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 0);
    let mut sensor = open_sensor(&OpenOptions::default());
    standin::set_color_corrupt(standin::CorruptColor::NoSoi);
    let (depth_sink, depth) = channel_sink(64);
    let (color_sink, color) = color_channel_sink(64);
    sensor
        .start_streams(StreamSinks {
            depth: depth_sink,
            ir: None,
            color: Some(color_sink),
        })
        .unwrap();
    for corrupt in [
        standin::CorruptColor::NoSoi,
        standin::CorruptColor::Truncated,
    ] {
        standin::set_color_corrupt(corrupt);
        let errors = sensor.stats().errors;
        wait_until("corrupt colour frames to be counted", FRAME_WAIT, || {
            sensor.stats().errors >= errors + 3
        });
        for _ in 0..3 {
            depth
                .recv_timeout(FRAME_WAIT)
                .expect("depth flows beside corrupt colour");
        }
    }
    assert!(
        color.try_recv().is_err(),
        "a corrupt colour frame reached the sink"
    );
    standin::set_color_corrupt(standin::CorruptColor::No);
    let frame = color.recv_timeout(FRAME_WAIT).expect("colour resumes");
    assert_eq!((frame.jpeg.width(), frame.jpeg.height()), (1920, 1080));
    sensor.stop();
    drop(sensor);
    assert_nothing_alive();
}

#[test]
fn streams_nobody_wants_are_skipped_without_counting_losses() {
    let _bus = exclusive();
    standin::reset("AAA", 20_000, 0);
    let mut sensor = open_sensor(&OpenOptions::default());
    let demand = StreamDemand::default(); // nothing wanted yet
    sensor.set_demand(demand.clone());
    let StreamReceivers { depth, ir, color } = start_all_streams(&mut sensor, 64);
    let made_before = standin::counts().color_frames_made;
    wait_until("colour frames to be made", FRAME_WAIT, || {
        standin::counts().color_frames_made >= made_before + 5
    });
    for _ in 0..5 {
        depth
            .recv_timeout(FRAME_WAIT)
            .expect("depth is always wanted");
    }
    assert!(ir.try_recv().is_err(), "IR nobody wants was delivered");
    assert!(
        color.try_recv().is_err(),
        "colour nobody wants was delivered"
    );

    demand.set_ir(true);
    demand.set_color(true);
    let first_ir = ir.recv_timeout(FRAME_WAIT).expect("IR once wanted");
    let first_color = color.recv_timeout(FRAME_WAIT).expect("colour once wanted");
    // The colour sequence kept counting the device's frames while they were skipped.
    assert!(first_color.sequence >= 5, "{}", first_color.sequence);
    assert!(first_ir.sequence >= 5, "{}", first_ir.sequence);
    sensor.stop();
    let stats = sensor.stats();
    // Had the skipped frames counted as lost, there would be at least as many losses as frames
    // before the first one delivered.
    assert!(
        stats.lost_color_frames < first_color.sequence,
        "skipped is not lost: {stats:?}"
    );
    drop(sensor);
    assert_nothing_alive();
}
