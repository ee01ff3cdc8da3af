//! End-to-end tests of `kinect-server --source freenect2`, built against the libfreenect2
//! stand-in (crates/sk2-freenect2/tests/fixtures), whose fake devices the server process reads
//! from `SK2_STANDIN_SERIALS`. Run (CI does this in `.ci/run`):
//!
//! ```sh
//! export PKG_CONFIG_PATH=$(crates/sk2-freenect2/tests/fixtures/build-standin.sh | tail -n1)
//! cargo test --features freenect2 --test kinect_server_freenect2
//! ```
#![cfg(feature = "freenect2")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kinect-server");
/// Time the server may take to start on a busy machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest depth message accepted from the server (an sk2 frame is about 330 kB uncompressed).
const MAX_MESSAGE_BYTES: i64 = 4 << 20;

/// The stand-in's first pixels (NaN, +inf, -inf, -1, 0, -0, 0.25, 0.5, 1.49, 1.5, 4500.4,
/// 65534.4, 65534.5, 65535, 65535.6, 70000, 3e38, 1e-40) after the binding's conversion.
const EXPECTED_SPECIAL_PIXELS: [u16; 18] = [
    0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 4500, 65534, 65535, 65535, 65535, 65535, 65535, 0,
];

fn command(serials: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args([
            "--source",
            "freenect2",
            "--no-announce",
            "--bind",
            "127.0.0.1",
        ])
        .args(args)
        .env("SK2_STANDIN_SERIALS", serials)
        .env("SK2_STANDIN_FRAME_INTERVAL_US", "10000")
        .env("RUST_LOG", "warn");
    command
}

/// Runs a server that must fail, and returns its output.
fn run_failing(serials: &str, args: &[&str]) -> Output {
    let output = command(serials, args).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    output
}

fn stderr_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    stderr.trim_end().to_owned()
}

/// Starts the server; returns it with the `(device id, depth endpoint)` it printed.
fn start(serials: &str, args: &[&str]) -> (Child, String, String) {
    let mut child = command(serials, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no device line before the timeout");
        };
        // "device <id> depth: <endpoint>"
        if let Some(rest) = line.strip_prefix("device ") {
            if let Some((id, endpoint)) = rest.split_once(" depth: ") {
                return (child, id.to_owned(), endpoint.to_owned());
            }
        }
    }
}

fn terminate(mut child: Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kinect-server did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kinect_server_serves_stand_in_kinect_frames_on_the_original_depth_endpoint() {
    let (child, id, endpoint) = start("003943241347", &["--pipeline", "cpu"]);
    assert_eq!(id, sk2_freenect2::sensor_id("003943241347"));

    let context = zmq::Context::new();
    let subscriber = context.socket(zmq::SUB).unwrap();
    subscriber.set_maxmsgsize(MAX_MESSAGE_BYTES).unwrap();
    subscriber.set_rcvtimeo(10_000).unwrap();
    subscriber.connect(&endpoint).unwrap();
    subscriber.set_subscribe(b"").unwrap();
    let mut frames = Vec::new();
    for _ in 0..3 {
        let message = subscriber.recv_bytes(0).expect("a depth frame within 10 s");
        frames.push(sk2_proto::sk2::decode(&message, 512, 424).expect("a valid sk2 frame"));
    }
    drop(subscriber);
    terminate(child);

    for frame in &frames {
        let pixels = frame.depth_mm();
        // The original `depth` encoding keeps only bits 0..11.
        let expected: Vec<u16> = EXPECTED_SPECIAL_PIXELS.iter().map(|v| v & 0x0FFF).collect();
        assert_eq!(pixels[..18], expected[..]);
        // The rest is the stand-in's ramp 500 + (index + device sequence) % 8000, for one sequence.
        let matches_ramp =
            |sequence: usize| {
                pixels.iter().enumerate().skip(18).all(|(index, &pixel)| {
                    pixel == ((500 + (index + sequence) % 8000) as u16) & 0x0FFF
                })
            };
        assert!((0..8000).any(matches_ramp), "not the stand-in's ramp");
    }
}

#[test]
fn no_kinect_attached_exits_1_with_a_one_line_error() {
    let output = run_failing("", &[]);
    let line = stderr_line(&output);
    assert!(
        line.starts_with("kinect-server: no Kinect v2 found"),
        "{line}"
    );
}

#[test]
fn an_unknown_serial_or_a_missing_pipeline_exits_1_with_a_one_line_error() {
    let line = stderr_line(&run_failing("AAA,BBB", &["--serial", "CCC"]));
    assert_eq!(
        line,
        "kinect-server: no Kinect v2 with serial \"CCC\"; attached: AAA, BBB"
    );
    let line = stderr_line(&run_failing("AAA", &["--pipeline", "cuda"]));
    assert!(line.contains("without the cuda packet pipeline"), "{line}");
    let line = stderr_line(&run_failing("AAA", &["--pipeline", "vulkan"]));
    assert!(
        line.contains("unknown packet pipeline \"vulkan\""),
        "{line}"
    );
}
