//! Depth subscriptions against the fake server's PUB sockets.

mod common;

use std::time::{Duration, Instant};

use common::{captured_frame, test_frame, wait_monitor_event, FakeServer};
use sk2_client::{
    Client, ClientConfig, ClientError, EndpointKind, Subscription, SubscriptionConfig,
};

const WAIT: Duration = Duration::from_secs(5);

fn connected(server: &FakeServer, config: ClientConfig) -> Client {
    Client::connect_blocking(&server.endpoint(), config, WAIT).unwrap()
}

/// PUB/SUB drops messages sent before the subscription reaches the publisher (the "slow joiner"):
/// publish until the first frame comes through, then wait until the warm-up frames still in
/// flight have arrived and take them all out of the queue.
fn first_frame(server: &FakeServer, id: &str, subscription: &Subscription) -> sk2_client::Frame {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        server.publish(id, &test_frame(0));
        if let Some(frame) = subscription.recv_timeout(Duration::from_millis(50)) {
            while subscription
                .recv_timeout(Duration::from_millis(200))
                .is_some()
            {}
            return frame;
        }
    }
    panic!("no frame within {WAIT:?}");
}

/// The next frame that is not a warm-up frame (a late one can still be in flight on a busy machine).
fn next_frame(subscription: &Subscription) -> sk2_client::Frame {
    loop {
        let frame = subscription.recv_timeout(WAIT).expect("frame");
        let warm_up = frame.sequence() == Some(0) || frame.depth == test_frame(0);
        if !warm_up {
            return frame;
        }
    }
}

#[test]
fn subscribing_to_an_unknown_device_is_a_typed_error() {
    let mut server = FakeServer::start("unknown");
    server.add_device();
    let client = connected(&server, ClientConfig::default());
    assert!(matches!(
        client.subscribe("0123456789abcdef0123456789abcdef"),
        Err(ClientError::UnknownDevice(id)) if id == "0123456789abcdef0123456789abcdef"
    ));
}

#[test]
fn a_device_added_after_the_last_heartbeat_can_be_subscribed_at_once() {
    let mut server = FakeServer::start("fresh");
    let client = connected(&server, ClientConfig::default());
    let id = server.add_device();
    // The 10 s heartbeat has not run since: subscribe must ask `who` itself.
    let subscription = client.subscribe(&id).unwrap();
    assert_eq!(subscription.device_id(), id);
}

#[test]
fn frames_arrive_decoded_with_the_right_device_id_and_exact_content() {
    let mut server = FakeServer::start("frames");
    let first = server.add_device();
    let second = server.add_device();
    let client = connected(&server, ClientConfig::default());
    let subscription = client.subscribe(&second).unwrap();
    // The device endpoint says `localhost.`: same host as the control endpoint, address reused.
    assert!(subscription.endpoint().starts_with("tcp://127.0.0.1:"));
    first_frame(&server, &second, &subscription);
    while subscription.try_recv().is_some() {}

    for seed in 1..=3 {
        server.publish(&first, &test_frame(100 + seed)); // not subscribed: must not arrive
        server.publish(&second, &test_frame(seed));
        let frame = next_frame(&subscription);
        assert_eq!(frame.device_id, second);
        assert_eq!(frame.depth, test_frame(seed));
        let array = frame.depth.into_array();
        assert_eq!(array.dim(), (424, 512));
    }
    assert!(subscription
        .recv_timeout(Duration::from_millis(100))
        .is_none());
    let stats = subscription.stats();
    assert_eq!(stats.decode_errors, 0);
    assert_eq!(stats.dropped, 0);
}

#[test]
fn undecodable_messages_are_counted_and_skipped() {
    let mut server = FakeServer::start("garbage");
    let id = server.add_device();
    let client = connected(&server, ClientConfig::default());
    let subscription = client.subscribe(&id).unwrap();
    first_frame(&server, &id, &subscription);
    server.publish_raw(&id, b"");
    server.publish_raw(&id, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    server.publish_raw(&id, &[0x00, 0xf8, 0x04, 0x00, 0xf0, 0xff]);
    server.publish(&id, &test_frame(9));
    let frame = loop {
        let frame = subscription
            .recv_timeout(WAIT)
            .expect("frame after the garbage");
        if frame.depth == test_frame(9) {
            break frame;
        }
    };
    assert_eq!(frame.device_id, id);
    assert_eq!(subscription.stats().decode_errors, 3);
}

#[test]
fn a_slow_application_gets_the_latest_frames_and_drops_are_counted() {
    let mut server = FakeServer::start("slow");
    let id = server.add_device();
    let config = ClientConfig::default().subscription(SubscriptionConfig::default().queue_len(2));
    let client = connected(&server, config);
    let subscription = client.subscribe(&id).unwrap();
    first_frame(&server, &id, &subscription);
    while subscription.try_recv().is_some() {}
    let before = subscription.stats();

    // The application does not read while 20 frames go by, paced so that the SUB socket's own
    // high-water mark does not drop them first.
    for seed in 1..=20 {
        server.publish(&id, &test_frame(seed));
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + WAIT;
    while subscription.stats().decoded - before.decoded < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = subscription.stats();
    assert_eq!(stats.decoded - before.decoded, 20);
    assert_eq!(stats.dropped - before.dropped, 18);
    // What is left are the newest two, oldest first.
    assert_eq!(subscription.try_recv().unwrap().depth, test_frame(19));
    assert_eq!(subscription.try_recv().unwrap().depth, test_frame(20));
    assert!(subscription.try_recv().is_none());
}

#[test]
fn unsubscribe_closes_the_socket() {
    let mut server = FakeServer::start("closing");
    let id = server.add_device();
    let monitor = server.monitor(&id);
    let client = connected(&server, ClientConfig::default());
    let subscription = client.subscribe(&id).unwrap();
    assert_eq!(
        wait_monitor_event(&monitor, &[zmq::SocketEvent::ACCEPTED], WAIT),
        Some(zmq::SocketEvent::ACCEPTED)
    );
    subscription.unsubscribe();
    // The publisher sees its peer's TCP connection close.
    assert_eq!(
        wait_monitor_event(&monitor, &[zmq::SocketEvent::DISCONNECTED], WAIT),
        Some(zmq::SocketEvent::DISCONNECTED)
    );
}

#[test]
fn iterating_a_subscription_yields_frames() {
    let mut server = FakeServer::start("iter");
    let id = server.add_device();
    let client = connected(&server, ClientConfig::default());
    let subscription = client.subscribe(&id).unwrap();
    first_frame(&server, &id, &subscription);
    // The subscription moves to a reader thread; the fake server's sockets stay on this one.
    let reader = std::thread::spawn(move || subscription.take(3).count());
    for seed in 0..3 {
        server.publish(&id, &test_frame(seed));
        std::thread::sleep(Duration::from_millis(10));
    }
    let publisher = reader.join().unwrap();
    assert_eq!(publisher, 3);
}

/// Publishes `depth_v2` until a frame gets through, then drains the queue.
fn first_v2_frame(server: &FakeServer, id: &str, subscription: &Subscription) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        server.publish_v2(id, &captured_frame(0));
        if subscription
            .recv_timeout(Duration::from_millis(50))
            .is_some()
        {
            while subscription.try_recv().is_some() {}
            return;
        }
    }
    panic!("no depth_v2 frame within {WAIT:?}");
}

#[test]
fn depth_v2_is_preferred_and_frames_are_exact_beyond_4095_mm_with_their_header() {
    let mut server = FakeServer::start("lossless");
    let id = server.add_device_v2();
    let client = connected(&server, ClientConfig::default());
    let subscription = client.subscribe(&id).unwrap();
    assert_eq!(subscription.kind(), EndpointKind::DepthV2);
    first_v2_frame(&server, &id, &subscription);

    let sent = captured_frame(41);
    assert!(sent.depth.depth_mm().iter().any(|&d| d >= 4096));
    server.publish_v2(&id, &sent);
    let frame = next_frame(&subscription);
    assert_eq!(frame.device_id, id);
    assert_eq!(frame.depth, sent.depth, "depth_v2 is lossless");
    let header = frame.header.expect("depth_v2 frames carry a header");
    assert_eq!(header.sequence, 41);
    assert_eq!(header.device_timestamp, 41 * 333);
    assert_eq!(frame.capture_time_ns(), Some(sent.capture_time_ns));
    assert!(frame.latency().unwrap() < Duration::from_secs(5));
}

#[test]
fn gaps_in_depth_v2_sequence_numbers_are_counted_as_lost_frames() {
    let mut server = FakeServer::start("gaps");
    let id = server.add_device_v2();
    let client = connected(&server, ClientConfig::default());
    let subscription = client.subscribe(&id).unwrap();
    first_v2_frame(&server, &id, &subscription);
    let lost_before = subscription.stats().lost;
    // After the warm-up frames (sequence 0), 10 and 11 arrive, then 15: 9 + 3 frames missing.
    for sequence in [10, 11, 15] {
        server.publish_v2(&id, &captured_frame(sequence));
        let frame = next_frame(&subscription);
        assert_eq!(frame.sequence(), Some(sequence));
    }
    assert_eq!(subscription.stats().lost - lost_before, 9 + 3);
    // A smaller number is a restarted sensor, not 2^64 lost frames.
    server.publish_v2(&id, &captured_frame(1));
    subscription.recv_timeout(WAIT).expect("frame");
    assert_eq!(subscription.stats().lost - lost_before, 12);
}

#[test]
fn the_original_depth_endpoint_can_be_forced_and_is_lossy_above_4095_mm() {
    let mut server = FakeServer::start("lossy");
    let id = server.add_device_v2();
    let config =
        ClientConfig::default().subscription(SubscriptionConfig::default().prefer_depth_v2(false));
    let client = connected(&server, config);
    let subscription = client.subscribe(&id).unwrap();
    assert_eq!(subscription.kind(), EndpointKind::Depth);
    first_frame(&server, &id, &subscription);
    while subscription.try_recv().is_some() {}
    let sent = captured_frame(5).depth;
    server.publish(&id, &sent);
    let frame = next_frame(&subscription);
    assert!(frame.header.is_none());
    let expected: Vec<u16> = sent.depth_mm().iter().map(|&d| d & 0x0FFF).collect();
    assert_eq!(frame.depth.depth_mm(), expected.as_slice());
}
