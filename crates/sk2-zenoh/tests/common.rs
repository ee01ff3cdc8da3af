//! Helpers: a server with mock sensors on loopback, a bridge in front of it, Zenoh sessions
//! joined to the bridge over loopback.

#![allow(dead_code)] // each test file uses a different subset

use std::time::Duration;

use sk2_client::zenoh::{ZenohClient, ZenohConfig};
use sk2_client::{EndpointKind, Subscription, SubscriptionConfig};
use sk2_mock::{MockConfig, MockKinect};
use sk2_proto::zenoh_keys::depth_key;
use sk2_server::{Codec, Config, Server};
use sk2_zenoh::{Bridge, BridgeConfig};

/// How long a test waits for anything that should take milliseconds.
pub const WAIT: Duration = Duration::from_secs(20);
/// The sensor id the tests' mock sensors use.
pub const SENSOR_ID: &str = "0123456789abcdef0123456789abcdef";
/// The server id the tests' bridges publish under.
pub const SERVER_ID: &str = "lab";

/// A server config on loopback, random ports (or `control_port`), no mDNS, MEDHUF.
pub fn server_config(control_port: u16) -> Config {
    Config::default()
        .with_name("Test Kinect")
        .with_bind_host("127.0.0.1")
        .with_control_port(control_port)
        .with_announce(false)
        .with_codec(Some(Codec::MedHuf))
}

/// A started server with one realistic mock (id [`SENSOR_ID`]) at `fps`.
pub fn start_server(control_port: u16, fps: f64) -> Server {
    let mut server = Server::new(server_config(control_port));
    let mock = MockKinect::with_id(
        SENSOR_ID,
        MockConfig::default()
            .with_fps(Some(fps))
            .with_mode(sk2_mock::MockMode::Realistic)
            .with_seed(7),
    );
    server.add_sensor(Box::new(mock)).unwrap();
    server.start().unwrap();
    server
}

/// Zenoh config listening on `port` of 127.0.0.1.
pub fn listening(port: u16) -> ZenohConfig {
    ZenohConfig::default()
        .with_listen(&[format!("tcp/127.0.0.1:{port}")])
        .unwrap()
}

/// Zenoh config connecting to `port` of 127.0.0.1.
pub fn connecting(port: u16) -> ZenohConfig {
    ZenohConfig::default()
        .with_connect(&[format!("tcp/127.0.0.1:{port}")])
        .unwrap()
}

/// A bridge in front of `server`, listening for Zenoh peers on `zenoh_port`.
pub fn start_bridge(server: &Server, zenoh_port: u16) -> Bridge {
    let upstream = server.control_endpoint().unwrap();
    Bridge::start(
        BridgeConfig::new(upstream)
            .with_server_id(Some(SERVER_ID.to_owned()))
            .with_zenoh(listening(zenoh_port)),
    )
    .unwrap()
}

/// A Zenoh client connected to the bridge on `zenoh_port`.
pub fn zenoh_client(zenoh_port: u16) -> ZenohClient {
    ZenohClient::open(&connecting(zenoh_port)).unwrap()
}

/// `client`'s subscription, with `config`, to the `depth_v2` frames of the test sensor
/// ([`SENSOR_ID`]) that the bridge publishes under [`SERVER_ID`].
pub fn subscribe_depth_v2(client: &ZenohClient, config: &SubscriptionConfig) -> Subscription {
    client
        .subscribe_key(
            &depth_key(SERVER_ID, SENSOR_ID, "depth_v2"),
            SENSOR_ID,
            EndpointKind::DepthV2,
            config,
        )
        .unwrap()
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}
