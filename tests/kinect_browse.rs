//! End-to-end tests of the `kinect-browse` binary against a minimal fake server (a REP thread
//! built on `sk2_proto::control`); discovery cases run inside a private network namespace.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use sk2_proto::control::{Reply, Request, ENDPOINT_DEPTH};
use sk2_proto::{Device, ErrorPayload, Me};
use sk2_testkit::in_private_netns;

const BIN: &str = env!("CARGO_BIN_EXE_kinect-browse");
const DEVICE_ID: &str = "36ba86e3f35d44c3b5bbc1f2a125919f";

/// Answers `who` and `ping` on 127.0.0.1 until dropped.
struct FakeServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    fn start(name: &str, host: &str) -> Self {
        let context = zmq::Context::new();
        let rep = context.socket(zmq::REP).unwrap();
        rep.set_linger(0).unwrap();
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = rep.get_last_endpoint().unwrap().unwrap();
        let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        let mut me = Me::new(name, format!("tcp://{host}:{port}"));
        me.devices.push(Device {
            id: DEVICE_ID.into(),
            endpoints: BTreeMap::from([(ENDPOINT_DEPTH.into(), format!("tcp://{host}:1"))]),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let _context = context;
                while !stop.load(Ordering::Relaxed) {
                    if rep.poll(zmq::POLLIN, 20).unwrap() == 0 {
                        continue;
                    }
                    let frames = rep.recv_multipart(0).unwrap();
                    let reply = match Request::decode(&frames) {
                        Ok(Request::Ping) => Reply::Pong,
                        Ok(Request::Who) => Reply::Me(me.clone()),
                        Ok(_) => Reply::Error(ErrorPayload::bad_request("unknown")),
                        Err(error) => Reply::Error(ErrorPayload::bad_request(error.to_string())),
                    };
                    rep.send_multipart(reply.encode(), 0).unwrap();
                }
            })
        };
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn announce(name: &str, host: &str, port: u16) -> mdns_sd::ServiceDaemon {
    assert!(std::env::var_os(sk2_testkit::NETNS_ENV).is_some());
    let daemon = mdns_sd::ServiceDaemon::new().unwrap();
    let info = mdns_sd::ServiceInfo::new(
        sk2_client::SERVICE_TYPE,
        name,
        host,
        "127.0.0.1",
        port,
        &[] as &[(&str, &str)],
    )
    .unwrap();
    daemon.register(info).unwrap();
    daemon
}

#[test]
fn once_with_connect_prints_the_server_and_its_sensor_as_json() {
    let server = FakeServer::start("Bob's Kinect", "localhost");
    let endpoint = format!("tcp://localhost:{}", server.port);
    let output = run(&["--once", "--json", "--connect", &endpoint]);
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let server_json = &json[0];
    assert_eq!(server_json["name"], "Bob's Kinect");
    assert_eq!(server_json["reachable"], true);
    assert!(server_json["rtt_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(server_json["devices"][0]["id"], DEVICE_ID);
    assert!(server_json["devices"][0]["codec"].is_null());
    assert_eq!(json.as_array().unwrap().len(), 1);
}

#[test]
fn once_with_connect_prints_text_by_default() {
    let server = FakeServer::start("Text Kinect", "localhost");
    let endpoint = format!("tcp://localhost:{}", server.port);
    let output = run(&["--once", "--connect", &endpoint]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("Text Kinect  tcp://localhost:"), "{text}");
    assert!(text.contains("ping "), "{text}");
    assert!(text.contains(&format!("sensor {DEVICE_ID}  depth tcp://localhost:1")));
}

#[test]
fn a_reader_that_has_gone_ends_the_browse_quietly_with_success() {
    // `kinect-browse --once | head -0`: the pipe is closed before the report is written.
    let server = FakeServer::start("Piped Kinect", "localhost");
    let endpoint = format!("tcp://localhost:{}", server.port);
    let mut child = Command::new(BIN)
        .args(["--once", "--connect", &endpoint])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("kinect-browse:"), "{stderr}");
}

#[test]
fn an_unreachable_server_is_a_one_line_error_and_exit_status_1() {
    let port = sk2_testkit::free_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let started = Instant::now();
    let output = run(&["--once", "--timeout", "0.5", "--connect", &endpoint]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("kinect-browse: cannot reach"),
        "{stderr}"
    );
}

#[test]
fn bad_arguments_are_a_one_line_error_and_exit_status_2() {
    for args in [
        &["--once", "--connect", "http://x:1"][..],
        &["--once", "--timeout=-1", "--connect", "tcp://localhost:5"],
        &[
            "--once",
            "--timeout",
            "nan",
            "--connect",
            "tcp://localhost:5",
        ],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("kinect-browse: "), "{stderr}");
    }
    // Flags clap itself rejects keep clap's usage message, with the same status.
    assert_eq!(run(&["--no-such-flag"]).status.code(), Some(2));
}

#[test]
fn once_discovers_an_announced_server_over_mdns() {
    if !in_private_netns("once_discovers_an_announced_server_over_mdns") {
        return;
    }
    // The host name exists only in mDNS: the tool must connect through the address mDNS gave.
    let server = FakeServer::start("Found Kinect", "found-host.local");
    let _daemon = announce("Found Kinect", "found-host.local.", server.port);
    let output = run(&["--once", "--timeout", "2", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["name"], "Found Kinect");
    assert_eq!(
        json[0]["control_endpoint"],
        format!("tcp://found-host.local:{}", server.port)
    );
    assert_eq!(json[0]["address"], "127.0.0.1");
    assert_eq!(json[0]["reachable"], true);
    assert_eq!(json[0]["devices"][0]["id"], DEVICE_ID);
}

#[test]
fn watching_reports_a_server_appearing_with_its_sensors_and_disappearing() {
    if !in_private_netns("watching_reports_a_server_appearing_with_its_sensors_and_disappearing") {
        return;
    }
    let mut child = Command::new(BIN)
        .args(["--json", "--timeout", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let server = FakeServer::start("Watched Kinect", "watched-host.local");
    let daemon = announce("Watched Kinect", "watched-host.local.", server.port);
    let mut next_event = |wanted: &str| -> Value {
        for line in lines.by_ref() {
            let value: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if value["event"] == wanted {
                return value;
            }
        }
        panic!("kinect-browse ended before {wanted}");
    };
    let appeared = next_event("appeared");
    assert_eq!(appeared["server"], "Watched Kinect");
    let connected = next_event("connected");
    assert_eq!(connected["name"], "Watched Kinect");
    assert_eq!(connected["devices"][0]["id"], DEVICE_ID);
    assert!(connected["rtt_ms"].as_f64().is_some(), "{connected}");
    let status = daemon
        .unregister(&format!("Watched Kinect.{}", sk2_client::SERVICE_TYPE))
        .unwrap();
    status.recv_timeout(Duration::from_secs(5)).unwrap();
    let gone = next_event("disappeared");
    assert_eq!(gone["server"], "Watched Kinect");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A server that crashes sends no mDNS goodbye; its record would linger for its 120 s TTL. The
/// watcher notices the dead connection, has mDNS re-verify the server, and drops it in seconds.
#[test]
fn watching_drops_a_crashed_server_within_seconds() {
    if !in_private_netns("watching_drops_a_crashed_server_within_seconds") {
        return;
    }
    let mut server = Command::new(env!("CARGO_BIN_EXE_kinect-server"))
        .args(["--bind", "127.0.0.1", "--name", "Crashing Kinect"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut browse = Command::new(BIN)
        .args(["--json", "--timeout", "1", "--refresh", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = crossbeam_channel::unbounded();
    let stdout = browse.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_event = |wanted: &str, timeout: Duration| -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let line = lines.recv_timeout(left).ok()?;
            let value: Value = serde_json::from_str(&line).unwrap();
            if value["event"] == wanted {
                return Some(value);
            }
        }
        None
    };
    let connected = next_event("connected", Duration::from_secs(10));
    let crashed = Instant::now();
    server.kill().unwrap(); // SIGKILL: no goodbye
    server.wait().unwrap();
    let disconnected = next_event("disconnected", Duration::from_secs(10));
    let gone = next_event("disappeared", Duration::from_secs(10));
    let elapsed = crashed.elapsed();
    browse.kill().unwrap();
    browse.wait().unwrap();
    assert_eq!(
        connected.expect("never connected")["name"],
        "Crashing Kinect"
    );
    assert!(disconnected.is_some(), "the crash was not noticed");
    assert_eq!(
        gone.expect("the stale entry stayed")["server"],
        "Crashing Kinect"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    eprintln!("crashed server dropped after {elapsed:?}");
}

#[test]
fn once_shows_the_depth_v2_codec_a_real_server_advertises() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_kinect-server"))
        .args(["--bind", "127.0.0.1", "--no-announce", "--codec", "rvl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = BufReader::new(server.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("control: ").map(str::to_owned));
    let output = endpoint
        .as_ref()
        .map(|endpoint| run(&["--once", "--json", "--connect", endpoint]));
    server.kill().unwrap();
    server.wait().unwrap();
    let output = output.expect("kinect-server printed no control endpoint");
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let device = &json[0]["devices"][0];
    assert_eq!(device["codec"], "rvl");
    assert!(device["endpoints"]["depth_v2"].is_string(), "{device}");
}
