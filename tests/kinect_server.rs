//! End-to-end tests of the real `kinect-server` binary: output, control, signals, errors.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::stdout_lines;
use sk2_testkit::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_kinect-server");
/// Time the server may take to start and print its endpoints on a busy machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How quickly the server must shut down after SIGTERM.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(1);

struct Running {
    child: Child,
    lines: Vec<String>,
}

/// Starts the binary and collects stdout until the first device line.
fn start(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut child);
    let mut lines = Vec::new();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !lines.iter().any(|l: &String| l.starts_with("device ")) {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no device line within the timeout; got {lines:?}"));
        lines.push(line);
    }
    // The other device lines are printed right after the first.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
        lines.push(line);
    }
    Running { child, lines }
}

/// Starts the binary on loopback, unannounced, replaying the `.u16` frames of `dir`.
fn start_replay(dir: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "--no-announce",
        "--bind",
        "127.0.0.1",
        "--source",
        "replay",
        "--replay-dir",
        dir,
    ];
    args.extend_from_slice(extra);
    start(&args)
}

fn value_of<'a>(lines: &'a [String], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key:?} line in {lines:?}"))
}

/// Sends SIGTERM and returns how long the process took to exit, and its status.
fn terminate(mut child: Child) -> (Duration, std::process::ExitStatus) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let sent = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (sent.elapsed(), status);
        }
        if sent.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("kinect-server still running 5 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_server_prints_its_endpoints_serves_ping_and_exits_0_within_1_s_of_sigterm() {
    let running = start(&[
        "--no-announce",
        "--bind",
        "127.0.0.1",
        "--name",
        "E2E Kinect",
    ]);
    assert_eq!(value_of(&running.lines, "name: "), "E2E Kinect");
    let control = value_of(&running.lines, "control: ").to_owned();
    assert!(control.starts_with("tcp://localhost:"), "{control}");
    let device = value_of(&running.lines, "device ");
    let (id, endpoint) = device.split_once(" depth: ").unwrap();
    assert_eq!(id.len(), 32);
    assert!(endpoint.starts_with("tcp://localhost:"));

    let context = zmq::Context::new();
    let socket = context.socket(zmq::REQ).unwrap();
    socket.set_rcvtimeo(5000).unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(&control).unwrap();
    socket.send(&[0x01][..], 0).unwrap();
    assert_eq!(socket.recv_multipart(0).unwrap(), vec![vec![0x02]]);
    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_rcvtimeo(5000).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.connect(endpoint).unwrap();
    let frame = sub.recv_bytes(0).unwrap();
    assert_eq!(&frame[..4], &[0x00, 0xF8, 0x04, 0x00]);

    // The lossless endpoint and its codec are printed too.
    assert!(
        running
            .lines
            .contains(&format!("device {id} codec: medhuf")),
        "{:?}",
        running.lines
    );
    let v2 = value_of(&running.lines, &format!("device {id} depth_v2: "));
    assert!(v2.starts_with("tcp://localhost:") && v2 != endpoint);

    let (took, status) = terminate(running.child);
    assert!(status.success(), "{status}");
    assert!(took < SHUTDOWN_LIMIT, "exit took {took:?}");
}

/// Whoever started the server may close the pipe it reads the banner from (a test or a script
/// that only wanted the control line): the server must keep serving, not die on the broken pipe.
#[test]
fn the_server_keeps_serving_when_its_stdout_is_closed_before_it_prints() {
    let control_port = free_port().to_string();
    let mut child = Command::new(BIN)
        .args(["--no-announce", "--bind", "127.0.0.1"])
        .args(["--control-port", &control_port])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the read end closes before the server's first line

    let context = zmq::Context::new();
    let socket = context.socket(zmq::REQ).unwrap();
    socket
        .set_rcvtimeo(STARTUP_TIMEOUT.as_millis() as i32)
        .unwrap();
    socket.set_linger(0).unwrap();
    socket
        .connect(&format!("tcp://127.0.0.1:{control_port}"))
        .unwrap();
    let mut replies = Vec::new();
    for _ in 0..2 {
        // The second ping goes well after the banner was written (and lost).
        socket.send(&[0x01][..], 0).unwrap();
        let reply = socket.recv_multipart(0).map_err(|e| e.to_string());
        let failed = reply.is_err();
        replies.push(reply);
        if failed {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let exited = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(exited, None, "kinect-server exited on the closed stdout");
    assert_eq!(replies, vec![Ok(vec![vec![0x02]]); 2]);
}

#[test]
fn codec_none_offers_only_the_original_endpoint_and_a_bad_codec_is_refused() {
    let running = start(&["--no-announce", "--bind", "127.0.0.1", "--codec", "rvl"]);
    assert!(
        running.lines.iter().any(|l| l.ends_with(" codec: rvl")),
        "{:?}",
        running.lines
    );
    let (_, status) = terminate(running.child);
    assert!(status.success());
    let running = start(&["--no-announce", "--bind", "127.0.0.1", "--codec", "none"]);
    assert!(
        !running
            .lines
            .iter()
            .any(|l| l.contains("depth_v2") || l.contains(" codec:")),
        "{:?}",
        running.lines
    );
    let (_, status) = terminate(running.child);
    assert!(status.success());
    let output = Command::new(BIN).args(["--codec", "zip"]).output().unwrap();
    assert!(!output.status.success());
}

#[test]
fn several_mock_sensors_get_one_depth_endpoint_each() {
    let running = start(&[
        "--no-announce",
        "--bind",
        "127.0.0.1",
        "--sensors",
        "3",
        "--fps",
        "5",
    ]);
    let endpoints: std::collections::HashSet<&str> = running
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("device "))
        .filter_map(|l| l.split_once(" depth: "))
        .map(|(_, endpoint)| endpoint)
        .collect();
    assert_eq!(endpoints.len(), 3, "{:?}", running.lines);
    let (_, status) = terminate(running.child);
    assert!(status.success());
}

#[test]
fn a_port_in_use_gives_a_one_line_error_and_a_non_zero_exit() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let output = Command::new(BIN)
        .args([
            "--no-announce",
            "--bind",
            "127.0.0.1",
            "--control-port",
            &port,
        ])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("kinect-server: "), "{stderr}");
    assert!(stderr.contains(&port), "{stderr}");
}

#[test]
fn bad_flags_give_an_error_and_a_non_zero_exit() {
    for args in [
        &["--no-such-flag"][..],
        &["--mock-mode", "sparkly"],
        &["--fps", "-3"],
        &["--source", "replay", "--no-announce"],
        &[
            "--source",
            "replay",
            "--replay-dir",
            "/nonexistent",
            "--no-announce",
        ],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn a_replay_directory_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let values: Vec<u8> = (0..8u16).flat_map(|v| (v * 1000).to_le_bytes()).collect();
    std::fs::write(dir.join("a-4x2.u16"), values).unwrap();
    let running = start_replay(dir.to_str().unwrap(), &[]);
    let (_, endpoint) = value_of(&running.lines, "device ")
        .split_once(" depth: ")
        .unwrap();
    let context = zmq::Context::new();
    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_rcvtimeo(5000).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.connect(endpoint).unwrap();
    let message = sub.recv_bytes(0).unwrap();
    let frame = sk2_proto::sk2::decode(&message, 4, 2).unwrap();
    // sk2 keeps 12 bits: 5000, 6000 and 7000 mm lose their top bit.
    let expected: Vec<u16> = (0..8u16).map(|v| (v * 1000) & 0x0FFF).collect();
    assert_eq!(frame.depth_mm(), expected);
    let (_, status) = terminate(running.child);
    assert!(status.success());
}

#[test]
fn with_no_flags_it_announces_one_mock_sensor_and_still_stops_within_1_s() {
    if !sk2_testkit::in_private_netns(
        "with_no_flags_it_announces_one_mock_sensor_and_still_stops_within_1_s",
    ) {
        return;
    }
    let running = start(&[]);
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let control = value_of(&running.lines, "control: ");
    assert!(
        control.starts_with(&format!("tcp://{}.local:", machine.trim())),
        "{control}"
    );
    assert!(value_of(&running.lines, "name: ").starts_with("Kinect "));
    assert_eq!(
        running
            .lines
            .iter()
            .filter(|l| l.starts_with("device ") && l.contains(" depth: "))
            .count(),
        1
    );
    let (took, status) = terminate(running.child);
    assert!(status.success(), "{status}");
    assert!(
        took < SHUTDOWN_LIMIT,
        "exit with mDNS goodbye took {took:?}"
    );
}

/// A directory of real depth frames (`<name>-<W>x<H>.u16`), named by `SK2_CORPUS`; never part of
/// the repository. A set variable that names no directory is a mistake, not a reason to skip.
fn corpus_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(std::env::var_os("SK2_CORPUS")?);
    assert!(
        dir.is_dir(),
        "SK2_CORPUS={} is not a directory",
        dir.display()
    );
    Some(dir)
}

#[test]
fn real_kinect_v2_frames_replayed_from_the_corpus_arrive_exact_on_depth_v2() {
    let Some(dir) = corpus_dir() else {
        eprintln!(
            "skipped: SK2_CORPUS is not set (set it to a directory of real .u16 depth frames)"
        );
        return;
    };
    let dir = dir.to_str().unwrap().to_owned();
    let running = start_replay(&dir, &["--replay-shape", "512x424", "--codec", "medans"]);
    let replay = sk2_mock::ReplaySensor::open_shape(&dir, None, Some((512, 424))).unwrap();
    assert!(replay.len() >= 2);
    let id = value_of(&running.lines, "device ")
        .split_once(' ')
        .unwrap()
        .0
        .to_owned();
    let endpoint = value_of(&running.lines, &format!("device {id} depth_v2: "));
    let context = zmq::Context::new();
    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_rcvtimeo(5000).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.connect(endpoint).unwrap();
    let mut far = 0;
    for _ in 0..replay.len() * 2 {
        let message = sub.recv_bytes(0).unwrap();
        let (header, frame) = sk2_proto::depth_v2::decode(&message).unwrap();
        assert_eq!(
            &frame,
            replay.frame(header.sequence),
            "frame {}",
            header.sequence
        );
        far += frame.depth_mm().iter().filter(|&&v| v >= 4096).count();
    }
    // Real frames have values >= 4096 mm, which only depth_v2 keeps.
    assert!(far > 0);
    let (_, status) = terminate(running.child);
    assert!(status.success());
}
