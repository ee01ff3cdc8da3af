//! Hosts played by named network namespaces (`ip netns`, so root is needed), joined by veth pairs
//! the test lays out, each running a helper test of the calling test binary as a child process.
//! For tests that need machines which reach each other only through the links they are given
//! (mDNS between two hosts, a Zenoh router between two networks).
//!
//! ```no_run
//! use sk2_testkit::hosts::{veth, Host};
//!
//! let a = Host::add(format!("sk2a{}", std::process::id())).unwrap();
//! let b = Host::add(format!("sk2b{}", std::process::id())).unwrap();
//! veth((&a, "va0", "10.9.0.1"), (&b, "vb0", "10.9.0.2")).unwrap();
//! let mut helper = a.spawn_helper(&sk2_testkit::test_name!("a_helper_process"), &[]);
//! # let _ = &mut helper;
//! ```

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace made with `ip netns add`, with loopback up; deleted on drop (also when
/// the test fails), which deletes the veth ends in it and so their pairs.
#[derive(Debug)]
pub struct Host {
    name: String,
}

impl Host {
    /// Makes the namespace `name` (make it unique to the test process, e.g. with its pid) and
    /// brings its loopback up. The error is `ip`'s own message (usually: not root).
    pub fn add(name: String) -> Result<Self, String> {
        ip(&["netns", "add", &name])?;
        let host = Self { name };
        host.ip(&["link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <this namespace> args`.
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Starts the ignored helper test `full_name` (see [`crate::test_name!`]) of this test binary
    /// inside the namespace, with `env` set and stdin, stdout and stderr piped. The helper ends
    /// when its stdin closes, if it is written to; [`child_output`] reads what it said.
    pub fn spawn_helper(&self, full_name: &str, env: &[(&str, &str)]) -> Child {
        let exe = std::env::current_exe().expect("the test binary knows its own path");
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(exe)
            .args(crate::helper_args(full_name))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run `ip netns exec` (are we root?)")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Joins two hosts with a veth pair: each end named and given its address (in a /24) in its host,
/// and brought up.
pub fn veth(
    (a, a_end, a_address): (&Host, &str, &str),
    (b, b_end, b_address): (&Host, &str, &str),
) -> Result<(), String> {
    ip(&[
        "link", "add", a_end, "netns", &a.name, "type", "veth", "peer", "name", b_end, "netns",
        &b.name,
    ])?;
    for (host, end, address) in [(a, a_end, a_address), (b, b_end, b_address)] {
        host.ip(&["addr", "add", &format!("{address}/24"), "dev", end])?;
        host.ip(&["link", "set", end, "up"])?;
    }
    Ok(())
}

/// Runs `ip args`; on failure, the command and what `ip` said.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| format!("cannot run `ip` ({error}): install iproute2"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Waits for `child` up to `timeout`: `Some(success)` if it ended, `None` (after killing it) if
/// not.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<bool> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status.success());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// What a child said on its piped stdout, then stderr (killing it first if it still runs), for
/// failure messages. Each stream can be read once: later calls return what is left (nothing).
pub fn child_output(child: &mut Child) -> String {
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut bytes = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_end(&mut bytes);
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
