//! Depth subscriptions against the fake server's PUB sockets.

use crate::common;

use std::time::{Duration, Instant};

use common::{captured_frame, test_frame, wait_monitor_event, FakeServer};
use sk2_client::{
    Client, ClientConfig, ClientError, EndpointKind, Subscription, SubscriptionConfig,
    SubscriptionStats,
};

const WAIT: Duration = Duration::from_secs(5);

fn connected(server: &FakeServer, config: ClientConfig) -> Client {
    Client::connect_blocking(&server.endpoint(), config, WAIT).unwrap()
}

/// PUB/SUB drops messages sent before the subscription reaches the publisher (the "slow joiner"):
/// publish until the first frame comes through, then wait until the warm-up frames still in
/// flight have arrived and take them all out of the queue.
fn first_frame(
    server: &FakeServer,
    id: &str,
    subscription: &Subscription,
) -> sk2_client::ReceivedFrame {
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
fn next_frame(subscription: &Subscription) -> sk2_client::ReceivedFrame {
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
    let garbage: [&[u8]; 3] = [
        b"",
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        &[0x00, 0xf8, 0x04, 0x00, 0xf0, 0xff],
    ];
    // One at a time: the client decodes only the newest of the messages waiting together (the
    // others count as skipped), so each message is sent once the previous one was dealt with.
    for (sent, message) in garbage.into_iter().enumerate() {
        server.publish_raw(&id, message);
        let deadline = std::time::Instant::now() + WAIT;
        while subscription.stats().decode_errors <= sent as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "garbage {sent} not counted"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
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
    let config =
        ClientConfig::default().with_subscription(SubscriptionConfig::default().with_queue_len(2));
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
    let handled =
        |stats: SubscriptionStats| stats.decoded + stats.skipped - before.decoded - before.skipped;
    let deadline = Instant::now() + WAIT;
    while handled(subscription.stats()) < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = subscription.stats();
    assert_eq!(handled(stats), 20, "{stats:?}");
    // Paced frames are normally all decoded; on a very busy machine the decoder may skip some.
    let decoded = stats.decoded - before.decoded;
    assert!(decoded >= 2, "{stats:?}");
    assert_eq!(stats.dropped - before.dropped, decoded - 2, "{stats:?}");
    // What is left are the newest two decoded, oldest first: the very last one among them.
    let older = subscription.try_recv().unwrap();
    let newest = subscription.try_recv().unwrap();
    assert!(subscription.try_recv().is_none());
    assert_eq!(newest.depth, test_frame(20));
    if stats.skipped == before.skipped {
        assert_eq!(older.depth, test_frame(19));
    }
}

#[test]
fn a_decoder_slower_than_the_sensor_skips_to_the_newest_message_and_counts_the_rest() {
    let mut server = FakeServer::start("burst");
    let id = server.add_device();
    let client = connected(&server, ClientConfig::default());
    let subscription = client.subscribe(&id).unwrap();
    first_frame(&server, &id, &subscription);
    let before = subscription.stats();

    // 50 messages at once: far faster than anyone decodes 512 x 424 frames.
    let burst: Vec<Vec<u8>> = (1..=50)
        .map(|seed| sk2_proto::sk2::encode(&test_frame(seed)).unwrap())
        .collect();
    for message in &burst {
        server.publish_raw(&id, message);
    }
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        let stats = subscription.stats();
        if stats.decoded + stats.skipped - before.decoded - before.skipped == 50 {
            break;
        }
        if let Some(frame) = subscription.recv_timeout(Duration::from_millis(10)) {
            last = Some(frame);
        }
    }
    while let Some(frame) = subscription.try_recv() {
        last = Some(frame);
    }
    let stats = subscription.stats();
    assert_eq!(stats.received - before.received, 50, "{stats:?}");
    assert!(stats.skipped > before.skipped, "nothing skipped: {stats:?}");
    assert_eq!(
        last.expect("frames").depth,
        test_frame(50),
        "the newest wins"
    );
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
    let config = ClientConfig::default()
        .with_subscription(SubscriptionConfig::default().with_prefer_depth_v2(false));
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
