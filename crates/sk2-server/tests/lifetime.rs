//! The server half of the original Python implementation's test suite: lifetime and sensors.

use crate::common;

use common::{local_config, mock, started_server, who};
use sk2_proto::Sensor;
use sk2_server::{Server, ServerError};

#[test]
fn a_new_server_is_not_running_until_started_and_not_after_stop() {
    let mut server = Server::new(local_config());
    assert!(!server.is_running());
    assert_eq!(server.control_endpoint(), None);
    server.start().unwrap();
    assert!(server.is_running());
    let endpoint = server.control_endpoint().unwrap();
    assert!(endpoint.starts_with("tcp://localhost:"), "{endpoint}");
    assert!(matches!(server.start(), Err(ServerError::AlreadyRunning)));
    server.stop();
    assert!(!server.is_running());
    assert_eq!(server.control_endpoint(), None);
    server.stop();
}

#[test]
fn dropping_a_running_server_closes_its_ports() {
    let endpoint = {
        let server = started_server();
        server.control_endpoint().unwrap()
    };
    // The port is free again: a new socket can bind it.
    let port = endpoint.rsplit(':').next().unwrap();
    let context = zmq::Context::new();
    let socket = context.socket(zmq::REP).unwrap();
    socket.bind(&format!("tcp://127.0.0.1:{port}")).unwrap();
}

#[test]
fn a_stopped_server_can_be_started_again() {
    let mut server = started_server();
    server.stop();
    server.start().unwrap();
    let me = who(&server.control_endpoint().unwrap());
    assert_eq!(me.devices.len(), 1);
}

#[test]
fn sensors_added_before_start_are_served_and_can_be_removed_after() {
    let mut server = Server::new(local_config());
    let first = server.add_sensor(Box::new(mock(30.0))).unwrap();
    let second = server.add_sensor(Box::new(mock(30.0))).unwrap();
    assert_ne!(first, second);
    // Before start, `me` lists the devices without endpoints.
    assert_eq!(server.me().devices.len(), 2);
    assert!(server.me().devices[0].endpoints.is_empty());
    server.start().unwrap();
    let endpoint = server.control_endpoint().unwrap();
    let me = who(&endpoint);
    let ids: Vec<&str> = me.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert!(me.devices.iter().all(|d| d.endpoint("depth").is_some()));
    let removed = server.remove_sensor(&first).unwrap();
    assert_eq!(removed.id(), first);
    let me = who(&endpoint);
    assert_eq!(me.devices.len(), 1);
    assert_eq!(me.devices[0].id, second);
    assert_eq!(server.stats().len(), 1);
}

#[test]
fn sensors_added_after_start_show_up_and_removing_before_start_works() {
    let mut server = Server::new(local_config());
    let early = server.add_sensor(Box::new(mock(30.0))).unwrap();
    server.remove_sensor(&early).unwrap();
    assert!(server.me().devices.is_empty());
    server.start().unwrap();
    let endpoint = server.control_endpoint().unwrap();
    assert!(who(&endpoint).devices.is_empty());
    let late = server.add_sensor(Box::new(mock(30.0))).unwrap();
    let me = who(&endpoint);
    assert_eq!(me.devices.len(), 1);
    assert_eq!(me.devices[0].id, late);
    assert!(me.devices[0]
        .endpoint("depth")
        .unwrap()
        .starts_with("tcp://localhost:"));
}

#[test]
fn duplicate_and_unknown_sensor_ids_are_errors() {
    let mut server = Server::new(local_config());
    let sensor = mock(30.0);
    let id = sensor.id().to_owned();
    server.add_sensor(Box::new(sensor)).unwrap();
    let twin = sk2_mock::MockKinect::with_id(id.clone(), Default::default());
    assert!(matches!(
        server.add_sensor(Box::new(twin)),
        Err(ServerError::DuplicateSensor(dup)) if dup == id
    ));
    assert!(matches!(
        server.remove_sensor("nope"),
        Err(ServerError::UnknownSensor(_))
    ));
}

#[test]
fn a_port_in_use_is_a_bind_error() {
    let context = zmq::Context::new();
    let holder = context.socket(zmq::REP).unwrap();
    holder.bind("tcp://127.0.0.1:*").unwrap();
    let taken = holder.get_last_endpoint().unwrap().unwrap();
    let port: u16 = taken.rsplit(':').next().unwrap().parse().unwrap();
    let mut config = local_config();
    config.control_port = port;
    let mut server = Server::new(config);
    let error = server.start().unwrap_err();
    assert!(
        matches!(
            error,
            ServerError::Bind {
                role: "control",
                ..
            }
        ),
        "{error}"
    );
    assert!(!server.is_running());
}

#[test]
fn advertised_endpoints_use_the_advertise_host_when_given() {
    let mut config = local_config();
    config.advertise_host = Some("kinect.example".into());
    let mut server = Server::new(config);
    server.add_sensor(Box::new(mock(30.0))).unwrap();
    assert!(server.me().endpoints.is_empty(), "no endpoint before start");
    server.start().unwrap();
    let me = server.me();
    assert!(me
        .control_endpoint()
        .unwrap()
        .starts_with("tcp://kinect.example:"));
    assert!(me.devices[0]
        .endpoints
        .values()
        .all(|endpoint| endpoint.starts_with("tcp://kinect.example:")));
    server.stop();
    assert!(server.me().endpoints.is_empty(), "no endpoint after stop");
}

#[test]
fn fixed_ports_are_used_in_order_control_then_depth_then_depth_v2() {
    // Three free ports in a row are not guaranteed; find a base where they are.
    let base = (20000..60000u16)
        .step_by(7)
        .find(|&base| {
            (base..base + 3).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        })
        .unwrap();
    let mut config = local_config();
    config.control_port = base;
    config.depth_port = base + 1;
    let mut server = Server::new(config);
    server.add_sensor(Box::new(mock(30.0))).unwrap();
    server.start().unwrap();
    let me = server.me();
    assert_eq!(
        me.control_endpoint(),
        Some(format!("tcp://localhost:{base}").as_str())
    );
    let device = &me.devices[0];
    assert_eq!(
        device.endpoint("depth"),
        Some(format!("tcp://localhost:{}", base + 1).as_str())
    );
    assert_eq!(
        device.endpoint("depth_v2"),
        Some(format!("tcp://localhost:{}", base + 2).as_str())
    );
}
