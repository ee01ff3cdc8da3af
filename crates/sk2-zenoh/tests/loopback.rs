//! A bridge and Zenoh subscribers on loopback: exact bytes, sequence numbers, `me`, liveliness,
//! and garbage on the key space.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;
use sk2_client::zenoh::ZenohServerEvent;
use sk2_client::{Client, ClientConfig, EndpointKind, SubscriptionConfig};
use sk2_proto::depth_v2;
use sk2_proto::zenoh_keys::{depth_key, me_key};
use sk2_testkit::{free_port, wait_until, wait_until_some};
use zenoh::Wait;

use crate::common::{start_bridge, start_server, zenoh_client, SENSOR_ID, SERVER_ID, WAIT};

/// Messages compared between the Zenoh and the direct path.
const COMPARED: usize = 30;

#[test]
fn zenoh_subscribers_get_the_servers_depth_v2_bytes_unchanged_with_their_sequence_numbers() {
    let server = start_server(0, 30.0);
    let zenoh_port = free_port();
    let bridge = start_bridge(&server, zenoh_port);
    let client = zenoh_client(zenoh_port);

    // Raw Zenoh samples on the sensor's key, and the same sensor read directly over ZeroMQ.
    let (samples_tx, samples) = unbounded();
    let key = depth_key(SERVER_ID, SENSOR_ID, "depth_v2");
    let _subscriber = client
        .session()
        .declare_subscriber(key.as_str())
        .callback(move |sample| {
            let _ = samples_tx.send(sample.payload().to_bytes().into_owned());
        })
        .wait()
        .unwrap();
    let direct = Client::connect_blocking(
        &server.control_endpoint().unwrap(),
        ClientConfig::default(),
        WAIT,
    )
    .unwrap();
    let direct_raw = direct.subscribe_raw(SENSOR_ID).unwrap();

    let mut over_zenoh: Vec<(u64, Vec<u8>)> = Vec::new();
    let deadline = Instant::now() + WAIT;
    while over_zenoh.len() < COMPARED && Instant::now() < deadline {
        if let Ok(bytes) = samples.recv_timeout(Duration::from_millis(100)) {
            let header = depth_v2::decode_header(&bytes).expect("a depth_v2 header");
            over_zenoh.push((header.sequence, bytes));
        }
    }
    assert_eq!(over_zenoh.len(), COMPARED, "too few samples over Zenoh");
    let last = over_zenoh.last().unwrap().0;
    let mut direct_by_sequence = BTreeMap::new();
    while !direct_by_sequence.contains_key(&last) && Instant::now() < deadline {
        if let Some(message) = direct_raw.recv_timeout(Duration::from_millis(100)) {
            direct_by_sequence.insert(message.header.sequence, message.bytes);
        }
    }
    // Sequence numbers only go up; every sample is the very message the server published.
    let mut compared = 0;
    for pair in over_zenoh.windows(2) {
        assert!(
            pair[1].0 > pair[0].0,
            "sequence went back: {} then {}",
            pair[0].0,
            pair[1].0
        );
    }
    for (sequence, bytes) in &over_zenoh {
        if let Some(direct_bytes) = direct_by_sequence.get(sequence) {
            assert_eq!(
                bytes, direct_bytes,
                "frame {sequence} differs from the server's"
            );
            compared += 1;
        }
    }
    // Both started at different moments; between Zenoh's first and last frame, every frame the
    // direct subscriber got also came over Zenoh, unless the bridge never got it from the server.
    let first_zenoh = over_zenoh[0].0;
    let zenoh_sequences: Vec<u64> = over_zenoh.iter().map(|(s, _)| *s).collect();
    let missing_over_zenoh = direct_by_sequence
        .keys()
        .filter(|s| (first_zenoh..=last).contains(*s) && !zenoh_sequences.contains(s))
        .count() as u64;
    assert!(compared >= COMPARED / 2, "only {compared} frames in common");
    let bridge_stats = bridge.stats();
    assert!(
        missing_over_zenoh <= bridge_stats.upstream_lost + bridge_stats.dropped,
        "{missing_over_zenoh} frames reached a direct subscriber and not Zenoh's: \
         zenoh {:?}, direct {:?}, bridge {bridge_stats:?}",
        zenoh_sequences,
        direct_by_sequence.keys().collect::<Vec<_>>()
    );

    // The same frames decoded through the client library's Zenoh subscription.
    let subscription = client.subscribe(SERVER_ID, SENSOR_ID).unwrap();
    assert_eq!(subscription.kind(), EndpointKind::DepthV2);
    let frame = subscription
        .recv_timeout(WAIT)
        .expect("a decoded frame over Zenoh");
    let sequence = frame.sequence().unwrap();
    let direct_frame = wait_until_some("the same frame directly", WAIT, || {
        direct_raw
            .recv_timeout(Duration::from_millis(100))
            .filter(|m| m.header.sequence == sequence)
    });
    let (_, direct_depth) = depth_v2::decode(&direct_frame.bytes).unwrap();
    assert_eq!(frame.depth, direct_depth);
    assert_eq!(subscription.stats().decode_errors, 0);
    let stats = bridge.stats();
    assert!(stats.published >= COMPARED as u64, "{stats:?}");
    assert_eq!(stats.upstream_errors, 0);
}

#[test]
fn the_bridge_answers_me_and_its_token_comes_and_goes_with_it() {
    let server = start_server(0, 30.0);
    let zenoh_port = free_port();
    let client_side_port = free_port();
    // The client listens and the bridge connects, the other way round from the other tests.
    let client =
        sk2_client::zenoh::ZenohClient::open(&crate::common::listening(client_side_port)).unwrap();
    let watch = client.watch().unwrap();
    let bridge = sk2_zenoh::Bridge::start(
        sk2_zenoh::BridgeConfig::new(server.control_endpoint().unwrap())
            .with_zenoh(crate::common::connecting(client_side_port)),
    )
    .unwrap();
    // No server id given: the server's name.
    let id = wait_until_some("the server's token", WAIT, || {
        watch.events().recv_timeout(Duration::from_millis(100)).ok()
    });
    assert_eq!(id, ZenohServerEvent::Appeared("Test Kinect".to_owned()));
    assert_eq!(bridge.server_id().as_deref(), Some("Test Kinect"));
    assert_eq!(
        client.servers(Duration::from_secs(2)).unwrap(),
        vec!["Test Kinect".to_owned()]
    );
    let me = client.me("Test Kinect", WAIT).unwrap();
    assert_eq!(me, server.me());
    let _ = zenoh_port;

    bridge.stop();
    let gone = wait_until_some("the token to go", WAIT, || {
        watch.events().recv_timeout(Duration::from_millis(100)).ok()
    });
    assert_eq!(
        gone,
        ZenohServerEvent::Disappeared("Test Kinect".to_owned())
    );
}

#[test]
fn garbage_on_the_key_space_is_counted_and_skipped_by_the_client() {
    let server = start_server(0, 30.0);
    let zenoh_port = free_port();
    let _bridge = start_bridge(&server, zenoh_port);
    // Zenoh peers do not route for others: the hostile peer connects to the subscriber's session,
    // which connects to the bridge.
    let client_port = free_port();
    let client = sk2_client::zenoh::ZenohClient::open(
        &crate::common::connecting(zenoh_port)
            .with_listen(&[format!("tcp/127.0.0.1:{client_port}")])
            .unwrap(),
    )
    .unwrap();
    let subscription = crate::common::subscribe_depth_v2(
        &client,
        &SubscriptionConfig::default()
            .with_queue_len(64)
            .with_rcvhwm(64),
    );
    subscription
        .recv_timeout(WAIT)
        .expect("frames before the garbage");

    // A hostile peer publishes on the same key: empty, short, a header with a huge shape, a valid
    // header with a truncated payload, and plain text.
    let hostile = zenoh_client(client_port);
    let frame = sk2_proto::CapturedFrame {
        depth: sk2_proto::DepthFrame::new(4, 2, vec![1; 8]).unwrap(),
        sequence: 1,
        device_timestamp: 0,
        capture_time_ns: 0,
    };
    let mut truncated = depth_v2::encode(&frame, depth_v2::Codec::MedHuf);
    truncated.truncate(truncated.len() - 1);
    let mut huge = truncated.clone();
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let garbage: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0x42],
        huge,
        truncated,
        b"not a depth frame".to_vec(),
    ];
    let key = depth_key(SERVER_ID, SENSOR_ID, "depth_v2");
    let publisher = hostile.session().declare_publisher(key).wait().unwrap();
    wait_until("the hostile peer to be matched", WAIT, || {
        publisher
            .matching_status()
            .wait()
            .is_ok_and(|status| status.matching())
    });
    for bytes in &garbage {
        publisher.put(bytes.clone()).wait().unwrap();
        // One at a time, so that none is skipped as older than the next.
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every one has a bad header, the truncated one included (its payload length is checked
    // against the bytes present): all are counted at once, none displaces a real frame.
    wait_until("the garbage to be counted", WAIT, || {
        subscription.stats().decode_errors == garbage.len() as u64
    });
    let before = subscription.stats().decoded;
    wait_until("frames to keep coming", WAIT, || {
        subscription.stats().decoded > before + 5
    });
    // And a `me` queryable answering garbage gives an error, not a panic.
    let _liar = hostile
        .session()
        .declare_queryable(me_key("liar"))
        .callback(|query| {
            let _ = query.reply(query.key_expr().clone(), "{not json").wait();
        })
        .wait()
        .unwrap();
    assert!(client.me("liar", Duration::from_secs(5)).is_err());
}
