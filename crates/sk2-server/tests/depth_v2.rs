//! The lossless `depth_v2` endpoint beside `depth`: exact frames, the codec in `me`, and no
//! encoding for endpoints nobody watches.

use crate::common;

use std::time::Duration;

use common::{local_config, sub, who_is};
use sk2_mock::{MockConfig, MockKinect, MockMode};
use sk2_proto::depth_v2::{self, Codec, ENDPOINT_DEPTH_V2};
use sk2_proto::{sk2, KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX};
use sk2_server::Server;
use sk2_testkit::{wait_until, wait_until_some};

/// How long a test waits for the server's counters to show what it expects. Generous: they get
/// there in a fraction of a second, and the deadline only bounds a failure on a loaded machine.
const STATS_TIMEOUT: Duration = Duration::from_secs(20);

fn realistic(fps: f64) -> (MockKinect, MockKinect) {
    let config = MockConfig::default()
        .with_fps(Some(fps))
        .with_mode(MockMode::Realistic)
        .with_seed(42);
    (MockKinect::new(config.clone()), MockKinect::new(config))
}

#[test]
fn a_realistic_frame_arrives_exact_on_depth_v2_while_depth_still_serves_sk2() {
    let (sensor, reference) = realistic(15.0);
    let mut server = Server::new(local_config());
    let id = server.add_sensor(Box::new(sensor)).unwrap();
    server.start().unwrap();
    let me = who_is(&server);
    let device = me.device(&id).unwrap();
    assert_eq!(
        me.device_keys[&id]["codec"],
        Codec::default().name(),
        "the codec is advertised in the device record"
    );
    let context = zmq::Context::new();
    let v2 = sub(&context, device.endpoint(ENDPOINT_DEPTH_V2).unwrap());
    let original = sub(&context, device.endpoint("depth").unwrap());

    let mut last = None;
    for _ in 0..5 {
        let (header, frame) = depth_v2::decode(&v2.recv_bytes(0).unwrap()).unwrap();
        assert_eq!(header.codec, Codec::default());
        assert_eq!((header.width, header.height), (512, 424));
        assert!(last.is_none_or(|last| header.sequence > last));
        last = Some(header.sequence);
        let expected = reference.frame(header.sequence);
        assert!(
            expected.depth_mm().iter().any(|&v| v >= 4096),
            "the test needs far values"
        );
        assert_eq!(
            frame, expected,
            "depth_v2 frame {} is exact",
            header.sequence
        );
        assert!(header.capture_time_ns > 0);
    }
    // The same frames on `depth`, 12-bit as the original: values >= 4096 lose their top bits.
    let newest = last.unwrap();
    let message = original.recv_bytes(0).unwrap();
    let frame = sk2::decode(&message, KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX).unwrap();
    let matches = (newest.saturating_sub(30)..newest + 30).any(|sequence| {
        let expected: Vec<u16> = reference
            .frame(sequence)
            .depth_mm()
            .iter()
            .map(|v| v & 0x0FFF)
            .collect();
        frame.depth_mm() == expected
    });
    assert!(
        matches,
        "the sk2 frame is a 12-bit mock frame near sequence {newest}"
    );
    let stats = &server.stats()[0];
    assert!(
        stats.depth_v2_messages >= 5 && stats.depth_messages >= 1,
        "{stats:?}"
    );
}

#[test]
fn every_codec_carries_realistic_frames_exactly() {
    for &codec in Codec::ALL {
        let (sensor, reference) = realistic(30.0);
        let mut config = local_config();
        config.codec = Some(codec);
        let mut server = Server::new(config);
        let id = server.add_sensor(Box::new(sensor)).unwrap();
        server.start().unwrap();
        let me = server.me();
        assert_eq!(me.device_keys[&id]["codec"], codec.name());
        let context = zmq::Context::new();
        let v2 = sub(&context, me.devices[0].endpoint(ENDPOINT_DEPTH_V2).unwrap());
        let (header, frame) = depth_v2::decode(&v2.recv_bytes(0).unwrap()).unwrap();
        assert_eq!(header.codec, codec);
        assert_eq!(frame, reference.frame(header.sequence), "{codec}");
    }
}

#[test]
fn frames_nobody_watches_are_not_encoded_and_each_endpoint_is_encoded_only_when_watched() {
    let mut server = Server::new(local_config());
    server.add_sensor(Box::new(common::mock(30.0))).unwrap();
    server.start().unwrap();
    wait_until("15 frames captured", STATS_TIMEOUT, || {
        server.stats()[0].captured >= 15
    });
    let idle = server.stats()[0].clone();
    assert!(idle.captured > 0);
    assert_eq!(idle.encoded, 0, "{idle:?}");
    // The sink counts a frame as captured, then as unwatched: one may be between the two.
    assert!(idle.captured - idle.unwatched <= 1, "{idle:?}");

    let context = zmq::Context::new();
    let me = server.me();
    let v2 = sub(&context, me.devices[0].endpoint(ENDPOINT_DEPTH_V2).unwrap());
    v2.recv_bytes(0).unwrap();
    let watched = wait_until_some("a depth_v2 message counted", STATS_TIMEOUT, || {
        let stats = server.stats()[0].clone();
        (stats.depth_v2_messages > 0).then_some(stats)
    });
    assert_eq!(
        watched.depth_messages, 0,
        "depth has no subscriber: {watched:?}"
    );

    // When the last subscriber leaves, encoding stops again: once the server has seen the
    // unsubscription, half a second's worth of frames (15) is captured and none encoded.
    drop(v2);
    let mut before = server.stats()[0].clone();
    wait_until(
        "15 frames captured in a row without an encode after the unsubscription",
        STATS_TIMEOUT,
        || {
            let now = server.stats()[0].clone();
            if now.encoded != before.encoded {
                before = now;
                return false;
            }
            now.captured >= before.captured + 15
        },
    );
}

#[test]
fn without_a_codec_only_the_original_depth_endpoint_is_offered() {
    let mut config = local_config();
    config.codec = None;
    // Nor the mock's infrared and colour: exactly the original's device record.
    config.ir_codec = None;
    config.color = false;
    let mut server = Server::new(config);
    let id = server.add_sensor(Box::new(common::mock(30.0))).unwrap();
    server.start().unwrap();
    let me = who_is(&server);
    let device = me.device(&id).unwrap();
    assert_eq!(device.endpoints.keys().collect::<Vec<_>>(), ["depth"]);
    assert!(me.device_keys.is_empty());
}
