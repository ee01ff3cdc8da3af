//! End-to-end tests of `kinect-record` with the real `kinect-server`: a recording replayed to a
//! client, signals, SIGKILL, a full disk, `--foxglove`. Everything runs on 127.0.0.1 with
//! `--no-announce` and `--connect`: no mDNS.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::KinectServer as Server;
use sk2_client::{Client, ClientConfig};
use sk2_mock::{MockConfig, MockKinect, PlaybackConfig, RecordingSensor};
use sk2_proto::depth_v2;
use sk2_record::{ChannelKind, ReadError, RecordedMessage, RecordingReader, STATS_METADATA_NAME};

const RECORDER: &str = env!("CARGO_BIN_EXE_kinect-record");
pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) fn record(control: &str, output: &Path, extra: &[&str]) -> Output {
    Command::new(RECORDER)
        .args(["--connect", control, "-q", "-o"])
        .arg(output)
        .args(extra)
        .output()
        .unwrap()
}

fn spawn_recorder(control: &str, output: &Path) -> Child {
    Command::new(RECORDER)
        .args(["--connect", control, "-q", "--flush-interval", "0.5", "-o"])
        .arg(output)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads a whole recording: its messages, and the error it ended with, if any.
pub(crate) fn read(
    path: &Path,
) -> (
    Vec<RecordedMessage>,
    Option<ReadError>,
    RecordingReader<BufReader<std::fs::File>>,
) {
    let mut reader = RecordingReader::open(path).unwrap();
    let mut messages = Vec::new();
    let mut error = None;
    for item in reader.by_ref() {
        match item {
            Ok(message) => messages.push(message),
            Err(end) => error = Some(end),
        }
    }
    (messages, error, reader)
}

/// The frames `kinect-server`'s default mock sends, by sequence number.
pub(crate) fn mock() -> MockKinect {
    MockKinect::new(MockConfig::default())
}

fn wait_for_messages(path: &Path, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if path.exists() && read(path).0.len() >= at_least {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{} never had {at_least} readable messages", path.display());
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn three_hundred_recorded_frames_replay_with_identical_pixels_and_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mock.mcap");
    {
        // Twice the sensor's 30 fps: the same frames in half the time. (At 120 fps a debug build
        // of the replaying server on a loaded machine dropped more than the 10 % allowed below.)
        let server = Server::start(&["--fps", "60"]);
        let output = record(&server.control, &file, &["--frames", "300"]);
        assert!(output.status.success(), "{output:?}");
    }

    // The file holds 300 messages exactly as the mock's server sent them.
    let (recorded, error, reader) = read(&file);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(recorded.len(), 300);
    let mock = mock();
    let mut by_sequence = BTreeMap::new();
    for message in &recorded {
        let (header, depth) = depth_v2::decode(&message.data).unwrap();
        assert_eq!(depth, mock.frame(header.sequence));
        assert_eq!(message.publish_time_ns, header.capture_time_ns);
        assert!(message.log_time_ns >= header.capture_time_ns);
        by_sequence.insert(header.sequence, (header, message.data.clone()));
    }
    assert!(reader.me().unwrap().me_json.contains("depth_v2"));
    assert_eq!(reader.metadata()[0].0, STATS_METADATA_NAME);

    // Replayed, a client sees the recorded frames: same sequence numbers (gaps included), same
    // capture times, same pixels, and byte for byte the same messages (same codec).
    // At half the recorded pace (10 s), so that a client slow to subscribe on a loaded machine
    // still sees most of it.
    let server = Server::start(&[
        "--source",
        "replay",
        "--replay-file",
        file.to_str().unwrap(),
        "--rate",
        "0.5",
    ]);
    let client = Client::connect_blocking(&server.control, ClientConfig::default(), WAIT).unwrap();
    let device = client.me().unwrap().devices[0].id.clone();
    assert_eq!(
        Some(device.as_str()),
        recorded[0].channel.device_id.as_deref()
    );
    let subscription = client.subscribe_raw(&device).unwrap();
    let last = *by_sequence.keys().last().unwrap();
    let mut received = Vec::new();
    while let Some(message) = subscription.recv_timeout(Duration::from_secs(3)) {
        let sequence = message.header.sequence;
        received.push(message);
        if sequence == last {
            break;
        }
    }
    for message in &received {
        let (header, bytes) = &by_sequence[&message.header.sequence];
        assert_eq!(message.header, *header);
        assert_eq!(message.bytes, *bytes);
    }
    // In recorded order, and (from the first frame the client got: it subscribed after the
    // replay began) nearly all of them. The server may drop a frame when its encoders are busy,
    // as it would live; the recorded gaps themselves are kept exactly (sk2-mock's unit tests).
    let first = received[0].header.sequence;
    let expected = by_sequence.keys().filter(|&&s| s >= first).count();
    assert!(received
        .windows(2)
        .all(|pair| pair[0].header.sequence < pair[1].header.sequence));
    assert!(received.len() >= 200, "only {} replayed", received.len());
    assert!(
        received.len() * 10 >= expected * 9,
        "{} of {expected}",
        received.len()
    );
}

#[test]
fn sigint_and_sigterm_close_the_file_with_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    for signal_name in ["INT", "TERM"] {
        let file = dir.path().join(format!("{signal_name}.mcap"));
        let mut recorder = spawn_recorder(&server.control, &file);
        wait_for_messages(&file, 15);
        signal(&recorder, signal_name);
        let status = recorder.wait().unwrap();
        assert!(status.success(), "SIG{signal_name}: {status}");
        let (messages, error, reader) = read(&file);
        assert!(error.is_none(), "SIG{signal_name}: {error:?}");
        assert!(messages.len() >= 15);
        // The stats come last, before the summary: written only when the recorder closes.
        assert_eq!(reader.metadata()[0].0, STATS_METADATA_NAME);
        let bytes = std::fs::read(&file).unwrap();
        assert!(bytes.ends_with(b"\x89MCAP0\r\n"), "no footer and end magic");
    }
}

#[test]
fn sigkill_leaves_a_file_readable_and_replayable_up_to_its_last_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("killed.mcap");
    let server = Server::start(&[]);
    let mut recorder = spawn_recorder(&server.control, &file);
    wait_for_messages(&file, 30);
    signal(&recorder, "KILL");
    recorder.wait().unwrap();
    let (messages, error, _) = read(&file);
    assert!(messages.len() >= 30);
    assert!(error
        .expect("a killed recording is not closed")
        .is_truncation());
    let mock = mock();
    for message in &messages {
        let (header, depth) = depth_v2::decode(&message.data).unwrap();
        assert_eq!(depth, mock.frame(header.sequence));
    }
    let sensors = RecordingSensor::open_all(&file, PlaybackConfig::default()).unwrap();
    assert!(sensors[0].truncated());
    assert_eq!(sensors[0].recorded().frames, messages.len() as u64);
}

#[test]
fn a_full_disk_stops_the_recording_with_a_clear_error_and_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept.mcap");
    let server = Server::start(&[]);
    // A 2 MiB tmpfs, in a mount namespace of the recorder's own (it still reaches the server on
    // 127.0.0.1: the network is the host's). The file is copied out before the namespace ends.
    let script = format!(
        "mount -t tmpfs -o size=2m tmpfs \"$0\" && \
         {RECORDER} --connect {} -q -o \"$0/full.mcap\"; status=$?; \
         cp \"$0/full.mcap\" {}; exit $status",
        server.control,
        kept.display()
    );
    let mount_point = dir.path().join("tmpfs");
    std::fs::create_dir_all(&mount_point).unwrap();
    let output = Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", &script])
        .arg(&mount_point)
        .output()
        .expect("unshare (util-linux) makes the small disk");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("readable up to its last complete chunk"),
        "{stderr}"
    );

    let (messages, error, _) = read(&kept);
    assert!(messages.len() >= 20, "{} messages", messages.len());
    assert!(error
        .expect("a full disk leaves no summary")
        .is_truncation());
    let mock = mock();
    for message in &messages {
        let (header, depth) = depth_v2::decode(&message.data).unwrap();
        assert_eq!(depth, mock.frame(header.sequence));
    }
}

#[test]
fn foxglove_recordings_hold_the_frames_as_16uc1_raw_images() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("foxglove.mcap");
    let server = Server::start(&[]);
    let output = record(&server.control, &file, &["--foxglove", "--frames", "20"]);
    assert!(output.status.success(), "{output:?}");
    let (messages, error, _) = read(&file);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(messages.len(), 20);
    let mock = mock();
    for message in &messages {
        assert_eq!(message.channel.kind, ChannelKind::RawImage);
        let frame = message.decode().unwrap();
        assert_eq!(frame.depth, mock.frame(frame.sequence));
    }
}

#[test]
fn bad_arguments_and_missing_servers_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.mcap");
    for (args, expected) in [
        (
            vec!["--connect", "tcp://127.0.0.1:9", "--timeout", "0.5"],
            "no answer",
        ),
        (
            vec!["--connect", "tcp://127.0.0.1:9", "--duration", "0"],
            "--duration must be",
        ),
    ] {
        let output = Command::new(RECORDER)
            .args(&args)
            .arg("-o")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    let server = Server::start(&[]);
    let output = record(&server.control, &file, &["--sensor", "nosuchsensor"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no sensor \"nosuchsensor\""), "{stderr}");
}

#[test]
fn every_sensor_of_a_server_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.mcap");
    let server = Server::start(&["--sensors", "2"]);
    let output = record(&server.control, &file, &["--frames", "40"]);
    assert!(output.status.success(), "{output:?}");
    let (messages, error, _) = read(&file);
    assert!(error.is_none(), "{error:?}");
    let mut per_sensor = BTreeMap::new();
    for message in &messages {
        *per_sensor
            .entry(message.channel.device_id.clone().unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(per_sensor.len(), 2, "{per_sensor:?}");
    assert!(
        per_sensor.values().all(|&count| count >= 10),
        "{per_sensor:?}"
    );
}
