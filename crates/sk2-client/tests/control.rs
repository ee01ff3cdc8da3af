//! The control client against a controllable fake server on 127.0.0.1 (no mDNS).

use crate::common;

use std::time::{Duration, Instant};

use common::{drain, fast, wait_for, FakeServer};
use sk2_client::{Client, ClientConfig, ClientError, ClientEvent, DisconnectReason};

const WAIT: Duration = Duration::from_secs(5);

fn is_connected(event: &ClientEvent) -> bool {
    matches!(event, ClientEvent::Connected { .. })
}

fn is_disconnected(event: &ClientEvent) -> bool {
    matches!(event, ClientEvent::Disconnected { .. })
}

#[test]
fn ping_before_connect_is_a_typed_error() {
    let server = FakeServer::start("early");
    let client = Client::new(&server.endpoint(), fast()).unwrap();
    assert_eq!(client.ping(), Err(ClientError::NotConnected));
    assert_eq!(client.who(), Err(ClientError::NotConnected));
    assert!(matches!(
        client.subscribe("anything"),
        Err(ClientError::NotConnected)
    ));
    assert!(server.requests().is_empty());
}

#[test]
fn connect_sends_who_at_once_and_learns_the_name() {
    let server = FakeServer::start("Bob's Kinect");
    let client = Client::connect_to(&server.endpoint(), ClientConfig::default()).unwrap();
    let events = client.events();
    // With the default 10 s heartbeat, only the immediate `who` can answer within 2 s.
    let (connected, _) = wait_for(&events, Duration::from_secs(2), is_connected).unwrap();
    assert_eq!(
        connected,
        ClientEvent::Connected {
            name: "Bob's Kinect".into()
        }
    );
    let (learnt, _) = wait_for(&events, WAIT, |e| matches!(e, ClientEvent::NameLearnt(_))).unwrap();
    assert_eq!(learnt, ClientEvent::NameLearnt("Bob's Kinect".into()));
    assert_eq!(client.name().as_deref(), Some("Bob's Kinect"));
    assert_eq!(
        client.me().unwrap().control_endpoint(),
        Some(server.endpoint().as_str())
    );
}

#[test]
fn connect_and_disconnect_each_fire_exactly_one_event() {
    let server = FakeServer::start("once");
    let mut client = Client::connect_to(&server.endpoint(), fast()).unwrap();
    let events = client.events();
    client.wait_connected(WAIT).unwrap();
    // Several heartbeats pass: none of them may report a second connection.
    std::thread::sleep(Duration::from_millis(700));
    client.disconnect();
    client.disconnect();
    let all = drain(&events, Duration::from_millis(300));
    assert_eq!(all.iter().filter(|e| is_connected(e)).count(), 1, "{all:?}");
    assert_eq!(
        all.iter()
            .filter(|e| **e
                == ClientEvent::Disconnected {
                    reason: DisconnectReason::Closed
                })
            .count(),
        1,
        "{all:?}"
    );
    assert!(server.requests().len() >= 3, "heartbeats were sent");
    assert_eq!(client.ping(), Err(ClientError::NotConnected));
}

#[test]
fn dropping_a_connected_client_reports_disconnected() {
    let server = FakeServer::start("scoped");
    let events;
    {
        let client = Client::connect_blocking(&server.endpoint(), fast(), WAIT).unwrap();
        events = client.events();
    }
    let all = drain(&events, Duration::from_millis(200));
    assert_eq!(all.iter().filter(|e| is_disconnected(e)).count(), 1);
}

#[test]
fn ten_back_to_back_pings_get_ten_pongs() {
    let server = FakeServer::start("pinged");
    let client =
        Client::connect_blocking(&server.endpoint(), ClientConfig::default(), WAIT).unwrap();
    for _ in 0..10 {
        let rtt = client.ping().unwrap();
        assert!(rtt < Duration::from_secs(1), "{rtt:?}");
    }
    let pings = server
        .requests()
        .iter()
        .filter(|r| **r == sk2_proto::Request::Ping)
        .count();
    assert_eq!(pings, 10);
}

#[test]
fn pings_from_many_threads_are_serialised_and_all_answered() {
    let server = FakeServer::start("busy");
    let client =
        Client::connect_blocking(&server.endpoint(), ClientConfig::default(), WAIT).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10 {
                    client.ping().unwrap();
                }
            });
        }
    });
}

#[test]
fn an_error_reply_is_a_typed_server_error() {
    let server = FakeServer::start("grumpy");
    server.state().refuse_pings = true;
    let client = Client::connect_blocking(&server.endpoint(), fast(), WAIT).unwrap();
    assert_eq!(
        client.ping(),
        Err(ClientError::Server {
            code: Some(400),
            reason: "no pings today".into()
        })
    );
    // An error reply is still a reply: the connection stays up.
    assert!(client.is_connected());
}

/// The original's stale timer (protocol.md 8): request A is answered quickly, but its 5 s timer
/// keeps running; request B, sent just before A's timer fires and legitimately slow, gets killed
/// by A's stale timer. Here with a 500 ms timeout: A at t=0 answered at once, B sent at t=400 ms and
/// answered 300 ms later (t=700 ms: past A's would-be deadline, well within B's own at 900 ms).
#[test]
fn an_answered_requests_timer_does_not_disconnect_a_newer_pending_request() {
    let server = FakeServer::start("stale-timer");
    let config = ClientConfig::default()
        .with_heartbeat(Duration::from_secs(60))
        .with_request_timeout(Duration::from_millis(500));
    let client = Client::connect_blocking(&server.endpoint(), config, WAIT).unwrap();
    let events = client.events();
    drain(&events, Duration::from_millis(10));

    let a_sent = Instant::now();
    client.ping().unwrap();
    std::thread::sleep(Duration::from_millis(400).saturating_sub(a_sent.elapsed()));
    server.state().delays.push_back(Duration::from_millis(300));
    let b_rtt = client.ping().expect("B must be answered, not timed out");
    assert!(
        a_sent.elapsed() > Duration::from_millis(500),
        "B's reply must come after A's deadline for the test to mean anything"
    );
    assert!(b_rtt >= Duration::from_millis(300), "{b_rtt:?}");
    assert!(client.is_connected());
    let all = drain(&events, Duration::from_millis(300));
    assert!(!all.iter().any(is_disconnected), "{all:?}");
}

/// Lazy Pirate (docs/protocol.md, section 8): after a timeout the REQ socket is replaced, the
/// pending request fails with a typed error, the client reports disconnected, and once the server
/// answers again it reports connected again, with fresh requests working.
#[test]
fn after_a_timeout_the_pending_request_fails_and_the_client_reconnects() {
    let server = FakeServer::start("pirate");
    let config = ClientConfig::default()
        .with_heartbeat(Duration::from_secs(60))
        .with_request_timeout(Duration::from_millis(300));
    let client = Client::connect_blocking(&server.endpoint(), config, WAIT).unwrap();
    let events = client.events();
    drain(&events, Duration::from_millis(10));

    // The server takes 1 s over this ping: longer than the timeout. Its late reply goes to the
    // closed socket and is lost, which is what must not confuse the fresh socket.
    server.state().delays.push_back(Duration::from_secs(1));
    assert_eq!(
        client.ping(),
        Err(ClientError::Timeout(Duration::from_millis(300)))
    );
    let (disconnected, _) = wait_for(&events, WAIT, is_disconnected).unwrap();
    assert_eq!(
        disconnected,
        ClientEvent::Disconnected {
            reason: DisconnectReason::Timeout
        }
    );
    assert_eq!(client.ping(), Err(ClientError::NotConnected));
    let (connected, before) = wait_for(&events, WAIT, is_connected).unwrap();
    assert_eq!(
        connected,
        ClientEvent::Connected {
            name: "pirate".into()
        }
    );
    // Device and name did not change: no events for them on reconnection.
    assert!(
        before.iter().all(|e| *e == ClientEvent::Unreachable),
        "{before:?}"
    );
    assert!(client.ping().is_ok());
}

#[test]
fn requests_queued_behind_a_timed_out_one_fail_with_a_typed_error() {
    let server = FakeServer::start("queue");
    let config = ClientConfig::default()
        .with_heartbeat(Duration::from_secs(60))
        .with_request_timeout(Duration::from_millis(300));
    let client = Client::connect_blocking(&server.endpoint(), config, WAIT).unwrap();
    server.state().delays.push_back(Duration::from_secs(1));
    let results: Vec<_> = std::thread::scope(|scope| {
        let first = scope.spawn(|| client.ping());
        std::thread::sleep(Duration::from_millis(50));
        let queued: Vec<_> = (0..3).map(|_| scope.spawn(|| client.ping())).collect();
        std::iter::once(first)
            .chain(queued)
            .map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(
        results[0],
        Err(ClientError::Timeout(Duration::from_millis(300)))
    );
    for result in &results[1..] {
        assert!(
            matches!(
                result,
                Err(ClientError::ConnectionLost | ClientError::NotConnected)
            ),
            "{result:?}"
        );
    }
}

#[test]
fn a_stopped_server_is_noticed_within_five_seconds() {
    let mut server = FakeServer::start("leaving");
    let client = Client::connect_blocking(&server.endpoint(), fast(), WAIT).unwrap();
    let events = client.events();
    server.stop();
    let stopped = Instant::now();
    wait_for(&events, WAIT, is_disconnected).expect("no disconnect within 5 s");
    assert!(!client.is_connected());
    // Heartbeat 200 ms + timeout 500 ms: should take well under a second.
    assert!(stopped.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_server_restarted_on_the_same_port_is_reconnected_within_two_seconds() {
    let mut server = FakeServer::start("phoenix");
    let port = server.port;
    let client = Client::connect_blocking(&server.endpoint(), fast(), WAIT).unwrap();
    let events = client.events();
    server.stop();
    wait_for(&events, WAIT, is_disconnected).unwrap();
    // Stay down long enough for the backoff to grow to its maximum.
    std::thread::sleep(Duration::from_secs(3));
    let _server = FakeServer::start_on("phoenix", port);
    let restarted = Instant::now();
    wait_for(&events, Duration::from_secs(2), is_connected).expect("not reconnected within 2 s");
    assert!(restarted.elapsed() < Duration::from_secs(2));
    assert!(client.ping().is_ok());
}

#[test]
fn an_unreachable_server_is_reported_and_connect_blocking_times_out() {
    // A port with (almost surely) nothing listening.
    let port = sk2_testkit::free_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let config = ClientConfig::default().with_request_timeout(Duration::from_millis(200));
    let client = Client::connect_to(&endpoint, config.clone()).unwrap();
    wait_for(&client.events(), WAIT, |e| *e == ClientEvent::Unreachable).unwrap();
    let started = Instant::now();
    assert!(matches!(
        Client::connect_blocking(&endpoint, config, Duration::from_millis(500)),
        Err(ClientError::ConnectTimeout { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn sensors_added_before_and_after_connect_show_up_with_one_event_each() {
    let mut server = FakeServer::start("sensors");
    let before = server.add_device();
    let client = Client::connect_to(&server.endpoint(), fast()).unwrap();
    let events = client.events();
    let (added, _) = wait_for(&events, WAIT, |e| matches!(e, ClientEvent::DeviceAdded(_))).unwrap();
    assert_eq!(added, ClientEvent::DeviceAdded(before.clone()));

    let after = server.add_device();
    let (added, _) = wait_for(&events, WAIT, |e| matches!(e, ClientEvent::DeviceAdded(_))).unwrap();
    assert_eq!(added, ClientEvent::DeviceAdded(after.clone()));
    let ids: Vec<String> = client
        .me()
        .unwrap()
        .devices
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, [before.clone(), after.clone()]);

    server.remove_device(&before);
    let (removed, _) = wait_for(&events, WAIT, |e| {
        matches!(e, ClientEvent::DeviceRemoved(_))
    })
    .unwrap();
    assert_eq!(removed, ClientEvent::DeviceRemoved(before.clone()));

    // Several more heartbeats: no repeated add or remove events.
    let rest = drain(&events, Duration::from_millis(800));
    assert!(
        rest.iter().all(|e| !matches!(
            e,
            ClientEvent::DeviceAdded(_) | ClientEvent::DeviceRemoved(_)
        )),
        "{rest:?}"
    );
}

#[test]
fn malformed_endpoints_are_rejected_up_front() {
    assert!(matches!(
        Client::new("http://x:1", ClientConfig::default()),
        Err(ClientError::Endpoint(_))
    ));
    let mut client = Client::new("tcp://no-such-host.invalid:1", ClientConfig::default()).unwrap();
    assert!(matches!(client.connect(), Err(ClientError::Endpoint(_))));
}

/// Collects a watcher's events until one matches, waiting with `Watcher::wait` (no polling).
fn watch_for(
    watcher: &mut sk2_client::Watcher,
    timeout: Duration,
    wanted: impl Fn(&sk2_client::WatchEvent) -> bool,
) -> Vec<sk2_client::WatchEvent> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        for event in watcher.wait(left) {
            let done = wanted(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
    panic!("not seen within {timeout:?}; saw {seen:?}");
}

#[test]
fn a_watcher_of_a_given_endpoint_reports_it_added_connecting_and_connected() {
    use sk2_client::{WatchEvent, Watcher, WatcherConfig};
    let server = FakeServer::start("watched");
    let endpoint = server.endpoint();
    let mut watcher = Watcher::new(WatcherConfig::default().with_client(fast()));
    watcher.add_endpoint(&endpoint).unwrap();
    assert!(watcher.add_endpoint("tcp://no-port").is_err());
    let seen = watch_for(
        &mut watcher,
        WAIT,
        |event| matches!(event, WatchEvent::Client { event, .. } if is_connected(event)),
    );
    assert_eq!(
        seen[..2],
        [
            WatchEvent::Added {
                key: endpoint.clone()
            },
            WatchEvent::Connecting {
                key: endpoint.clone()
            }
        ]
    );
    let watched = watcher.server(&endpoint).unwrap();
    assert_eq!(watched.name(), "watched");
    assert!(watched.client().is_connected());
    assert!(watched.info().is_none());
}

#[test]
fn a_watcher_retries_an_endpoint_whose_host_does_not_resolve_at_the_pace_set() {
    use sk2_client::{WatchEvent, Watcher, WatcherConfig};
    let retry_after = Duration::from_millis(200);
    let config = WatcherConfig::default()
        .with_client(fast().with_resolve_local_names(false))
        .with_retry_after(retry_after);
    let mut watcher = Watcher::new(config);
    let endpoint = "tcp://no-such-host.invalid:5555";
    watcher.add_endpoint(endpoint).unwrap();
    let started = Instant::now();
    let failed = |event: &WatchEvent| matches!(event, WatchEvent::ConnectFailed { .. });
    let first = watch_for(&mut watcher, WAIT, failed);
    assert!(matches!(
        first.last(),
        Some(WatchEvent::ConnectFailed {
            error: ClientError::Endpoint(_),
            ..
        })
    ));
    watch_for(&mut watcher, WAIT, failed);
    watch_for(&mut watcher, WAIT, failed);
    // Two retries, each after the pause: `wait` woke for them without any queue saying so.
    assert!(
        started.elapsed() >= retry_after * 2,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(watcher.servers().count(), 1);
}
