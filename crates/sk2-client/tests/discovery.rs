//! Discovery over mDNS. Every test here runs inside a private network namespace (one made by
//! `sk2_testkit::in_private_netns`, or two joined by a veth pair), never on the host's network.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{announce, fast, test_frame, wait_for, FakeServer};
use sk2_client::{Browser, BrowserEvent, Client, ClientConfig, ServerInfo, SERVICE_TYPE};
use sk2_testkit::in_private_netns;

const WAIT: Duration = Duration::from_secs(10);
/// Set for helper processes started inside namespaces made with `ip netns`.
const HELPER_ENV: &str = "SK2_IN_TEST_NETNS";

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

    let (event, _) = wait_for(&events, WAIT, appeared).expect("server not seen");
    let found = info(event);
    assert_eq!(found.name, "Bob's Kinect");
    assert_eq!(found.control_endpoint(), server.endpoint());
    assert_eq!(found.address(), Some("127.0.0.1".parse().unwrap()));
    assert_eq!(browser.servers(), vec![found.clone()]);

    let client = Client::connect_blocking(
        &found.control_endpoint(),
        fast().with_host_addresses(found.host_addresses()),
        WAIT,
    )
    .unwrap();
    assert_eq!(
        client.me().unwrap().control_endpoint(),
        Some(found.control_endpoint().as_str())
    );
    check_frames_flow(&server, &id, &client);

    // Repeated resolutions (announcement retransmissions, refreshes) must not be reported again.
    let later = common::drain(&events, Duration::from_secs(2));
    assert!(!later.iter().any(appeared), "{later:?}");

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
    let (event, _) = wait_for(&browser.events(), WAIT, appeared).expect("server not seen");
    let found = info(event);
    assert_eq!(found.name, "Early Kinect");
    assert_eq!(found.control_endpoint(), server.endpoint());
    let client = Client::connect_blocking(
        &found.control_endpoint(),
        fast().with_host_addresses(found.host_addresses()),
        WAIT,
    )
    .unwrap();
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

    let (event, _) = wait_for(&events, WAIT, appeared).expect("server not seen");
    let found = info(event);
    assert_eq!(found.name, "Real Kinect");
    assert_eq!(Some(found.control_endpoint()), server.control_endpoint());
    let client = Client::connect_blocking(
        &found.control_endpoint(),
        fast().with_host_addresses(found.host_addresses()),
        WAIT,
    )
    .unwrap();
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

/// A crashed server sends no goodbye; its records would stay for their 120 s TTL. After a failed
/// connection the browser re-verifies it, and it is gone within seconds.
#[test]
fn a_crashed_servers_entry_goes_within_seconds_after_reverification() {
    if !in_private_netns("a_crashed_servers_entry_goes_within_seconds_after_reverification") {
        return;
    }
    let browser = Browser::new().unwrap();
    let events = browser.events();
    let mut announcer = spawn_helper(
        "announcer_process_for_the_crash_test",
        &[("SK2_ANNOUNCE", "Doomed Kinect")],
    );
    let (event, _) = wait_for(&events, WAIT, appeared).expect("server not seen");
    assert_eq!(info(event).name, "Doomed Kinect");

    announcer.kill().unwrap(); // SIGKILL: no goodbye
    announcer.wait().unwrap();
    // Without re-verification the entry stays (its TTL is 120 s).
    let early = wait_for(&events, Duration::from_secs(1), disappeared);
    assert!(early.is_err(), "disappeared before verification: {early:?}");

    let verifying = Instant::now();
    browser.verify("Doomed Kinect").unwrap();
    wait_for(&events, WAIT, disappeared).expect("stale entry not removed");
    assert!(verifying.elapsed() < Duration::from_secs(5));
    assert!(browser.servers().is_empty());
}

/// The watcher does by itself what the test above does by hand: its client to the crashed server
/// gets no answer, it has mDNS re-verify the server, and reports it removed within seconds.
#[test]
fn a_watcher_drops_a_crashed_server_within_seconds() {
    use sk2_client::{WatchEvent, Watcher, WatcherConfig};
    if !in_private_netns("a_watcher_drops_a_crashed_server_within_seconds") {
        return;
    }
    // Nothing listens on the announced port, so the client never gets an answer and the watcher
    // re-verifies every time it may: before the crash (the server is confirmed) and after.
    let config = WatcherConfig::default()
        .with_client(fast())
        .with_reverify_every(Duration::from_millis(500));
    let mut watcher = Watcher::new(config);
    watcher.start_browsing().unwrap();
    let mut announcer = spawn_helper(
        "announcer_process_for_the_crash_test",
        &[("SK2_ANNOUNCE", "Watched Doomed Kinect")],
    );
    let deadline = Instant::now() + WAIT;
    let key = loop {
        let left = deadline.checked_duration_since(Instant::now());
        let events = watcher.wait(left.expect("server not seen"));
        if let Some(key) = events.into_iter().find_map(|event| match event {
            WatchEvent::Added { key } => Some(key),
            _ => None,
        }) {
            break key;
        }
    };
    let server = watcher.server(&key).unwrap();
    assert_eq!(server.name(), "Watched Doomed Kinect");
    assert_eq!(server.info().unwrap().fullname, key);

    announcer.kill().unwrap(); // SIGKILL: no goodbye
    announcer.wait().unwrap();
    let crashed = Instant::now();
    let removed = loop {
        assert!(crashed.elapsed() < WAIT, "the crashed server stayed");
        let events = watcher.wait(Duration::from_millis(500));
        if let Some(removed) = events
            .into_iter()
            .find(|event| matches!(event, WatchEvent::Removed { .. }))
        {
            break removed;
        }
    };
    assert_eq!(
        removed,
        WatchEvent::Removed {
            key: key.clone(),
            name: "Watched Doomed Kinect".to_owned()
        }
    );
    assert!(watcher.is_empty());
    eprintln!("crashed server removed after {:?}", crashed.elapsed());
}

/// Run by `a_crashed_servers_entry_goes_within_seconds_after_reverification` as a child process in
/// its namespace, to be killed with SIGKILL.
#[test]
#[ignore = "helper process, started by another test"]
fn announcer_process_for_the_crash_test() {
    let Some(name) = std::env::var_os("SK2_ANNOUNCE") else {
        return;
    };
    let _daemon = announce(name.to_str().unwrap(), "doomed.local.", "127.0.0.1", 40000);
    std::thread::sleep(Duration::from_secs(60));
}

/// Two hosts: namespaces A and B joined by a veth pair. A runs a server announced over mDNS; B
/// browses, finds it with A's address, connects, decodes a frame, and sees it go on clean stop.
#[test]
fn a_browser_on_another_host_finds_the_server_gets_frames_and_loses_it_on_clean_stop() {
    let namespaces = TwoHosts::create();
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("browser-got-frames");
    let marker_text = marker.to_str().unwrap().to_owned();

    let mut server = namespaces.spawn(
        &namespaces.a,
        "two_host_server_process",
        &[("SK2_BIND_IP", TwoHosts::IP_A)],
    );
    let mut browser = namespaces.spawn(
        &namespaces.b,
        "two_host_browser_process",
        &[
            ("SK2_EXPECT_IP", TwoHosts::IP_A),
            ("SK2_MARKER", marker_text.as_str()),
        ],
    );
    // Once B has seen frames, stop A cleanly (closing its stdin) so B can watch it go.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.exists() && Instant::now() < deadline {
        if let Ok(Some(status)) = browser.try_wait() {
            panic!(
                "browser helper ended early ({status}): {}",
                output(&mut browser)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        marker.exists(),
        "B never got frames: {}",
        output(&mut browser)
    );
    drop(server.stdin.take());
    let status = wait_child(&mut browser, Duration::from_secs(20));
    let browser_output = output(&mut browser);
    assert_eq!(status, Some(true), "browser helper: {browser_output}");
    assert_eq!(
        wait_child(&mut server, Duration::from_secs(10)),
        Some(true),
        "server helper: {}",
        output(&mut server)
    );
}

#[test]
#[ignore = "helper process, started by another test"]
fn two_host_server_process() {
    let Some(ip) = std::env::var_os("SK2_BIND_IP") else {
        return;
    };
    let ip = ip.to_str().unwrap();
    let mut server = FakeServer::start_with("Remote Kinect", ip, 0, "sk2-host-a.local");
    let id = server.add_device();
    let daemon = announce("Remote Kinect", "sk2-host-a.local.", ip, server.port);
    let stopping = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopping);
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        flag.store(true, Ordering::Relaxed);
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stopping.load(Ordering::Relaxed) && Instant::now() < deadline {
        server.publish(&id, &test_frame(3));
        std::thread::sleep(Duration::from_millis(30));
    }
    let status = daemon
        .unregister(&format!("Remote Kinect.{SERVICE_TYPE}"))
        .unwrap();
    status.recv_timeout(WAIT).unwrap();
    server.stop();
}

#[test]
#[ignore = "helper process, started by another test"]
fn two_host_browser_process() {
    let (Some(ip), Some(marker)) = (
        std::env::var_os("SK2_EXPECT_IP"),
        std::env::var_os("SK2_MARKER"),
    ) else {
        return;
    };
    let browser = Browser::new().unwrap();
    let events = browser.events();
    let (event, _) = wait_for(&events, Duration::from_secs(15), appeared).expect("not seen");
    let found = info(event);
    assert_eq!(found.name, "Remote Kinect");
    assert_eq!(found.host, "sk2-host-a.local");
    assert_eq!(found.address(), Some(ip.to_str().unwrap().parse().unwrap()));
    let client = Client::connect_blocking(
        &found.control_endpoint(),
        fast().with_host_addresses(found.host_addresses()),
        WAIT,
    )
    .unwrap();
    let id = client.me().unwrap().devices[0].id.clone();
    let subscription = client.subscribe(&id).unwrap();
    let frame = subscription
        .recv_timeout(WAIT)
        .expect("no frame from host A");
    assert_eq!(frame.device_id, id);
    assert_eq!(frame.depth, test_frame(3));
    std::fs::write(marker, b"frames").unwrap();
    let (gone, _) = wait_for(&events, Duration::from_secs(15), disappeared).expect("not lost");
    assert!(
        matches!(gone, BrowserEvent::ServerDisappeared { name, .. } if name == "Remote Kinect")
    );
}

/// Two network namespaces joined by a veth pair, deleted on drop (also when the test fails).
struct TwoHosts {
    a: String,
    b: String,
}

impl TwoHosts {
    const IP_A: &'static str = "10.213.7.1";
    const IP_B: &'static str = "10.213.7.2";

    fn create() -> Self {
        let pid = std::process::id();
        let hosts = Self {
            a: format!("sk2ca{pid}"),
            b: format!("sk2cb{pid}"),
        };
        let (veth_a, veth_b) = (format!("va{pid}"), format!("vb{pid}"));
        ip(&["netns", "add", &hosts.a]);
        ip(&["netns", "add", &hosts.b]);
        ip(&[
            "link", "add", &veth_a, "netns", &hosts.a, "type", "veth", "peer", "name", &veth_b,
            "netns", &hosts.b,
        ]);
        for (ns, veth, address) in [
            (&hosts.a, &veth_a, Self::IP_A),
            (&hosts.b, &veth_b, Self::IP_B),
        ] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                veth,
            ]);
            ip(&["-n", ns, "link", "set", veth, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn spawn(&self, namespace: &str, test: &str, env: &[(&str, &str)]) -> Child {
        let exe = std::env::current_exe().unwrap();
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(exe)
            .args([
                &sk2_testkit::test_name!(test),
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        command
            .spawn()
            .expect("cannot run `ip netns exec` (are we root?)")
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        // Deleting a namespace also deletes the veth end inside it (and so the pair).
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .expect("cannot run `ip`");
    assert!(
        output.status.success(),
        "ip {args:?} failed (root needed for two-host tests): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts this test binary's helper `test` inside the current (private) namespace.
fn spawn_helper(test: &str, env: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args([
            &sk2_testkit::test_name!(test),
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// Waits for a child up to `timeout`; `Some(success)` if it ended, `None` (after killing it) if not.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<bool> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.success());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A finished (or killed) child's stdout and stderr, for failure messages.
fn output(child: &mut Child) -> String {
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut text = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}
