//! Discovery: an mdns-sd browser sees the server's service, then its removal after a clean stop.
//! Runs inside a private network namespace: no multicast ever leaves this machine.

use crate::common;

use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent};
use sk2_server::{Server, SERVICE_TYPE};

/// Time allowed for mDNS probing, announcing and goodbye on a quiet loopback interface.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn a_browser_sees_the_service_with_name_port_and_address_then_its_removal() {
    if !sk2_testkit::in_private_netns(
        "a_browser_sees_the_service_with_name_port_and_address_then_its_removal",
    ) {
        return;
    }
    announce_and_browse(None);
}

#[test]
fn an_announcement_restricted_to_one_interface_is_seen_on_it() {
    if !sk2_testkit::in_private_netns("an_announcement_restricted_to_one_interface_is_seen_on_it") {
        return;
    }
    announce_and_browse(Some("lo"));
}

#[test]
fn an_unknown_interface_is_an_announce_error() {
    if !sk2_testkit::in_private_netns("an_unknown_interface_is_an_announce_error") {
        return;
    }
    let mut config = common::local_config();
    config.announce = true;
    config.interface = Some("sk2-absent0".into());
    let mut server = Server::new(config);
    let error = server.start().unwrap_err();
    assert!(
        matches!(error, sk2_server::ServerError::Announce(_)),
        "{error}"
    );
    assert!(error.to_string().contains("sk2-absent0"), "{error}");
    assert!(!server.is_running());
}

fn announce_and_browse(interface: Option<&str>) {
    let mut config = common::local_config();
    config.name = "Bob's Kinect".into();
    config.announce = true;
    config.interface = interface.map(str::to_owned);
    let mut server = Server::new(config);
    server.add_sensor(Box::new(common::mock(5.0))).unwrap();
    server.start().unwrap();
    let control = server.control_endpoint().unwrap();
    let port: u16 = control.rsplit(':').next().unwrap().parse().unwrap();
    let machine = hostname_of_machine();
    assert_eq!(control, format!("tcp://{machine}.local:{port}"));

    let browser = ServiceDaemon::new().unwrap();
    let events = browser.browse(SERVICE_TYPE).unwrap();
    let fullname = format!("Bob's Kinect.{SERVICE_TYPE}");
    let deadline = Instant::now() + DISCOVERY_TIMEOUT;
    let resolved = loop {
        let event = events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the service is resolved before the timeout");
        if let ServiceEvent::ServiceResolved(info) = event {
            if info.get_fullname() == fullname {
                break info;
            }
        }
    };
    assert_eq!(resolved.get_port(), port);
    assert_eq!(resolved.get_hostname(), format!("{machine}.local."));
    let addresses = resolved.get_addresses_v4();
    assert!(
        addresses.contains(&std::net::Ipv4Addr::LOCALHOST),
        "A records: {addresses:?}"
    );
    assert_eq!(resolved.get_property_val_str("version"), Some("1"));
    assert_eq!(
        resolved.get_property_val_str("codec"),
        Some(sk2_server::Codec::default().name())
    );

    server.stop();
    let deadline = Instant::now() + DISCOVERY_TIMEOUT;
    loop {
        let event = events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the removal is seen before the timeout");
        if let ServiceEvent::ServiceRemoved(_, name) = event {
            if name == fullname {
                break;
            }
        }
    }
    let _ = browser.shutdown();
}

fn hostname_of_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}
