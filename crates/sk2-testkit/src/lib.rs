//! Helpers shared by the workspace's tests. Not part of the product.
//!
//! Tests that send multicast (mDNS announce or browse) must never run on the host's real network.
//! [`in_private_netns`] re-runs the calling test inside a fresh, private network namespace that has
//! only a loopback interface, so multicast cannot leave the machine:
//!
//! ```no_run
//! #[test]
//! fn server_is_seen_by_a_browser() {
//!     if !sk2_testkit::in_private_netns("server_is_seen_by_a_browser") {
//!         return; // the test ran (and was checked) in the namespace
//!     }
//!     // ... this part runs inside the namespace ...
//! }
//! ```

use std::process::Command;

pub mod background;
pub mod tools;

/// Set in the environment of a test process re-run inside a private network namespace.
pub const NETNS_ENV: &str = "SK2_TEST_IN_PRIVATE_NETNS";

/// Returns `true` when the caller is already inside a private network namespace made by this
/// function, and should go on with the test.
///
/// Otherwise re-runs the test binary for exactly `test_name` under
/// `unshare --net --map-root-user` (works without root on most Linux systems; as root too), with
/// loopback up and multicast routed to it, panics if that run fails, and returns `false`: the
/// caller then returns, its body having run in the namespace.
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
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    // Loopback has no MULTICAST flag by default; mDNS needs it and a route for 224.0.0.0/4.
    let script = "ip link set lo up && ip link set lo multicast on && \
                  ip route add 224.0.0.0/4 dev lo && exec \"$0\" \"$@\"";
    let output = Command::new("unshare")
        .args(["--net", "--map-root-user", "sh", "-c", script])
        .arg(&exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(NETNS_ENV, "1")
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run `unshare` to make a private network namespace: {error}")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{test_name} failed inside its private network namespace ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // `--exact` with a wrong name runs nothing and succeeds: make sure the test really ran.
    assert!(
        stdout.contains("1 passed"),
        "{test_name} did not run inside the namespace (is the name exact?):\n{stdout}\n{stderr}"
    );
    false
}
