//! Two hosts: namespaces A and B (made with `ip netns`, so root is needed) joined by a veth
//! pair. The server and the browser are helper processes of this test binary, one in each.

use std::io::Read;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{connect_to, disappeared, next_server, WAIT};
use crate::common::{announce, test_frame, wait_for, FakeServer};
use sk2_client::{Browser, BrowserEvent, SERVICE_TYPE};
use sk2_testkit::hosts::{child_output, veth, wait_child, Host};

/// Set for helper processes started inside namespaces made with `ip netns`.
const HELPER_ENV: &str = "SK2_IN_TEST_NETNS";

/// Two hosts: namespaces A and B joined by a veth pair. A runs a server announced over mDNS; B
/// browses, finds it with A's address, connects, decodes a frame, and sees it go on clean stop.
#[test]
fn a_browser_on_another_host_finds_the_server_gets_frames_and_loses_it_on_clean_stop() {
    let namespaces = TwoHosts::create();
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("browser-got-frames");
    let marker_text = marker.to_str().unwrap().to_owned();

    let mut server = TwoHosts::spawn(
        &namespaces.a,
        "two_host_server_process",
        &[("SK2_BIND_IP", TwoHosts::IP_A)],
    );
    let mut browser = TwoHosts::spawn(
        &namespaces.b,
        "two_host_browser_process",
        &[
            ("SK2_EXPECT_IP", TwoHosts::IP_A),
            ("SK2_MARKER", marker_text.as_str()),
        ],
    );
    // Once B has seen frames, stop A cleanly (closing its stdin) so B can watch it go.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() && Instant::now() < deadline {
        if let Ok(Some(status)) = browser.try_wait() {
            panic!(
                "browser helper ended early ({status}): {}",
                child_output(&mut browser)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        marker.exists(),
        "B never got frames: {}",
        child_output(&mut browser)
    );
    drop(server.stdin.take());
    let status = wait_child(&mut browser, Duration::from_secs(20));
    let browser_output = child_output(&mut browser);
    assert_eq!(status, Some(true), "browser helper: {browser_output}");
    assert_eq!(
        wait_child(&mut server, Duration::from_secs(10)),
        Some(true),
        "server helper: {}",
        child_output(&mut server)
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
    // Generous: host A's server is a fresh process that must start and announce first, and on a
    // loaded machine that alone has taken over 15 s.
    let found = next_server(&events, Duration::from_secs(45));
    assert_eq!(found.name, "Remote Kinect");
    assert_eq!(found.host, "sk2-host-a.local");
    assert_eq!(found.address(), Some(ip.to_str().unwrap().parse().unwrap()));
    let client = connect_to(&found);
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

/// Two hosts: network namespaces joined by a veth pair, deleted on drop (also when the test
/// fails).
struct TwoHosts {
    a: Host,
    b: Host,
}

impl TwoHosts {
    const IP_A: &'static str = "10.213.7.1";
    const IP_B: &'static str = "10.213.7.2";

    /// Makes the hosts; panics where `ip netns` cannot (root is needed).
    fn create() -> Self {
        let pid = std::process::id();
        let made = || -> Result<Self, String> {
            let hosts = Self {
                a: Host::add(format!("sk2ca{pid}"))?,
                b: Host::add(format!("sk2cb{pid}"))?,
            };
            veth(
                (&hosts.a, &format!("va{pid}"), Self::IP_A),
                (&hosts.b, &format!("vb{pid}"), Self::IP_B),
            )?;
            Ok(hosts)
        };
        made().unwrap_or_else(|error| panic!("{error} (root needed for two-host tests)"))
    }

    fn spawn(host: &Host, test: &str, env: &[(&str, &str)]) -> Child {
        let mut env = env.to_vec();
        env.push((HELPER_ENV, "1"));
        host.spawn_helper(&sk2_testkit::test_name!(test), &env)
    }
}
