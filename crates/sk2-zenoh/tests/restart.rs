//! The bridge follows its server through a restart.

use std::time::{Duration, Instant};

use sk2_client::zenoh::{ServerWatch, ZenohServerEvent};
use sk2_client::SubscriptionConfig;
use sk2_testkit::{free_port, wait_until_some};

use crate::common::{
    start_bridge, start_server, subscribe_depth_v2, zenoh_client, SERVER_ID, WAIT,
};

/// Waits for `expected` among the watch's events (others are passed over).
fn wait_for_event(watch: &ServerWatch, expected: &ZenohServerEvent) {
    wait_until_some(&format!("{expected:?}"), WAIT, || {
        watch
            .events()
            .recv_timeout(Duration::from_millis(100))
            .ok()
            .filter(|event| event == expected)
    });
}

#[test]
fn the_bridge_survives_a_server_restart_and_its_zenoh_subscribers_resume() {
    let control_port = free_port();
    let mut server = start_server(control_port, 30.0);
    let zenoh_port = free_port();
    let bridge = start_bridge(&server, zenoh_port);
    let client = zenoh_client(zenoh_port);
    let watch = client.watch().unwrap();
    let subscription = subscribe_depth_v2(&client, &SubscriptionConfig::default());
    wait_for_event(&watch, &ZenohServerEvent::Appeared(SERVER_ID.to_owned()));
    subscription
        .recv_timeout(WAIT)
        .expect("frames before the restart");

    // The server goes: its token goes with it.
    server.stop();
    drop(server);
    wait_for_event(&watch, &ZenohServerEvent::Disappeared(SERVER_ID.to_owned()));

    // A new server process on the same control port (new depth ports): everything comes back.
    let restarted_at = Instant::now();
    let _server = start_server(control_port, 30.0);
    wait_for_event(&watch, &ZenohServerEvent::Appeared(SERVER_ID.to_owned()));
    let frame = wait_until_some("a frame from the restarted server", WAIT, || {
        subscription
            .recv_timeout(Duration::from_millis(100))
            .filter(|frame| frame.received_at > restarted_at)
    });
    assert!(frame.sequence().is_some());
    assert!(bridge.stats().connects >= 2, "{:?}", bridge.stats());
}
