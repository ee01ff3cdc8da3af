//! A browser and servers in one private namespace: found before or after the browser starts,
//! reported once, streamed from, and lost on a clean stop.

use std::time::Duration;

use super::{check_frames_flow, connect_to, disappeared, next_server, WAIT};
use crate::common::{self, announce, fast, wait_for, FakeServer};
use sk2_client::{Browser, BrowserEvent, Client, ClientConfig, SERVICE_TYPE};
use sk2_testkit::in_private_netns;

#[test]
fn a_browser_started_before_a_server_sees_it_appear_once_and_disappear_on_clean_stop() {
    if !in_private_netns(
        "a_browser_started_before_a_server_sees_it_appear_once_and_disappear_on_clean_stop",
    ) {
        return;
    }
    let browser = Browser::new().unwrap();
    let events = browser.events();
    // A host name no system resolver knows: the client must use the address mDNS gave.
    let mut server = FakeServer::start_with("Bob's Kinect", "127.0.0.1", 0, "sk2-test-host.local");
    let id = server.add_device();
    let daemon = announce(
        "Bob's Kinect",
        "sk2-test-host.local.",
        "127.0.0.1",
        server.port,
    );

    let found = next_server(&events, WAIT);
    assert_eq!(found.name, "Bob's Kinect");
    assert_eq!(found.control_endpoint(), server.endpoint());
    assert_eq!(found.address(), Some("127.0.0.1".parse().unwrap()));
    assert_eq!(browser.servers(), vec![found.clone()]);

    let client = connect_to(&found);
    assert_eq!(
        client.me().unwrap().control_endpoint(),
        Some(found.control_endpoint().as_str())
    );
    check_frames_flow(&server, &id, &client);

    // Repeated resolutions (announcement retransmissions, refreshes) must not be reported again.
    let later = common::drain(&events, Duration::from_secs(2));
    assert!(!later.iter().any(super::appeared), "{later:?}");

    let fullname = format!("Bob's Kinect.{SERVICE_TYPE}");
    let status = daemon.unregister(&fullname).unwrap();
    status.recv_timeout(WAIT).unwrap();
    let (gone, _) = wait_for(&events, WAIT, disappeared).expect("no goodbye seen");
    assert_eq!(
        gone,
        BrowserEvent::ServerDisappeared {
            name: "Bob's Kinect".into(),
            fullname
        }
    );
    assert!(browser.servers().is_empty());
}

#[test]
fn a_browser_started_after_a_server_sees_it() {
    if !in_private_netns("a_browser_started_after_a_server_sees_it") {
        return;
    }
    let server = FakeServer::start_with("Early Kinect", "127.0.0.1", 0, "early-host.local");
    let _daemon = announce(
        "Early Kinect",
        "early-host.local.",
        "127.0.0.1",
        server.port,
    );
    std::thread::sleep(Duration::from_secs(1));
    let browser = Browser::new().unwrap();
    let found = next_server(&browser.events(), WAIT);
    assert_eq!(found.name, "Early Kinect");
    assert_eq!(found.control_endpoint(), server.endpoint());
    let client = connect_to(&found);
    assert!(client.ping().is_ok());
}

/// The real server library announcing itself: found with the right name and control endpoint,
/// streamed from, and lost when it stops, as the original's discovery tests required.
#[test]
fn a_real_server_is_discovered_streamed_from_and_lost_when_it_stops() {
    if !in_private_netns("a_real_server_is_discovered_streamed_from_and_lost_when_it_stops") {
        return;
    }
    let browser = Browser::new().unwrap();
    let events = browser.events();
    let mut config = sk2_server::Config::default();
    config.name = "Real Kinect".into();
    config.bind_host = "127.0.0.1".into();
    let mut server = sk2_server::Server::new(config);
    let id = server
        .add_sensor(Box::new(sk2_mock::MockKinect::new(
            sk2_mock::MockConfig::default(),
        )))
        .unwrap();
    server.start().unwrap();

    let found = next_server(&events, WAIT);
    assert_eq!(found.name, "Real Kinect");
    assert_eq!(Some(found.control_endpoint()), server.control_endpoint());
    let client = connect_to(&found);
    let frame = client
        .subscribe(&id)
        .unwrap()
        .recv_timeout(WAIT)
        .expect("no frame");
    assert_eq!(frame.device_id, id);

    server.stop();
    let (gone, _) = wait_for(&events, WAIT, disappeared).expect("not lost on stop");
    assert!(matches!(gone, BrowserEvent::ServerDisappeared { name, .. } if name == "Real Kinect"));
}

/// A static endpoint naming a `.local` host works without a browser: the client asks mDNS for
/// the address (and fails with a typed error when told not to).
#[test]
fn a_local_host_name_in_a_static_endpoint_is_resolved_over_mdns() {
    if !in_private_netns("a_local_host_name_in_a_static_endpoint_is_resolved_over_mdns") {
        return;
    }
    let mut server = FakeServer::start_with("Named Kinect", "127.0.0.1", 0, "only-mdns.local");
    let id = server.add_device();
    let _daemon = announce("Named Kinect", "only-mdns.local.", "127.0.0.1", server.port);
    let endpoint = server.endpoint();
    assert!(endpoint.starts_with("tcp://only-mdns.local:"));

    let mut offline = ClientConfig::default();
    offline.resolve_local_names = false;
    let mut client = Client::new(&endpoint, offline).unwrap();
    assert!(matches!(
        client.connect(),
        Err(sk2_client::ClientError::Endpoint(
            sk2_client::EndpointError::Unresolvable(_)
        ))
    ));

    let client = Client::connect_blocking(&endpoint, fast(), WAIT).unwrap();
    check_frames_flow(&server, &id, &client);
}
