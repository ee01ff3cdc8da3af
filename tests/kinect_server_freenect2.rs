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

/// A started server with the device id and the endpoints it printed.
struct Started {
    child: Child,
    device_id: String,
    depth: String,
    depth_v2: String,
}

/// Starts the server and reads its `device <id> <kind>: <endpoint>` lines.
fn start(serials: &str, args: &[&str]) -> Started {
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
    let (mut device_id, mut depth, mut depth_v2) = (String::new(), None, None);
    while depth.is_none() || depth_v2.is_none() {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no depth and depth_v2 lines before the timeout");
        };
        let Some((id, rest)) = line
            .strip_prefix("device ")
            .and_then(|rest| rest.split_once(' '))
        else {
            continue;
        };
        device_id = id.to_owned();
        if let Some(endpoint) = rest.strip_prefix("depth: ") {
            depth = Some(endpoint.to_owned());
        } else if let Some(endpoint) = rest.strip_prefix("depth_v2: ") {
            depth_v2 = Some(endpoint.to_owned());
        }
    }
    Started {
        child,
        device_id,
        depth: depth.unwrap_or_default(),
        depth_v2: depth_v2.unwrap_or_default(),
    }
}

/// The next `count` messages published on `endpoint`.
fn receive(context: &zmq::Context, endpoint: &str, count: usize) -> Vec<Vec<u8>> {
    let subscriber = context.socket(zmq::SUB).unwrap();
    subscriber.set_maxmsgsize(MAX_MESSAGE_BYTES).unwrap();
    subscriber.set_rcvtimeo(10_000).unwrap();
    subscriber.connect(endpoint).unwrap();
    subscriber.set_subscribe(b"").unwrap();
    (0..count)
        .map(|_| {
            subscriber
                .recv_bytes(0)
                .expect("a depth message within 10 s")
        })
        .collect()
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
fn kinect_server_serves_stand_in_kinect_frames_exactly_on_depth_v2_and_12_bit_on_depth() {
    let server = start("003943241347", &["--pipeline", "cpu"]);
    assert_eq!(server.device_id, sk2_freenect2::sensor_id("003943241347"));
    let context = zmq::Context::new();
    let v2_messages = receive(&context, &server.depth_v2, 3);
    let sk2_messages = receive(&context, &server.depth, 3);
    terminate(server.child);

    // depth_v2 is lossless and carries the device's counters: the stand-in stamps device frame
    // n with timestamp 267 * n and fills it with its edge cases and the ramp
    // 500 + (index + n) % 8000.
    let mut last: Option<(u64, u64)> = None;
    for message in &v2_messages {
        let (header, frame) =
            sk2_proto::depth_v2::decode(message).expect("a valid depth_v2 message");
        assert_eq!((header.width, header.height), (512, 424));
        assert_eq!(header.device_timestamp % 267, 0);
        let device_sequence = (header.device_timestamp / 267) as usize;
        let pixels = frame.depth_mm();
        assert_eq!(pixels[..18], EXPECTED_SPECIAL_PIXELS);
        for (index, &pixel) in pixels.iter().enumerate().skip(18) {
            assert_eq!(
                usize::from(pixel),
                500 + (index + device_sequence) % 8000,
                "pixel {index}"
            );
        }
        if let Some((sequence, timestamp)) = last {
            assert!(header.sequence > sequence);
            assert_eq!(
                header.sequence - sequence,
                (header.device_timestamp - timestamp) / 267
            );
        }
        last = Some((header.sequence, header.device_timestamp));
    }

    // The original `depth` encoding keeps only bits 0..11 of the same values.
    for message in &sk2_messages {
        let frame = sk2_proto::sk2::decode(message, 512, 424).expect("a valid sk2 frame");
        let pixels = frame.depth_mm();
        let expected: Vec<u16> = EXPECTED_SPECIAL_PIXELS.iter().map(|v| v & 0x0FFF).collect();
        assert_eq!(pixels[..18], expected[..]);
        let matches_ramp = |sequence: usize| {
            pixels.iter().enumerate().skip(18).all(|(index, &pixel)| {
                usize::from(pixel) == (500 + (index + sequence) % 8000) & 0x0FFF
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

#[test]
fn an_opengl_pipeline_that_would_end_the_process_exits_1_with_a_clear_error_instead() {
    // The stand-in's OpenGL pipeline calls exit(-1) from its constructor, as libfreenect2's does
    // without a display: the server must report it, not die with status 255.
    let output = command("AAA", &["--pipeline", "opengl"])
        .env("SK2_STANDIN_OPENGL_EXIT", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let line = stderr_line(&output);
    assert_eq!(
        line,
        "kinect-server: the opengl packet pipeline cannot start on this machine: libfreenect2 \
         ended the process while building it (exit status 255): [standin] Failed to create \
         opengl window. (try --pipeline cpu; docs/freenect2.md)"
    );
    assert!(output.stdout.is_empty(), "nothing served: {output:?}");
}

#[test]
fn a_pipeline_that_delivers_no_frame_stops_the_server_after_the_start_up_watchdog() {
    // The stand-in's OpenCL pipeline without a platform, like libfreenect2's: it logs once, the
    // device opens, and no frame ever arrives.
    let started = Instant::now();
    let output = command("AAA", &["--pipeline", "opencl"])
        .env("SK2_STANDIN_NO_GPU", "1")
        .output()
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(waited >= sk2_freenect2::FIRST_FRAME_TIMEOUT, "{waited:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "[standin] no opencl platforms found.",
            "kinect-server: starting the server: sensor unavailable: no depth frame from Kinect \
             v2 AAA within 5.0 s of starting on the opencl packet pipeline: libfreenect2's \
             opencl pipeline drops every frame when it finds no working OpenCL platform or \
             device (its log above says why); try --pipeline cpu",
        ],
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "no endpoints announced: {output:?}"
    );
}
