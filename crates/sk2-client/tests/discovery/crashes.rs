//! A crashed server sends no goodbye, and its mDNS records would stay for their 120 s TTL: after
//! a failed connection it is re-verified and dropped within seconds. The server is a helper
//! process of this test binary, killed with SIGKILL.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{disappeared, next_server, WAIT};
use crate::common::{announce, fast, wait_for};
use sk2_client::Browser;
use sk2_testkit::in_private_netns;

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
    assert_eq!(next_server(&events, WAIT).name, "Doomed Kinect");

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

/// Run by the crash tests above as a child process in their namespace, to be killed with
/// SIGKILL.
#[test]
#[ignore = "helper process, started by another test"]
fn announcer_process_for_the_crash_test() {
    let Some(name) = std::env::var_os("SK2_ANNOUNCE") else {
        return;
    };
    let _daemon = announce(name.to_str().unwrap(), "doomed.local.", "127.0.0.1", 40000);
    std::thread::sleep(Duration::from_secs(60));
}

/// Starts this module's helper `test` inside the current (private) namespace.
fn spawn_helper(test: &str, env: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args(sk2_testkit::helper_args(&sk2_testkit::test_name!(test)))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}
