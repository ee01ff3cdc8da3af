//! The network source against a real in-process server (sk2-server with a mock sensor) on
//! loopback, without mDNS: it lists the server, subscribes only while a tab wants the sensor, and
//! publishes the mock's known pictures.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use sk2_mock::{MockConfig, MockKinect};
use sk2_server::{Config, Server};
use sk2_view::{FrameSource, Hub, NetworkSource, SourceKey};

/// How long the sensor stays wanted after the last ask: short, so the test need not wait long for
/// the subscription to end, yet long enough for a loaded machine to subscribe meanwhile.
const WANTED_FOR: Duration = Duration::from_secs(1);

fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A network source feeding `hub` from the servers at `connect` (no mDNS), on a thread of its
/// own; dropping the sender stops it.
fn start_source(hub: &Hub, connect: Vec<String>) -> (Sender<()>, JoinHandle<()>) {
    let (stop, shutdown) = crossbeam_channel::bounded::<()>(0);
    let source = Box::new(NetworkSource {
        connect,
        discover: false,
        sensor: None,
        ..NetworkSource::default()
    });
    let hub = hub.clone();
    (stop, std::thread::spawn(move || source.run(hub, shutdown)))
}

#[test]
fn the_network_source_streams_a_sensor_only_while_a_tab_wants_it() {
    let mut config = Config::default();
    config.name = "Lib Mock".to_owned();
    config.bind_host = "127.0.0.1".to_owned();
    config.announce = false;
    let mut server = Server::new(config);
    let mock_config = MockConfig::default();
    let sensor_id = server
        .add_sensor(Box::new(MockKinect::new(mock_config.clone())))
        .unwrap();
    server.start().unwrap();
    let control = server.control_endpoint().unwrap();
    let endpoint = control.clone();

    let hub = Hub::new().with_wanted_for(WANTED_FOR);
    let (stop, thread) = start_source(&hub, vec![control]);

    // The server is listed under its endpoint and shown by its own name, with its sensor.
    let key = SourceKey::new(endpoint, sensor_id.clone());
    wait_until("the sensor to be listed", Duration::from_secs(10), || {
        hub.snapshot()
            .sensors
            .iter()
            .any(|s| {
                s.server == key.server && s.sensor == key.sensor && s.server_name == "Lib Mock"
            })
            .then_some(())
    });
    // Nobody watches yet: nothing is received.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hub.snapshot().sensors[0].frames_received, 0);

    // A tab asks: frames arrive, and they are the mock's pictures.
    let frame = hub.wait_frame(&key, None, Duration::from_secs(10)).unwrap();
    let depth: Vec<u16> = frame
        .depth_le
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    let mock = MockKinect::new(mock_config);
    assert!(
        (0..400).any(|sequence| mock.frame(sequence).depth_mm() == depth.as_slice()),
        "the frame is none of the mock's pictures"
    );

    // No tab asks any more: after WANTED_FOR the subscription is dropped and frames stop.
    wait_until("frames to stop", Duration::from_secs(10), || {
        let before = hub.snapshot().sensors[0].frames_received;
        std::thread::sleep(Duration::from_millis(500));
        (hub.snapshot().sensors[0].frames_received == before).then_some(())
    });

    drop(stop);
    thread.join().unwrap();
    assert!(
        hub.snapshot().servers.is_empty(),
        "the source forgets its servers when it stops"
    );
    server.stop();
}

/// Two servers given with `--connect` may share a name (`Kinect on <host>` on one host): both are
/// listed, each with its own sensor, told apart by endpoint.
#[test]
fn two_servers_with_one_name_are_both_listed() {
    let mut servers = Vec::new();
    let mut sensor_ids = Vec::new();
    for _ in 0..2 {
        let config = Config::default()
            .with_name("Kinect on lab")
            .with_bind_host("127.0.0.1")
            .with_announce(false);
        let mut server = Server::new(config);
        sensor_ids.push(
            server
                .add_sensor(Box::new(MockKinect::new(
                    MockConfig::default().with_fps(Some(5.0)),
                )))
                .unwrap(),
        );
        server.start().unwrap();
        servers.push(server);
    }
    let endpoints: Vec<String> = servers
        .iter()
        .map(|server| server.control_endpoint().unwrap())
        .collect();
    let hub = Hub::new();
    let (stop, thread) = start_source(&hub, endpoints.clone());
    let snapshot = wait_until("both sensors listed", Duration::from_secs(10), || {
        let snapshot = hub.snapshot();
        (snapshot.sensors.len() == 2).then_some(snapshot)
    });
    for (endpoint, id) in endpoints.iter().zip(&sensor_ids) {
        assert!(
            snapshot.sensors.iter().any(|s| &s.server == endpoint
                && &s.sensor == id
                && s.server_name == "Kinect on lab"),
            "{snapshot:?}"
        );
    }
    assert_eq!(snapshot.servers.len(), 2, "{snapshot:?}");
    drop(stop);
    thread.join().unwrap();
    for mut server in servers {
        server.stop();
    }
}
