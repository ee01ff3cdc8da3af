//! The client survives its server's crash: `kinect-server` is killed with SIGKILL and started again
//! on the same ports; the client reports disconnected, then connected within 2 s of the restart,
//! and frames flow again.

use std::time::{Duration, Instant};

use crate::common::KinectServer;
use sk2_client::{Client, ClientConfig, ClientEvent};
use sk2_testkit::{free_port, free_port_run};

const WAIT: Duration = Duration::from_secs(5);

/// Starts `kinect-server` on fixed ports.
fn start_server(control_port: u16, depth_port: u16) -> KinectServer {
    let (control_port, depth_port) = (control_port.to_string(), depth_port.to_string());
    KinectServer::start(&[
        "--name",
        "Phoenix",
        "--fps",
        "30",
        "--control-port",
        &control_port,
        "--depth-port",
        &depth_port,
    ])
}

fn wait_event(
    events: &crossbeam_channel::Receiver<ClientEvent>,
    timeout: Duration,
    wanted: impl Fn(&ClientEvent) -> bool,
) -> Option<ClientEvent> {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(event) if wanted(&event) => return Some(event),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn a_server_killed_and_restarted_on_the_same_port_is_reconnected_within_two_seconds() {
    // The mock sensor's four streams (depth, depth_v2, ir_v2, color) count up from depth_port.
    let (control_port, depth_port) = (free_port(), free_port_run(4));
    let mut server = start_server(control_port, depth_port);
    let endpoint = server.control.clone();
    let config = ClientConfig::default()
        .with_heartbeat(Duration::from_millis(200))
        .with_request_timeout(Duration::from_millis(500));
    let client = Client::connect_blocking(&endpoint, config, WAIT).unwrap();
    let events = client.events();
    let old_id = client.me().unwrap().devices[0].id.clone();
    let subscription = client.subscribe(&old_id).unwrap();
    subscription
        .recv_timeout(WAIT)
        .expect("no frame before the crash");

    server.kill(); // SIGKILL: no clean shutdown of any socket
    wait_event(&events, WAIT, |e| {
        matches!(e, ClientEvent::Disconnected { .. })
    })
    .expect("the crash was not noticed");
    // Stay down long enough for the reconnection backoff to reach its maximum.
    std::thread::sleep(Duration::from_secs(2));
    while subscription.try_recv().is_some() {}

    let restarted = Instant::now();
    let _server = start_server(control_port, depth_port);
    wait_event(&events, Duration::from_secs(2), |e| {
        matches!(e, ClientEvent::Connected { .. })
    })
    .expect("not reconnected within 2 s of the restart");
    eprintln!("reconnected {:?} after the restart", restarted.elapsed());
    assert!(client.ping().is_ok());

    // The restarted server has a new sensor id on the same depth port: the old subscription
    // reconnects by itself, and the new id can be subscribed too.
    let frame = subscription
        .recv_timeout(WAIT)
        .expect("frames do not flow again on the old subscription");
    assert!(frame.received_at > restarted);
    let new_id = client.me().unwrap().devices[0].id.clone();
    assert_ne!(new_id, old_id);
    let fresh = client.subscribe(&new_id).unwrap();
    assert_eq!(
        fresh.recv_timeout(WAIT).expect("no frame").device_id,
        new_id
    );
}
