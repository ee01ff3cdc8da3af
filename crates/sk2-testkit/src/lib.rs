//! Helpers shared by the workspace's tests. Not part of the product.
//!
//! - [`in_private_netns`]: tests that send multicast (mDNS announce or browse) must never run on
//!   the host's real network. It re-runs the calling test inside a fresh, private network
//!   namespace that has only a loopback interface, so multicast cannot leave the machine:
//!
//!   ```no_run
//!   #[test]
//!   fn server_is_seen_by_a_browser() {
//!       if !sk2_testkit::in_private_netns("server_is_seen_by_a_browser") {
//!           return; // the test ran (and was checked) in the namespace
//!       }
//!       // ... this part runs inside the namespace ...
//!   }
//!   ```
//! - [`alone_in_process`]: the same re-run without a namespace, for the few tests that measure
//!   the whole process (its descriptors, its memory), which tests running beside them in the
//!   same test binary would disturb.
//! - [`wait_until`] and [`wait_until_some`]: poll a condition with a deadline instead of sleeping a
//!   fixed time and hoping.
//! - [`free_port`]: a loopback TCP port nobody listens on.
//! - [`worked_example_slope`]: the depth image of the codecs' worked examples in docs/codecs.md,
//!   which the golden tests and the reference-decoder test both encode.
//!
//! Each crate's integration tests are one test binary whose modules are the test files, so a
//! test's name as the harness knows it includes its module (`depth::a_subscriber_…`).
//! [`test_name!`] builds that name for tests that start a helper test as a child process, and
//! [`helper_args`] the arguments that run it; [`hosts`] starts such helpers in network namespaces
//! of their own, joined by veth pairs.

use std::process::Command;
use std::time::{Duration, Instant};

pub mod background;
pub mod hosts;
pub mod tools;

/// Set in the environment of a test process re-run inside a private network namespace.
pub const NETNS_ENV: &str = "SK2_TEST_IN_PRIVATE_NETNS";

/// Set in the environment of a test process re-run to have the process to itself.
pub const ALONE_ENV: &str = "SK2_TEST_ALONE_IN_PROCESS";

/// How often [`wait_until`] and [`wait_until_some`] look again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Returns `true` when the caller is already inside a private network namespace made by this
/// function, and should go on with the test.
///
/// Otherwise re-runs the test binary for exactly the calling test (`test_name` is its function
/// name) under `unshare --net --map-root-user` (works without root on most Linux systems; as root
/// too), with loopback up and multicast routed to it, panics if that run fails, and returns
/// `false`: the caller then returns, its body having run in the namespace.
///
/// Where namespaces cannot be made (no `ip`, or user namespaces forbidden) it skips loudly and
/// returns `false`, or panics with `SK2_REQUIRE_TOOLS=1`: see [`tools::netns_available`].
pub fn in_private_netns(test_name: &str) -> bool {
    if std::env::var_os(NETNS_ENV).is_some() {
        return true;
    }
    if !tools::netns_available(test_name) {
        return false;
    }
    // Loopback has no MULTICAST flag by default; mDNS needs it and a route for 224.0.0.0/4.
    let script = "ip link set lo up && ip link set lo multicast on && \
                  ip route add 224.0.0.0/4 dev lo && exec \"$0\" \"$@\"";
    let mut command = Command::new("unshare");
    command.args(["--net", "--map-root-user", "sh", "-c", script]);
    rerun(
        command,
        test_name,
        NETNS_ENV,
        "its private network namespace",
    );
    false
}

/// Returns `true` when the caller runs alone in a test process made by this function, and
/// should go on with the test.
///
/// Otherwise re-runs the test binary for exactly the calling test (`test_name` is its function
/// name), panics if that run fails, and returns `false`: the caller then returns, its body having
/// run in a process of its own. For tests that count the process's descriptors or measure its
/// memory, which the other tests of the same binary, running in parallel, would change.
pub fn alone_in_process(test_name: &str) -> bool {
    if std::env::var_os(ALONE_ENV).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    rerun(
        Command::new(exe),
        test_name,
        ALONE_ENV,
        "a process of its own",
    );
    false
}

/// Runs `command`, followed by this test binary and the arguments that select exactly the
/// calling test, with `marker` set; panics unless the test ran there and passed.
fn rerun(mut command: Command, test_name: &str, marker: &str, place: &str) {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let full_name = current_test(test_name);
    if command.get_program() != exe.as_os_str() {
        command.arg(&exe);
    }
    let output = command
        .args([
            full_name.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(marker, "1")
        .output()
        .unwrap_or_else(|error| panic!("cannot run {full_name} in {place} ({command:?}): {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{full_name} failed in {place} ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // `--exact` with a wrong name runs nothing and succeeds: make sure the test really ran.
    assert!(
        stdout.contains("1 passed"),
        "{full_name} did not run in {place} (is the name exact?):\n{stdout}\n{stderr}"
    );
}

/// The calling test's full name as the harness knows it (`module::function`).
///
/// The harness runs each test on a thread named after it; `function` is the test's own function
/// name, checked against that thread name so that a test cannot re-run another by mistake.
fn current_test(function: &str) -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name == function || name.ends_with(&format!("::{function}")) => {
            name.to_owned()
        }
        other => {
            panic!("{function} must be called on its test's own thread (this thread is {other:?})")
        }
    }
}

/// The name the test harness knows the test function `function` of the calling module by:
/// the module path without the crate's name, then `function` (`depth::a_subscriber_…`).
/// For tests that start another test of the same binary as a helper process with `--exact`.
#[macro_export]
macro_rules! test_name {
    ($function:expr) => {
        $crate::test_name_in(module_path!(), $function)
    };
}

/// What [`test_name!`] expands to: `module_path` is the caller's `module_path!()`.
pub fn test_name_in(module_path: &str, function: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, module)) => format!("{module}::{function}"),
        None => function.to_owned(),
    }
}

/// The arguments that make a test binary run exactly its ignored helper test `full_name` (its
/// name as [`test_name!`] gives it), printing its output: for tests that start a helper test of
/// their own binary as a child process.
pub fn helper_args(full_name: &str) -> [&str; 5] {
    [
        full_name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]
}

/// Polls `check` until it is true; panics naming `what` if that takes longer than `timeout`.
///
/// Deadlines are generous on purpose: the condition is usually met in milliseconds, and the
/// deadline only bounds how long a broken build takes to fail on a loaded machine.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    wait_until_some(what, timeout, || check().then_some(()));
}

/// Polls `check` until it returns a value, and returns it; panics naming `what` if that takes
/// longer than `timeout`.
pub fn wait_until_some<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// A loopback TCP port that was free a moment ago, for a process that must be told its port in
/// advance. It is picked below the kernel's range of ephemeral ports, so that no outgoing
/// connection (of this test, another one, a Zenoh or ZeroMQ peer) can take it as its source port
/// before the process binds it, as one took a port the OS had handed out by `bind(0)`. Another
/// process may still bind it in between; tests that can bind port 0 themselves should.
pub fn free_port() -> u16 {
    free_port_run(1)
}

/// The first of `count` consecutive loopback TCP ports that were all free a moment ago, for a
/// server told its first port and counting up from it (`kinect-server --depth-port` binds one
/// port per stream). They are held at once while they are picked, then released.
pub fn free_port_run(count: u16) -> u16 {
    let held = hold_port_run(count);
    held[0]
        .local_addr()
        .expect("a bound port has an address")
        .port()
}

/// Listeners on `count` consecutive loopback ports (at least one), below the ephemeral range
/// when there is room there, else picked by the OS.
fn hold_port_run(count: u16) -> Vec<std::net::TcpListener> {
    let count = count.max(1);
    if let Some(ports) = ports_below_ephemeral(count) {
        // Each process starts at its own place and each call moves on, so that two test
        // processes picking at once rarely try the same port (binding is the real check).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let width = u32::from(ports.end - ports.start - count + 1);
        let seed = std::process::id().wrapping_mul(7919);
        for _ in 0..width.min(10_000) {
            let step = NEXT.fetch_add(u32::from(count), std::sync::atomic::Ordering::Relaxed);
            // `offset < width <= u16::MAX`.
            let offset = (seed.wrapping_add(step) % width) as u16;
            if let Some(held) = bind_consecutive(ports.start + offset, count) {
                return held;
            }
        }
    }
    loop {
        let first =
            std::net::TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
        let start = first
            .local_addr()
            .expect("a bound port has an address")
            .port();
        let rest = match count {
            1 => Some(Vec::new()),
            _ => start
                .checked_add(1)
                .and_then(|next| bind_consecutive(next, count - 1)),
        };
        if let Some(rest) = rest {
            return std::iter::once(first).chain(rest).collect();
        }
    }
}

/// Listeners on the `count` ports from `start`, if all of them are free.
fn bind_consecutive(start: u16, count: u16) -> Option<Vec<std::net::TcpListener>> {
    let end = start.checked_add(count.checked_sub(1)?)?;
    (start..=end)
        .map(|port| std::net::TcpListener::bind(("127.0.0.1", port)))
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// Where to pick test ports: from 20000 up to the first ephemeral port (Linux's
/// `ip_local_port_range`, 32768 by default), if that leaves room for `count` ports.
fn ports_below_ephemeral(count: u16) -> Option<std::ops::Range<u16>> {
    const LOWEST: u16 = 20_000;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let first_ephemeral: u16 = range.split_whitespace().next()?.parse().ok()?;
    (first_ephemeral > LOWEST.saturating_add(count)).then_some(LOWEST..first_ephemeral)
}

/// Width in pixels of [`worked_example_slope`].
pub const SLOPE_WIDTH: usize = 16;
/// Height in pixels of [`worked_example_slope`].
pub const SLOPE_HEIGHT: usize = 8;

/// The 16 x 8 slope of docs/codecs.md's worked examples (MEDANS and MEDHUF), row by row:
/// `1000 + 3·row + 2·col + (i·7 mod 3)` millimetres, with a 3 x 3 hole (zeros) in the
/// bottom-left corner.
pub fn worked_example_slope() -> Vec<u16> {
    let (width, height) = (SLOPE_WIDTH as u16, SLOPE_HEIGHT as u16);
    (0..width * height)
        .map(|i| {
            let (row, col) = (i / width, i % width);
            if col < 3 && row >= 5 {
                0
            } else {
                1000 + 3 * row + 2 * col + (i * 7) % 3
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_ports_are_free_distinct_and_below_the_ephemeral_range() {
        let ephemeral_low = ports_below_ephemeral(1).map(|range| range.end);
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for &port in &ports {
            if let Some(low) = ephemeral_low {
                assert!((20_000..low).contains(&port), "{port}");
            }
            drop(std::net::TcpListener::bind(("127.0.0.1", port)).expect("free"));
        }
        let first = free_port_run(4);
        for port in first..first + 4 {
            drop(std::net::TcpListener::bind(("127.0.0.1", port)).expect("free"));
        }
    }

    #[test]
    fn a_free_port_run_is_consecutive_ports_held_at_once() {
        let held = hold_port_run(4);
        let ports: Vec<u16> = held
            .iter()
            .map(|listener| listener.local_addr().unwrap().port())
            .collect();
        let start = ports[0];
        assert_eq!(ports, (start..start + 4).collect::<Vec<_>>());
        assert_eq!(hold_port_run(0).len(), 1);
    }
}
