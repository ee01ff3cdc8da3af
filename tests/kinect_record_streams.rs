//! `kinect-record --ir --color` end to end with the real `kinect-server`: infrared and colour
//! recorded beside depth, as received or as Foxglove images, and replayed. On 127.0.0.1 with
//! `--no-announce` and `--connect`: no mDNS.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::common::KinectServer as Server;
use crate::kinect_record::{mock, read, record, WAIT};
use sk2_client::{Client, ClientConfig};
use sk2_record::{ChannelKind, RecordedMessage};

#[test]
fn infrared_and_colour_are_recorded_beside_depth_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("streams.mcap");
    let server = Server::start(&[]);
    let output = record(
        &server.control,
        &file,
        &["--ir", "--color", "--duration", "3"],
    );
    assert!(output.status.success(), "{output:?}");
    let (messages, error, reader) = read(&file);
    assert!(error.is_none(), "{error:?}");
    let mock = mock();
    let mut counts = BTreeMap::new();
    for message in &messages {
        *counts
            .entry(message.channel.topic.rsplit('/').next().unwrap())
            .or_insert(0) += 1;
        match &message.channel.kind {
            ChannelKind::DepthV2 => {
                let frame = message.decode().unwrap();
                assert_eq!(frame.depth, mock.frame(frame.sequence));
            }
            ChannelKind::IrV2 => {
                let frame = message.decode_ir().unwrap();
                assert_eq!(frame.ir, mock.ir_frame(frame.sequence));
            }
            ChannelKind::Color => {
                let frame = message.decode_color().unwrap();
                assert_eq!((frame.jpeg.width(), frame.jpeg.height()), (1920, 1080));
                assert_eq!(frame.jpeg, mock.color_frame(frame.sequence));
            }
            other => panic!("{other:?}"),
        }
    }
    // Depth and infrared at up to 30 fps, colour as fast as the mock draws it: a debug build on
    // a loaded machine (colour takes most of a core there) manages far fewer of each.
    assert!(counts["depth_v2"] >= 10, "{counts:?}");
    assert!(counts["ir_v2"] >= 10, "{counts:?}");
    assert!(counts["color"] >= 1, "{counts:?}");
    let stats = &reader.metadata()[0].1;
    let id = messages[0].channel.device_id.clone().unwrap();
    assert_eq!(
        stats[&format!("{id}.color.written")],
        counts["color"].to_string()
    );
    assert_eq!(
        stats[&format!("{id}.ir_v2.written")],
        counts["ir_v2"].to_string()
    );
    assert_eq!(
        stats[&format!("{id}.written")],
        counts["depth_v2"].to_string()
    );

    // Replayed, the server offers the recorded calibration too.
    let live = Client::connect_blocking(&server.control, ClientConfig::default(), WAIT).unwrap();
    let replayed = replay_infrared_and_colour(&file, &messages);
    assert!(replayed.calibration(&id).is_some());
    assert_eq!(replayed.calibration(&id), live.calibration(&id));
}

#[test]
fn foxglove_recordings_of_every_stream_replay_like_the_messages_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("foxglove-all.mcap");
    let server = Server::start(&[]);
    let output = record(
        &server.control,
        &file,
        &["--foxglove", "--ir", "--color", "--duration", "3"],
    );
    assert!(output.status.success(), "{output:?}");
    let (messages, error, _) = read(&file);
    assert!(error.is_none(), "{error:?}");
    let mock = mock();
    let kinds: std::collections::BTreeSet<_> = messages
        .iter()
        .map(|m| format!("{:?}", m.channel.kind))
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["CompressedImage", "IrRawImage", "RawImage"]
    );
    for message in messages.iter().filter(|m| m.channel.kind.is_ir()) {
        let frame = message.decode_ir().unwrap();
        assert_eq!(frame.ir, mock.ir_frame(frame.sequence));
    }
    replay_infrared_and_colour(&file, &messages);
}

#[test]
fn a_stream_the_server_does_not_offer_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.mcap");
    let server = Server::start(&["--no-color"]);
    let output = record(&server.control, &file, &["--color"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("subscribing to color of sensor"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// Replays `file` in a loop (so that a late subscriber still gets every stream) and checks that
/// an infrared and a colour frame arrive, each one of those recorded in `messages`. Returns a
/// client of the replaying server, which lives as long as it.
fn replay_infrared_and_colour(file: &Path, messages: &[RecordedMessage]) -> ReplayClient {
    let recorded_ir: Vec<_> = messages
        .iter()
        .filter_map(|m| m.decode_ir().ok().map(|frame| frame.ir))
        .collect();
    let recorded_jpegs: Vec<_> = messages
        .iter()
        .filter_map(|m| m.decode_color().ok().map(|frame| frame.jpeg))
        .collect();
    let server = Server::start(&[
        "--source",
        "replay",
        "--loop",
        "--replay-file",
        file.to_str().unwrap(),
    ]);
    let client = Client::connect_blocking(&server.control, ClientConfig::default(), WAIT).unwrap();
    let id = messages[0].channel.device_id.clone().unwrap();
    let ir = client.subscribe_ir(&id).unwrap();
    let color = client.subscribe_color_jpeg(&id).unwrap();
    let frame = ir.recv_timeout(WAIT).expect("replayed infrared");
    assert!(recorded_ir.contains(&frame.ir));
    let frame = color
        .recv_timeout(Duration::from_secs(10))
        .expect("replayed colour");
    assert!(recorded_jpegs.iter().any(|jpeg| jpeg.bytes() == frame.jpeg));
    ReplayClient {
        client,
        _server: server,
    }
}

/// A client of a replaying server; the server stops when it is dropped.
struct ReplayClient {
    client: Client,
    _server: Server,
}

impl std::ops::Deref for ReplayClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}
