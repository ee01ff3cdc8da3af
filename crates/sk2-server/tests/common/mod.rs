//! Helpers for the server's tests: a server on 127.0.0.1 with mock sensors, and raw ZeroMQ clients.

#![allow(dead_code)] // each test binary uses a different subset

pub mod horde;

use std::time::Duration;

use sk2_mock::{MockConfig, MockKinect};
use sk2_proto::control::Reply;
use sk2_proto::Me;
use sk2_server::{Config, Server};

/// How long a test client waits for any reply before the test fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A config for tests: loopback only, random ports, no mDNS.
pub fn local_config() -> Config {
    let mut config = Config::default();
    config.bind_host = "127.0.0.1".into();
    config.announce = false;
    config.name = "Test Kinect".into();
    config
}

/// A plain mock at `fps`.
pub fn mock(fps: f64) -> MockKinect {
    MockKinect::new(MockConfig::default().with_fps(Some(fps)))
}

/// A started server with one plain mock at 30 fps.
pub fn started_server() -> Server {
    let mut server = Server::new(local_config());
    server.add_sensor(Box::new(mock(30.0))).unwrap();
    server.start().unwrap();
    server
}

/// A REQ socket connected to `endpoint`, with timeouts so a missing reply fails the test.
pub fn req(context: &zmq::Context, endpoint: &str) -> zmq::Socket {
    let socket = context.socket(zmq::REQ).unwrap();
    let timeout = REPLY_TIMEOUT.as_millis() as i32;
    socket.set_rcvtimeo(timeout).unwrap();
    socket.set_sndtimeo(timeout).unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(endpoint).unwrap();
    socket
}

/// Sends `frames` and returns the reply's frames.
pub fn request(socket: &zmq::Socket, frames: &[&[u8]]) -> Vec<Vec<u8>> {
    socket.send_multipart(frames.iter().copied(), 0).unwrap();
    socket
        .recv_multipart(0)
        .expect("the server replies within the timeout")
}

/// `me` as the server at control `endpoint` answers it over the wire.
pub fn who(endpoint: &str) -> Me {
    let context = zmq::Context::new();
    let socket = req(&context, endpoint);
    match Reply::decode(&request(&socket, &[&[0x03]])).unwrap() {
        Reply::Me(me) => me,
        other => panic!("expected me, got {other:?}"),
    }
}

/// `me` as `server` answers it over the wire, on its control endpoint.
pub fn who_is(server: &Server) -> Me {
    who(&server.control_endpoint().unwrap())
}

/// A SUB socket subscribed to everything on `endpoint`.
pub fn sub(context: &zmq::Context, endpoint: &str) -> zmq::Socket {
    let socket = context.socket(zmq::SUB).unwrap();
    socket
        .set_rcvtimeo(REPLY_TIMEOUT.as_millis() as i32)
        .unwrap();
    socket.set_linger(0).unwrap();
    socket.set_subscribe(b"").unwrap();
    socket.connect(endpoint).unwrap();
    socket
}

/// The depth endpoint of the server's only (or first) device.
pub fn depth_endpoint(server: &Server) -> String {
    let me = server.me();
    me.devices[0].endpoint("depth").unwrap().to_owned()
}
