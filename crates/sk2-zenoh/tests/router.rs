//! A router between the bridge and its subscribers fails and comes back. The recovery time is
//! printed (docs/distributed.md quotes it).

use std::time::{Duration, Instant};

use sk2_client::zenoh::{ZenohClient, ZenohConfig, ZenohMode, ZenohServerEvent};
use sk2_client::SubscriptionConfig;
use sk2_testkit::{free_port, wait_until_some};
use sk2_zenoh::{Bridge, BridgeConfig};

use crate::common::{connecting, start_server, subscribe_depth_v2, SERVER_ID, WAIT};

fn router(port: u16) -> zenoh::Session {
    let config = ZenohConfig::default()
        .with_mode(ZenohMode::Router)
        .with_listen(&[format!("tcp/127.0.0.1:{port}")])
        .unwrap();
    sk2_zenoh::start_node(&config).unwrap()
}

#[test]
fn subscribers_behind_a_router_lose_the_server_while_it_is_down_and_resume_when_it_returns() {
    let server = start_server(0, 30.0);
    let router_port = free_port();
    let first_router = router(router_port);
    let _bridge = Bridge::start(
        BridgeConfig::new(server.control_endpoint().unwrap())
            .with_server_id(Some(SERVER_ID.to_owned()))
            .with_zenoh(connecting(router_port)),
    )
    .unwrap();
    // A consumer in client mode behind the router: Zenoh's mode for consumers that talk only to
    // their router (peers behind a router expect to reach each other directly, which these
    // cannot: they do not listen).
    let subscribe =
        |client: &ZenohClient| subscribe_depth_v2(client, &SubscriptionConfig::default());
    let client = ZenohClient::open(&connecting(router_port).with_mode(ZenohMode::Client)).unwrap();
    let watch = client.watch().unwrap();
    let subscription = subscribe(&client);
    subscription
        .recv_timeout(WAIT)
        .expect("frames through the router");

    // The router fails: frames stop, and the server's token goes from the consumer's view.
    // Closing reports errors only for a session already closed.
    let _ = zenoh::Wait::wait(first_router.close());
    drop(first_router);
    let down_at = Instant::now();
    wait_until_some("the token to go", WAIT, || {
        watch
            .events()
            .recv_timeout(Duration::from_millis(100))
            .ok()
            .filter(|event| *event == ZenohServerEvent::Disappeared(SERVER_ID.to_owned()))
    });
    let token_gone_after = down_at.elapsed();
    while subscription.try_recv().is_some() {}
    assert!(
        subscription.recv_timeout(Duration::from_secs(2)).is_none(),
        "frames without a router"
    );

    // It comes back on the same address: both sides reconnect by themselves.
    let up_at = Instant::now();
    let _second_router = router(router_port);
    wait_until_some(
        "a frame through the new router",
        Duration::from_secs(60),
        || {
            subscription
                .recv_timeout(Duration::from_millis(100))
                .filter(|frame| frame.received_at > up_at)
        },
    );
    let frames_back_after = up_at.elapsed();
    eprintln!(
        "router failure: token gone {:.2} s after the router closed; frames again {:.2} s after \
         a new router started",
        token_gone_after.as_secs_f64(),
        frames_back_after.as_secs_f64(),
    );
}

#[test]
fn asking_me_of_a_bridge_that_is_not_up_yet_waits_for_it() {
    let server = start_server(0, 30.0);
    let router_port = free_port();
    let _router = router(router_port);
    let client = ZenohClient::open(&connecting(router_port).with_mode(ZenohMode::Client)).unwrap();
    // Nothing answers at first: the query must be asked again, not fail at once.
    let asked_at = Instant::now();
    let asking = std::thread::spawn(move || client.me(SERVER_ID, Duration::from_secs(20)));
    std::thread::sleep(Duration::from_secs(1));
    let _bridge = Bridge::start(
        BridgeConfig::new(server.control_endpoint().unwrap())
            .with_server_id(Some(SERVER_ID.to_owned()))
            .with_zenoh(connecting(router_port)),
    )
    .unwrap();
    let me = asking.join().unwrap().expect("me once the bridge is up");
    assert_eq!(me.devices.len(), 1);
    assert!(asked_at.elapsed() >= Duration::from_secs(1));
}
