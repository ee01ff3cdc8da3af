//! The client half of the original Python implementation's test suite, reproduced, against the real
//! server library (`sk2-server`) with mock sensors (`sk2-mock`), in process, on 127.0.0.1.

use crate::common;

use std::time::{Duration, Instant};

use common::{drain, fast, wait_for};
use sk2_client::{Client, ClientError, ClientEvent, EndpointKind};
use sk2_mock::{MockConfig, MockKinect, MockMode};
use sk2_server::{Config, Server};

const WAIT: Duration = Duration::from_secs(5);

fn server_config() -> Config {
    let mut config = Config::default();
    config.bind_host = "127.0.0.1".into();
    config.announce = false;
    config
}

fn started(mocks: usize) -> (Server, Vec<String>) {
    let mut server = Server::new(server_config());
    let ids = (0..mocks)
        .map(|_| {
            server
                .add_sensor(Box::new(MockKinect::new(MockConfig::default())))
                .unwrap()
        })
        .collect();
    server.start().unwrap();
    (server, ids)
}

/// A started server with one mock made from `config`, and the mock's id.
fn started_with(config: MockConfig) -> (Server, String) {
    let mut server = Server::new(server_config());
    let id = server
        .add_sensor(Box::new(MockKinect::new(config)))
        .unwrap();
    server.start().unwrap();
    (server, id)
}

fn endpoint(server: &Server) -> String {
    server
        .control_endpoint()
        .expect("a running server has a control endpoint")
}

#[test]
fn ping_before_connect_is_an_error() {
    let (server, _) = started(0);
    let client = Client::new(&endpoint(&server), fast()).unwrap();
    assert_eq!(client.ping(), Err(ClientError::NotConnected));
}

#[test]
fn connect_and_disconnect_fire_once_each_and_the_name_is_learnt() {
    let (server, _) = started(1);
    let events;
    {
        let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();
        events = client.events();
        assert_eq!(client.name(), Some(server.me().name));
        std::thread::sleep(Duration::from_millis(500));
    }
    let all = drain(&events, Duration::from_millis(200));
    let count = |wanted: fn(&ClientEvent) -> bool| all.iter().filter(|e| wanted(e)).count();
    assert_eq!(
        count(|e| matches!(e, ClientEvent::Connected { .. })),
        1,
        "{all:?}"
    );
    assert_eq!(
        count(|e| matches!(e, ClientEvent::Disconnected { .. })),
        1,
        "{all:?}"
    );
    assert_eq!(
        count(|e| matches!(e, ClientEvent::NameLearnt(_))),
        1,
        "{all:?}"
    );
}

#[test]
fn the_advertised_control_endpoint_equals_the_servers() {
    let (server, _) = started(1);
    let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();
    assert_eq!(
        client.me().unwrap().control_endpoint(),
        Some(endpoint(&server).as_str())
    );
}

#[test]
fn a_stopped_server_is_noticed_within_five_seconds() {
    let (mut server, _) = started(1);
    let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();
    let events = client.events();
    server.stop();
    let stopped = Instant::now();
    wait_for(&events, WAIT, |e| {
        matches!(e, ClientEvent::Disconnected { .. })
    })
    .expect("not noticed within 5 s");
    assert!(stopped.elapsed() < WAIT);
    assert!(!client.is_connected());
}

#[test]
fn sensors_added_before_and_after_connect_show_up_and_events_fire_once_with_the_right_id() {
    let (mut server, ids) = started(1);
    let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();
    let events = client.events();
    let (added, _) = wait_for(&events, WAIT, |e| matches!(e, ClientEvent::DeviceAdded(_))).unwrap();
    assert_eq!(added, ClientEvent::DeviceAdded(ids[0].clone()));

    let later = server
        .add_sensor(Box::new(MockKinect::new(MockConfig::default())))
        .unwrap();
    let (added, _) = wait_for(&events, WAIT, |e| matches!(e, ClientEvent::DeviceAdded(_))).unwrap();
    assert_eq!(added, ClientEvent::DeviceAdded(later.clone()));
    assert!(client.me().unwrap().device(&later).is_some());

    server.remove_sensor(&ids[0]).unwrap();
    let (removed, _) = wait_for(&events, WAIT, |e| {
        matches!(e, ClientEvent::DeviceRemoved(_))
    })
    .unwrap();
    assert_eq!(removed, ClientEvent::DeviceRemoved(ids[0].clone()));

    let rest = drain(&events, Duration::from_millis(800));
    assert!(
        !rest.iter().any(|e| matches!(
            e,
            ClientEvent::DeviceAdded(_) | ClientEvent::DeviceRemoved(_)
        )),
        "{rest:?}"
    );
}

#[test]
fn ten_back_to_back_pings_get_ten_pongs() {
    let (server, _) = started(0);
    let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();
    let pongs = (0..10).filter(|_| client.ping().is_ok()).count();
    assert_eq!(pongs, 10);
}

#[test]
fn subscribing_to_an_unknown_device_is_an_error() {
    let (server, _) = started(1);
    let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();
    assert!(matches!(
        client.subscribe("no-such-sensor"),
        Err(ClientError::UnknownDevice(_))
    ));
}

/// The mock's frames depend only on their sequence number, so a second mock with the same
/// configuration tells exactly which pictures may arrive.
#[test]
fn frames_arrive_decoded_with_the_right_id_and_the_exact_mock_content() {
    for mode in [MockMode::Plain, MockMode::Realistic] {
        let config = MockConfig::default().with_mode(mode).with_seed(7);
        let reference = MockKinect::new(config.clone());
        let (server, id) = started_with(config);
        let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();
        let subscription = client.subscribe(&id).unwrap();
        for _ in 0..3 {
            let frame = subscription.recv_timeout(WAIT).expect("no frame");
            assert_eq!(frame.device_id, id);
            assert_eq!(frame.depth.view().dim(), (424, 512));
            let captured = server.stats()[0].captured;
            let matches = |sequence: u64| {
                let expected = reference.frame(sequence);
                match subscription.kind() {
                    EndpointKind::DepthV2 => frame.depth == expected,
                    // The original format keeps only the low 12 bits.
                    _ => frame
                        .depth
                        .depth_mm()
                        .iter()
                        .zip(expected.depth_mm())
                        .all(|(&got, &sent)| got == sent & 0x0FFF),
                }
            };
            let found = match frame.sequence() {
                Some(sequence) => matches(sequence),
                None => (0..=captured).rev().any(matches),
            };
            assert!(found, "{mode:?}: frame is not one the mock produced");
        }
        assert_eq!(subscription.stats().decode_errors, 0);
    }
}

/// Beyond the original: the server offers `depth_v2`, the client prefers it, and far depths
/// (4096 mm and more, which `depth` loses) arrive exact, with sequence numbers and capture times.
#[test]
fn a_real_servers_frames_arrive_lossless_over_depth_v2_with_their_sequence() {
    let config = MockConfig::default()
        .with_mode(MockMode::Realistic)
        .with_seed(11);
    let reference = MockKinect::new(config.clone());
    let (server, id) = started_with(config);
    let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();
    let subscription = client.subscribe(&id).unwrap();
    assert_eq!(subscription.kind(), EndpointKind::DepthV2);
    let mut far_pixels = 0;
    let mut last_sequence = None;
    for _ in 0..5 {
        let frame = subscription.recv_timeout(WAIT).expect("no frame");
        let sequence = frame
            .sequence()
            .expect("depth_v2 frames carry a sequence number");
        assert!(last_sequence < Some(sequence));
        last_sequence = Some(sequence);
        assert_eq!(frame.depth, reference.frame(sequence));
        assert!(frame.latency().expect("capture time") < WAIT);
        far_pixels += frame
            .depth
            .depth_mm()
            .iter()
            .filter(|&&d| d >= 4096)
            .count();
    }
    assert!(far_pixels > 0, "the realistic mock has far pixels");
}

/// Old behaviour on request: with depth_v2 not preferred the client reads the original `depth`.
#[test]
fn the_original_depth_endpoint_is_used_when_depth_v2_is_not_preferred() {
    let (server, ids) = started(1);
    let config = fast()
        .with_subscription(sk2_client::SubscriptionConfig::default().with_prefer_depth_v2(false));
    let client = Client::connect_blocking(&endpoint(&server), config, WAIT).unwrap();
    let subscription = client.subscribe(&ids[0]).unwrap();
    assert_eq!(subscription.kind(), EndpointKind::Depth);
    let frame = subscription.recv_timeout(WAIT).expect("no frame");
    assert!(frame.header.is_none());
}

#[test]
fn a_subscription_refused_by_a_full_server_keeps_trying_and_gets_in_once_a_slot_frees() {
    let mut config = server_config();
    config.max_subscribers = 1;
    let mut server = Server::new(config);
    let id = server
        .add_sensor(Box::new(MockKinect::new(MockConfig::default())))
        .unwrap();
    server.start().unwrap();
    let client = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();

    let first = client.subscribe(&id).unwrap();
    assert!(first.recv_timeout(WAIT).is_some());
    let second = client.subscribe(&id).unwrap();
    let refused = || second.stats().refused;
    let deadline = Instant::now() + WAIT;
    while refused() == 0 {
        assert!(Instant::now() < deadline, "the refusal was not noticed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(second.try_recv().is_none());
    assert!(server.stats()[0].refused_subscribers >= 1);
    // The admitted subscription never notices.
    assert!(first.recv_timeout(WAIT).is_some());
    assert_eq!(first.stats().refused, 0);

    // A slot frees: the refused subscription gets in by itself within its longest retry pause.
    drop(first);
    let frame = second
        .recv_timeout(sk2_client::REFUSED_RETRY_MAX + WAIT)
        .expect("no frame after the slot freed");
    assert_eq!(frame.device_id, id);
}

#[test]
fn a_client_refused_by_a_full_control_endpoint_connects_once_a_slot_frees() {
    let mut config = server_config();
    config.max_control_peers = 1;
    let mut server = Server::new(config);
    server.start().unwrap();
    let first = Client::connect_blocking(&endpoint(&server), fast(), WAIT).unwrap();

    // The refused client hears nothing (its connection is closed during the handshake), times
    // out, and keeps probing with fresh sockets (Lazy Pirate).
    let mut second = Client::new(&endpoint(&server), fast()).unwrap();
    let events = second.events();
    second.connect().unwrap();
    wait_for(&events, WAIT, |e| matches!(e, ClientEvent::Unreachable))
        .map_err(|seen| format!("no Unreachable event; saw {seen:?}"))
        .unwrap();
    assert!(!second.is_connected());
    assert!(server.refused_control_peers() >= 1);
    assert!(first.ping().is_ok());

    drop(first);
    wait_for(&events, WAIT, |e| {
        matches!(e, ClientEvent::Connected { .. })
    })
    .map_err(|seen| format!("not connected after the slot freed; saw {seen:?}"))
    .unwrap();
    assert!(second.ping().is_ok());
}
