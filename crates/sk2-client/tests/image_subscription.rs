//! Infrared and colour subscriptions against the fake server, with PUB sockets for `ir_v2` and
//! `color` added beside its depth endpoints.

use crate::common;

use std::time::{Duration, Instant};

use common::{captured_frame, FakeServer};
use jpeg_encoder::{ColorType, Encoder};
use sk2_client::{Client, ClientConfig, ClientError, ImageSubscription, SubscriptionConfig};
use sk2_proto::calibration::Calibration;
use sk2_proto::color::{self, JpegImage, ENDPOINT_COLOR};
use sk2_proto::frame::IrFrame;
use sk2_proto::ir_v2::{self, ENDPOINT_IR_V2};
use sk2_proto::sensor::{CapturedColorFrame, CapturedIrFrame};

const WAIT: Duration = Duration::from_secs(5);

/// A PUB socket for `endpoint` of device `id`, listed in the fake server's `me`.
fn add_stream(server: &FakeServer, id: &str, endpoint: &str) -> zmq::Socket {
    let publisher = server.context.socket(zmq::PUB).unwrap();
    publisher.set_linger(0).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let address = publisher.get_last_endpoint().unwrap().unwrap();
    let port = address.rsplit(':').next().unwrap();
    let mut state = server.state();
    let device = state.devices.iter_mut().find(|d| d.id == id).unwrap();
    device
        .endpoints
        .insert(endpoint.to_owned(), format!("tcp://localhost:{port}"));
    publisher
}

fn ir_message(sequence: u64) -> Vec<u8> {
    let amplitude = (0..64 * 32)
        .map(|i| (i * 7 + sequence as usize) as u16)
        .collect();
    ir_v2::encode(
        &CapturedIrFrame {
            ir: IrFrame::new(64, 32, amplitude).unwrap(),
            sequence,
            device_timestamp: sequence,
            capture_time_ns: 0,
        },
        ir_v2::DEFAULT_CODEC,
    )
}

/// A 32 x 16 JPEG of one colour.
fn jpeg(rgb: [u8; 3]) -> Vec<u8> {
    let pixels: Vec<u8> = rgb.iter().copied().cycle().take(32 * 16 * 3).collect();
    let mut out = Vec::new();
    Encoder::new(&mut out, 95)
        .encode(&pixels, 32, 16, ColorType::Rgb)
        .unwrap();
    out
}

fn color_message(sequence: u64, jpeg: Vec<u8>) -> Vec<u8> {
    color::encode(&CapturedColorFrame {
        jpeg: JpegImage::new(jpeg).unwrap(),
        sequence,
        device_timestamp: sequence,
        capture_time_ns: 0,
    })
}

/// Publishes `message` until the subscription delivers something (PUB/SUB drops messages sent
/// before the subscription reaches the publisher), then empties the queue.
fn warm_up<T: Send + 'static>(
    publisher: &zmq::Socket,
    message: &[u8],
    subscription: &ImageSubscription<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        publisher.send(message, 0).unwrap();
        if let Some(frame) = subscription.recv_timeout(Duration::from_millis(50)) {
            while subscription
                .recv_timeout(Duration::from_millis(200))
                .is_some()
            {}
            return frame;
        }
    }
    panic!("nothing arrived within {WAIT:?}");
}

fn connected(server: &FakeServer) -> Client {
    Client::connect_blocking(&server.endpoint(), ClientConfig::default(), WAIT).unwrap()
}

#[test]
fn infrared_frames_arrive_as_amplitudes_with_their_header() {
    let mut server = FakeServer::start("ir");
    let id = server.add_device();
    let publisher = add_stream(&server, &id, ENDPOINT_IR_V2);
    let client = connected(&server);
    let subscription = client.subscribe_ir(&id).unwrap();
    warm_up(&publisher, &ir_message(0), &subscription);
    publisher.send(ir_message(41), 0).unwrap();
    let frame = subscription.recv_timeout(WAIT).expect("an infrared frame");
    assert_eq!(frame.device_id, id);
    assert_eq!(frame.header.sequence, 41);
    let expected = ir_v2::decode(&ir_message(41)).unwrap().1;
    assert_eq!(frame.ir, expected);
    assert_eq!(frame.ir.into_array().shape(), &[32, 64]);
}

#[test]
fn colour_frames_arrive_as_rgb_arrays() {
    let mut server = FakeServer::start("colour");
    let id = server.add_device();
    let publisher = add_stream(&server, &id, ENDPOINT_COLOR);
    let client = connected(&server);
    let subscription = client.subscribe_color(&id).unwrap();
    warm_up(
        &publisher,
        &color_message(0, jpeg([0, 0, 0])),
        &subscription,
    );
    publisher
        .send(color_message(9, jpeg([200, 40, 90])), 0)
        .unwrap();
    let frame = subscription.recv_timeout(WAIT).expect("a colour frame");
    assert_eq!((frame.header.sequence, frame.header.width), (9, 32));
    assert_eq!(frame.rgb.shape(), &[16, 32, 3]);
    let centre: Vec<u8> = (0..3).map(|c| frame.rgb[[8, 16, c]]).collect();
    for (got, want) in centre.iter().zip([200u8, 40, 90]) {
        assert!(got.abs_diff(want) <= 4, "centre pixel {centre:?}");
    }
}

#[test]
fn colour_as_jpeg_is_passed_on_byte_for_byte() {
    let mut server = FakeServer::start("jpeg");
    let id = server.add_device();
    let publisher = add_stream(&server, &id, ENDPOINT_COLOR);
    let client = connected(&server);
    let subscription = client.subscribe_color_jpeg(&id).unwrap();
    warm_up(
        &publisher,
        &color_message(0, jpeg([0, 0, 0])),
        &subscription,
    );
    let sent = jpeg([1, 2, 3]);
    publisher.send(color_message(5, sent.clone()), 0).unwrap();
    let frame = subscription.recv_timeout(WAIT).expect("a JPEG");
    assert_eq!((frame.header.sequence, frame.jpeg), (5, sent));
}

#[test]
fn a_jpeg_subscription_keeps_the_queue_length_it_was_given() {
    let mut server = FakeServer::start("jpeg-queue");
    let id = server.add_device();
    let publisher = add_stream(&server, &id, ENDPOINT_COLOR);
    let client = connected(&server);
    let config = SubscriptionConfig::default().with_queue_len(1);
    let subscription = client.subscribe_color_jpeg_with(&id, config).unwrap();
    warm_up(
        &publisher,
        &color_message(0, jpeg([0, 0, 0])),
        &subscription,
    );
    let before = subscription.stats().received;
    for sequence in 1..=3 {
        publisher
            .send(color_message(sequence, jpeg([1, 2, 3])), 0)
            .unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while subscription.stats().received < before + 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // One frame waits (the newest), where the default queue of 4 would hold all three.
    let frame = subscription.recv_timeout(WAIT).expect("a JPEG");
    assert_eq!(frame.header.sequence, 3);
    assert!(subscription.try_recv().is_none());
}

#[test]
fn corrupt_colour_and_infrared_payloads_are_counted_and_skipped() {
    let mut server = FakeServer::start("corrupt");
    let id = server.add_device();
    let color_publisher = add_stream(&server, &id, ENDPOINT_COLOR);
    let ir_publisher = add_stream(&server, &id, ENDPOINT_IR_V2);
    let client = connected(&server);
    let color = client.subscribe_color(&id).unwrap();
    let ir = client.subscribe_ir(&id).unwrap();
    warm_up(&color_publisher, &color_message(0, jpeg([0, 0, 0])), &color);
    warm_up(&ir_publisher, &ir_message(0), &ir);
    let (color_before, ir_before) = (color.stats(), ir.stats());

    // A JPEG cut short (and its header made to agree), one whose last bytes are damaged, and
    // bytes that are no message at all.
    let good = jpeg([10, 20, 30]);
    let mut truncated = color_message(1, good.clone());
    truncated.truncate(truncated.len() - good.len() / 2);
    let payload_len = (truncated.len() - 44) as u32;
    truncated[40..44].copy_from_slice(&payload_len.to_le_bytes());
    let mut damaged = good.clone();
    let end = damaged.len() - 2;
    damaged[end..].copy_from_slice(&[0x12, 0x34]); // its end-of-image marker overwritten
    let bad_color = [
        truncated,
        color_message(2, damaged),
        b"not a frame".to_vec(),
    ];
    let mut bad_ir = ir_message(1);
    bad_ir.truncate(bad_ir.len() - 3);
    // Sent one at a time: the subscription decodes only the newest of what is waiting.
    for message in &bad_color {
        color_publisher.send(message.as_slice(), 0).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    ir_publisher.send(bad_ir, 0).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    color_publisher.send(color_message(3, good), 0).unwrap();
    ir_publisher.send(ir_message(2), 0).unwrap();

    assert_eq!(
        color
            .recv_timeout(WAIT)
            .expect("the good frame")
            .header
            .sequence,
        3
    );
    assert_eq!(
        ir.recv_timeout(WAIT)
            .expect("the good frame")
            .header
            .sequence,
        2
    );
    // Each bad message is either decoded and found bad, or skipped for a newer one.
    let bad = |before: sk2_client::SubscriptionStats, after: sk2_client::SubscriptionStats| {
        (
            after.decode_errors - before.decode_errors,
            after.skipped - before.skipped,
        )
    };
    let (color_errors, color_skipped) = bad(color_before, color.stats());
    assert_eq!(color_errors + color_skipped, 3, "{:?}", color.stats());
    assert!(color_errors > 0, "{:?}", color.stats());
    let (ir_errors, ir_skipped) = bad(ir_before, ir.stats());
    assert_eq!(ir_errors + ir_skipped, 1, "{:?}", ir.stats());
}

#[test]
fn a_colour_subscriber_that_never_reads_does_not_hold_up_depth() {
    let mut server = FakeServer::start("slow colour");
    let id = server.add_device_v2();
    let color_publisher = add_stream(&server, &id, ENDPOINT_COLOR);
    let client = connected(&server);
    let config = SubscriptionConfig::default().with_queue_len(2);
    let color = client.subscribe_color_with(&id, config).unwrap();
    let depth = client.subscribe(&id).unwrap();
    warm_up(&color_publisher, &color_message(0, jpeg([0, 0, 0])), &color);
    // The application reads depth only; colour keeps coming and is never taken.
    let mut depth_frames = 0;
    let deadline = Instant::now() + WAIT;
    for sequence in 1..=40 {
        color_publisher
            .send(color_message(sequence, jpeg([9, 9, 9])), 0)
            .unwrap();
        server.publish_v2(&id, &captured_frame(sequence));
        std::thread::sleep(Duration::from_millis(10));
        while depth.try_recv().is_some() {
            depth_frames += 1;
        }
    }
    while depth_frames < 30 && Instant::now() < deadline {
        if depth.recv_timeout(Duration::from_millis(100)).is_some() {
            depth_frames += 1;
        }
    }
    assert!(depth_frames >= 30, "only {depth_frames} of 40 depth frames");
    let stats = color.stats();
    assert!(stats.dropped + stats.skipped > 0, "{stats:?}");
    assert!(color.frames().len() <= 2);
}

#[test]
fn a_device_without_the_stream_is_a_typed_error() {
    let mut server = FakeServer::start("depth only");
    let id = server.add_device();
    let client = connected(&server);
    assert!(matches!(
        client.subscribe_ir(&id),
        Err(ClientError::NoStreamEndpoint {
            endpoint: "ir_v2",
            ..
        })
    ));
    assert!(matches!(
        client.subscribe_color(&id),
        Err(ClientError::NoStreamEndpoint {
            endpoint: "color",
            ..
        })
    ));
    assert_eq!(client.calibration(&id), None);
}

#[test]
fn the_calibration_a_server_sends_in_me_is_the_clients() {
    let mut server = FakeServer::start("calibrated");
    let id = server.add_device();
    let mut calibration = Calibration::KINECT_V2_TYPICAL;
    calibration.ir.fx = 365.25;
    server.state().calibrations.insert(id.clone(), calibration);
    let client = connected(&server);
    assert_eq!(client.calibration(&id), Some(calibration));
    assert_eq!(client.calibration("no such sensor"), None);
}
