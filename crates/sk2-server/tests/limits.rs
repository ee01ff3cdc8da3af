//! The peer limits: a depth endpoint admits at most `max_subscribers` subscribers and the control
//! endpoint at most `max_control_peers` peers; the next ones are refused during the handshake,
//! counted, and admitted again once a slot is free. Active admitted peers never notice (idle ones
//! may lose their slot to a newcomer: `fair_peers.rs`).

use crate::common;

use std::time::{Duration, Instant};

use common::{depth_endpoint, local_config, mock, request, sub, REPLY_TIMEOUT};
use sk2_mock::{MockConfig, MockKinect};
use sk2_server::{Config, Server};
use sk2_testkit::wait_until;

/// How long a refused peer is watched for a message it must not get.
const REFUSED_WATCH: Duration = Duration::from_millis(1500);

fn recv_within(socket: &zmq::Socket, timeout: Duration) -> Option<Vec<Vec<u8>>> {
    match socket.poll(zmq::POLLIN, timeout.as_millis() as i64) {
        Ok(n) if n > 0 => socket.recv_multipart(0).ok(),
        _ => None,
    }
}

/// A started server on loopback with `sensors` mocks at 30 fps and the limits `limit` sets.
fn started(sensors: usize, limit: impl FnOnce(&mut Config)) -> Server {
    let mut config = local_config();
    limit(&mut config);
    let mut server = Server::new(config);
    for _ in 0..sensors {
        server.add_sensor(Box::new(mock(30.0))).unwrap();
    }
    server.start().unwrap();
    server
}

/// Connects `subscriber` again (libzmq never retries a refused connection) until it gets a
/// frame; fails the test after `limit`.
fn reconnect_until_admitted(subscriber: &zmq::Socket, endpoint: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        subscriber.disconnect(endpoint).unwrap();
        subscriber.connect(endpoint).unwrap();
        if recv_within(subscriber, Duration::from_millis(500)).is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "not admitted within {limit:?}");
    }
}

#[test]
fn a_subscriber_past_the_limit_is_refused_and_admitted_once_a_slot_frees() {
    let mut server = started(1, |config| config.max_subscribers = 2);
    let endpoint = depth_endpoint(&server);
    let context = zmq::Context::new();

    let first = sub(&context, &endpoint);
    let second = sub(&context, &endpoint);
    assert!(recv_within(&first, REPLY_TIMEOUT).is_some());
    assert!(recv_within(&second, REPLY_TIMEOUT).is_some());

    let third = sub(&context, &endpoint);
    assert!(
        recv_within(&third, REFUSED_WATCH).is_none(),
        "a third subscriber got a frame past a limit of 2"
    );
    assert!(server.stats()[0].refused_subscribers >= 1);
    // The admitted ones never notice.
    assert!(recv_within(&first, REPLY_TIMEOUT).is_some());
    assert!(recv_within(&second, REPLY_TIMEOUT).is_some());

    // One leaves: the refused one gets in when it tries again (libzmq does not retry a refused
    // connection by itself; sk2-client does, with a backoff).
    drop(first);
    reconnect_until_admitted(&third, &endpoint, REPLY_TIMEOUT);
    assert!(recv_within(&second, REPLY_TIMEOUT).is_some());
    server.stop();
}

#[test]
fn the_limit_counts_each_depth_endpoint_apart() {
    let mut server = started(2, |config| config.max_subscribers = 1);
    let me = server.me();
    let context = zmq::Context::new();
    // One subscriber on each of the eight endpoints (two sensors x depth, depth_v2, ir_v2,
    // color): all admitted.
    let subscribers: Vec<_> = me
        .devices
        .iter()
        .flat_map(|device| device.endpoints.values())
        .map(|endpoint| sub(&context, endpoint))
        .collect();
    assert_eq!(subscribers.len(), 8);
    for subscriber in &subscribers {
        assert!(recv_within(subscriber, REPLY_TIMEOUT).is_some());
    }
    assert!(server.stats().iter().all(|s| s.refused_subscribers == 0));
    server.stop();
}

#[test]
fn a_control_peer_past_the_limit_is_refused_while_the_admitted_keep_getting_pongs() {
    let mut server = started(0, |config| config.max_control_peers = 2);
    let endpoint = server.control_endpoint().unwrap();
    let context = zmq::Context::new();
    let req = |rcvtimeo: Duration| {
        let socket = context.socket(zmq::REQ).unwrap();
        socket.set_rcvtimeo(rcvtimeo.as_millis() as i32).unwrap();
        socket.set_linger(0).unwrap();
        socket.connect(&endpoint).unwrap();
        socket
    };
    let first = req(REPLY_TIMEOUT);
    let second = req(REPLY_TIMEOUT);
    assert_eq!(request(&first, &[&[0x01]]), vec![vec![0x02]]);
    assert_eq!(request(&second, &[&[0x01]]), vec![vec![0x02]]);

    let third = req(REFUSED_WATCH);
    third.send(&[0x01][..], 0).unwrap();
    assert!(
        third.recv_multipart(0).is_err(),
        "a third control peer got a reply past a limit of 2"
    );
    assert!(server.refused_control_peers() >= 1);
    assert_eq!(request(&first, &[&[0x01]]), vec![vec![0x02]]);
    assert_eq!(request(&second, &[&[0x01]]), vec![vec![0x02]]);

    // One leaves: a new peer gets in (once the server has seen the disconnection).
    drop(first);
    wait_until(
        "a new control peer admitted after one left",
        REPLY_TIMEOUT,
        || {
            let fresh = req(Duration::from_millis(500));
            fresh.send(&[0x01][..], 0).unwrap();
            fresh.recv_multipart(0).is_ok()
        },
    );
    server.stop();
}

#[test]
fn a_peer_that_never_speaks_holds_its_slot_only_until_it_is_idle_for_a_second_and_it_is_needed() {
    let mut server = started(1, |config| config.max_subscribers = 1);
    let endpoint = depth_endpoint(&server);
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let context = zmq::Context::new();
    let subscriber = sub(&context, &endpoint);
    assert!(
        recv_within(&subscriber, Duration::from_secs(1)).is_none(),
        "admitted while the silent peer held the only slot"
    );
    // Once the silent peer has been idle for a second, a newcomer takes its slot: a retry gets in
    // well before the handshake timeout (5 s) would have closed it.
    reconnect_until_admitted(&subscriber, &endpoint, Duration::from_secs(4));
    assert_eq!(server.stats()[0].evicted_subscribers, 1);
    drop(silent);
    server.stop();
}

/// The control endpoint of `server` on loopback, whatever host name it advertises.
fn loopback_control(server: &Server) -> String {
    let advertised = server.control_endpoint().unwrap();
    let port = advertised.rsplit(':').next().unwrap();
    format!("tcp://127.0.0.1:{port}")
}

fn wire_size(me: &sk2_proto::Me) -> usize {
    let frames = sk2_proto::control::Reply::Me(me.clone()).encode();
    frames.iter().map(Vec::len).max().unwrap()
}

#[test]
fn sixty_four_kinects_with_their_calibration_fit_in_one_me() {
    // The most sensors `kinect-server` serves, each with four endpoints and a calibration, under
    // the longest server name mDNS allows and a typical host name. Their 256 sockets and 64
    // threads would disturb the flood tests' descriptor counts: not at the same time as those.
    let _serial = crate::hostile_peers::serial();
    let mut config = local_config();
    config.name = "n".repeat(63);
    config.advertise_host = Some("kinect-lab-workstation-07.local".into());
    let mut server = Server::new(config);
    for seed in 0..64 {
        let sensor = MockKinect::new(MockConfig::default().with_fps(Some(1.0)).with_seed(seed));
        server.add_sensor(Box::new(sensor)).unwrap();
    }
    server.start().unwrap();
    let me = common::who(&loopback_control(&server));
    assert_eq!(me.devices.len(), 64);
    assert_eq!(me.calibrations.len(), 64);
    let bytes = wire_size(&me);
    eprintln!("me of 64 sensors: {bytes} bytes");
    assert!(bytes <= sk2_proto::control::MAX_CONTROL_MESSAGE_BYTES);
}

#[test]
fn a_sensor_that_would_make_me_too_large_for_a_client_is_refused_and_the_server_serves_on() {
    // A long advertised host name makes each sensor's four endpoints about 16 KB of `me`.
    let mut config = local_config();
    config.advertise_host = Some("h".repeat(4000));
    let mut server = Server::new(config);
    server.start().unwrap();
    let control = loopback_control(&server);
    let mut added = 0;
    let error = loop {
        match server.add_sensor(Box::new(mock(30.0))) {
            Ok(_) => added += 1,
            Err(error) => break error,
        }
        assert!(added < 10, "no limit reached");
    };
    assert!(added >= 1);
    let sk2_server::ServerError::MeTooLarge {
        sensors,
        bytes,
        limit,
    } = error
    else {
        panic!("{error}");
    };
    assert_eq!((sensors, limit), (added + 1, 65536));
    assert!(bytes > limit);

    // Clients still read the `me` of the sensors that stayed, and their frames flow.
    let me = common::who(&control);
    assert_eq!(me.devices.len(), added);
    assert!(wire_size(&me) <= limit);
    assert_eq!(server.stats().len(), added);
    let depth = me.devices[0].endpoint("depth").unwrap();
    let port = depth.rsplit(':').next().unwrap();
    let context = zmq::Context::new();
    let subscriber = sub(&context, &format!("tcp://127.0.0.1:{port}"));
    assert!(recv_within(&subscriber, REPLY_TIMEOUT).is_some());
}

#[test]
fn a_server_whose_me_would_be_too_large_does_not_start() {
    let mut config = local_config();
    config.advertise_host = Some("h".repeat(20_000));
    let mut server = Server::new(config);
    server.add_sensor(Box::new(mock(30.0))).unwrap();
    let error = server.start().unwrap_err();
    assert!(
        matches!(
            error,
            sk2_server::ServerError::MeTooLarge { sensors: 1, .. }
        ),
        "{error}"
    );
    assert!(!server.is_running());
}
