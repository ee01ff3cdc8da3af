use sk2_proto::DepthFrame;

use super::*;

fn frame(value: u16, sequence: Option<u64>) -> SourceFrame {
    SourceFrame {
        depth: DepthFrame::new(2, 1, vec![value, 0]).unwrap(),
        sensor_sequence: sequence,
        capture_time_ns: None,
        latency: None,
        lost: 0,
    }
}

fn hub_with_sensor() -> (Hub, SourceKey) {
    let hub = Hub::new();
    hub.server_seen("s", "tcp://127.0.0.1:1");
    hub.set_sensors("s", &[("a".into(), "rvl".into())]);
    (hub, SourceKey::new("s", "a"))
}

#[test]
fn a_slow_reader_gets_the_newest_frame_not_the_next_one() {
    let (hub, key) = hub_with_sensor();
    for value in 1..=5 {
        hub.publish(&key, frame(value, Some(u64::from(value))));
    }
    let latest = hub.wait_frame(&key, Some(1), Duration::ZERO).unwrap();
    assert_eq!(latest.number, 5);
    assert_eq!(&latest.depth_le[..2], &5u16.to_le_bytes());
}

#[test]
fn a_reader_that_has_the_newest_frame_waits_then_times_out() {
    let (hub, key) = hub_with_sensor();
    hub.publish(&key, frame(1, None));
    let started = Instant::now();
    let result = hub.wait_frame(&key, Some(1), Duration::from_millis(50));
    assert_eq!(result.unwrap_err(), WaitError::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn a_waiting_reader_wakes_when_a_frame_is_published() {
    let (hub, key) = hub_with_sensor();
    let publisher = {
        let (hub, key) = (hub.clone(), key.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            hub.publish(&key, frame(7, None));
        })
    };
    let got = hub.wait_frame(&key, None, Duration::from_secs(10)).unwrap();
    assert_eq!(got.number, 1);
    publisher.join().unwrap();
}

#[test]
fn lost_frames_and_latency_are_the_sources_figures() {
    let (hub, key) = hub_with_sensor();
    for (lost, latency_ms) in [(0, 10), (2, 10), (0, 10), (3, 10)] {
        let mut frame = frame(1, None);
        frame.lost = lost;
        frame.latency = Some(Duration::from_millis(latency_ms));
        hub.publish(&key, frame);
    }
    let sensor = &hub.snapshot().sensors[0];
    assert_eq!(sensor.lost, 5);
    assert!((sensor.latency_ms.unwrap() - 10.0).abs() < 1e-9);
}

#[test]
fn a_sensor_stays_wanted_for_the_time_set() {
    let hub = Hub::new().with_wanted_for(Duration::from_millis(50));
    hub.server_seen("s", "tcp://127.0.0.1:1");
    hub.set_sensors("s", &[("a".into(), "rvl".into())]);
    let key = SourceKey::new("s", "a");
    let _ = hub.wait_frame(&key, None, Duration::ZERO);
    assert!(hub.is_wanted(&key));
    std::thread::sleep(Duration::from_millis(60));
    assert!(!hub.is_wanted(&key));
}

#[test]
fn asking_marks_a_sensor_wanted_and_unknown_sensors_are_explained() {
    let (hub, key) = hub_with_sensor();
    assert!(!hub.is_wanted(&key));
    let _ = hub.wait_frame(&key, None, Duration::ZERO);
    assert!(hub.is_wanted(&key));
    let missing = SourceKey::new("s", "nope");
    let Err(WaitError::Unknown(message)) = hub.wait_frame(&missing, None, Duration::ZERO) else {
        panic!("an unknown sensor must be an error");
    };
    assert!(
        message.contains("\"nope\" not found on server \"s\" (it has: a)"),
        "{message}"
    );
    let Err(WaitError::Unknown(message)) =
        hub.wait_frame(&SourceKey::new("t", "a"), None, Duration::ZERO)
    else {
        panic!("an unknown server must be an error");
    };
    assert!(
        message.contains("server \"t\" not found (known: \"s\")"),
        "{message}"
    );
}

#[test]
fn servers_are_keyed_apart_and_shown_by_name() {
    let hub = Hub::new();
    for endpoint in ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"] {
        hub.name_server(endpoint, "Kinect on lab");
        hub.server_seen(endpoint, endpoint);
        hub.set_sensors(endpoint, &[("a".into(), "rvl".into())]);
    }
    let snapshot = hub.snapshot();
    assert_eq!(snapshot.servers.len(), 2);
    assert_eq!(snapshot.sensors.len(), 2);
    assert!(snapshot
        .sensors
        .iter()
        .all(|s| s.server_name == "Kinect on lab"));
    assert_eq!(snapshot.servers[1].key, "tcp://127.0.0.1:2");
    let Err(WaitError::Unknown(message)) = hub.wait_frame(
        &SourceKey::new("tcp://127.0.0.1:2", "b"),
        None,
        Duration::ZERO,
    ) else {
        panic!("an unknown sensor must be an error");
    };
    assert!(
        message.contains("on server \"Kinect on lab\" (tcp://127.0.0.1:2)"),
        "{message}"
    );
    hub.server_gone("tcp://127.0.0.1:1");
    assert_eq!(hub.snapshot().sensors.len(), 1);
}

#[test]
fn a_source_key_shows_a_short_sensor_id() {
    let key = SourceKey::new("s", "b7ce2bfbd0dd4aa64f68ba0fb890afd8");
    assert_eq!(key.to_string(), "s/b7ce2bfb");
}

#[test]
fn a_server_error_is_shown_for_its_sensors_and_cleared_when_seen_again() {
    let (hub, key) = hub_with_sensor();
    hub.server_error("s", "tcp://127.0.0.1:1", "cannot reach it");
    assert_eq!(
        hub.snapshot().servers[0].error.as_deref(),
        Some("cannot reach it")
    );
    hub.server_seen("s", "tcp://127.0.0.1:1");
    assert_eq!(hub.snapshot().servers[0].error, None);
    hub.server_gone("s");
    assert!(hub.wait_frame(&key, None, Duration::ZERO).is_err());
    assert!(hub.snapshot().sensors.is_empty());
}
