//! Discovery over mDNS. Every test here runs inside a private network namespace (one made by
//! `sk2_testkit::in_private_netns`, or two joined by a veth pair), never on the host's network.
//!
//! - `browsing`: a browser finds servers announced before or after it starts, and sees them go
//!   on a clean stop; a `.local` host name in a static endpoint is resolved over mDNS.
//! - `crashes`: a server killed without a goodbye is dropped after re-verification, by hand and
//!   by the watcher.
//! - `two_hosts`: a browser and a server in two namespaces joined by a veth pair.

mod browsing;
mod crashes;
mod two_hosts;

use std::time::{Duration, Instant};

use crate::common::{fast, test_frame, wait_for, FakeServer};
use sk2_client::{BrowserEvent, Client, ServerInfo};

const WAIT: Duration = Duration::from_secs(10);

fn appeared(event: &BrowserEvent) -> bool {
    matches!(event, BrowserEvent::ServerAppeared(_))
}

fn disappeared(event: &BrowserEvent) -> bool {
    matches!(event, BrowserEvent::ServerDisappeared { .. })
}

fn info(event: BrowserEvent) -> ServerInfo {
    match event {
        BrowserEvent::ServerAppeared(info) => info,
        other => panic!("expected ServerAppeared, got {other:?}"),
    }
}

/// The next server that appears on `events` within `timeout`.
fn next_server(
    events: &crossbeam_channel::Receiver<BrowserEvent>,
    timeout: Duration,
) -> ServerInfo {
    let (event, _) = wait_for(events, timeout, appeared).expect("server not seen");
    info(event)
}

/// Connects to a discovered server through the addresses mDNS gave for its host.
fn connect_to(found: &ServerInfo) -> Client {
    Client::connect_blocking(
        &found.control_endpoint(),
        fast().with_host_addresses(found.host_addresses()),
        WAIT,
    )
    .unwrap()
}

/// Publishes until a frame gets through (PUB/SUB drops messages sent before the subscription
/// arrives), then checks its content exactly.
fn check_frames_flow(server: &FakeServer, id: &str, client: &Client) {
    let subscription = client.subscribe(id).unwrap();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        server.publish(id, &test_frame(3));
        if let Some(frame) = subscription.recv_timeout(Duration::from_millis(50)) {
            assert_eq!(frame.device_id, id);
            assert_eq!(frame.depth, test_frame(3));
            return;
        }
    }
    panic!("no frame from the discovered server");
}
