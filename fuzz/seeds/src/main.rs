//! Writes the seed corpora of the fuzz targets from the golden examples of docs/protocol.md and
//! docs/protocol-depth-v2.md and from the Python-made fixtures, into `fuzz/corpus/<target>/`
//! (git-ignored: the fuzzer grows these directories, and they are not committed).
//!
//! Run from anywhere: `cargo run --manifest-path fuzz/seeds/Cargo.toml`.

use std::path::{Path, PathBuf};

// The framing helpers of the fuzz package, compiled in here rather than depended on, so that
// writing seeds does not build libFuzzer.
#[path = "../../src/lib.rs"]
#[allow(dead_code)]
mod sk2_fuzz;

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use sk2_fuzz::{join_frames, join_shape};
use sk2_proto::color::{self, JpegImage};
use sk2_proto::curve::{self, KeyPair, PublicKey, SecretKey};
use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::frame::IrFrame;
use sk2_proto::ir_v2;
use sk2_proto::sensor::{CapturedColorFrame, CapturedIrFrame};
use sk2_proto::{sk2, CapturedFrame, DepthFrame, Device, ErrorPayload, Me, Reply, Request};
use sk2_record::{RecordFormat, RecordedStream, RecordingWriter};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = root.join("corpus");
    let fixtures = root.join("../crates/sk2-proto/tests/fixtures");
    let mut written = 0;
    let mut write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&dir, e));
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| fail(&path, e));
        written += 1;
    };

    // Key files: a secret and a public certificate, a bare key, and a broken value.
    let keys = KeyPair {
        public: PublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").expect("Z85"),
        secret: SecretKey::from_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").expect("Z85"),
    };
    for (name, text) in [
        ("secret", curve::encode_secret_certificate(&keys, "seed")),
        (
            "public",
            curve::encode_public_certificate(&keys.public, "seed"),
        ),
        ("bare", format!("{}\n", keys.public)),
        (
            "short_value",
            "curve\n    public-key = \"rq:rM\"\n".to_owned(),
        ),
    ] {
        write("curve_certificate", name, text.as_bytes());
    }

    // Control requests: the two valid ones and one of each malformed kind the spec lists.
    for (name, frames) in [
        ("ping", Request::Ping.encode()),
        ("who", Request::Who.encode()),
        (
            "who_with_payload",
            vec![vec![0x03], b"{\"x\":[1,2]}".to_vec()],
        ),
        ("empty_type_frame", vec![vec![]]),
        ("two_byte_type", vec![vec![0x01, 0x01]]),
        ("unknown_type", vec![vec![0x7f]]),
        ("pong_from_client", vec![vec![0x02]]),
        (
            "three_frames",
            vec![vec![0x01], b"{}".to_vec(), b"{}".to_vec()],
        ),
        ("bad_utf8", vec![vec![0x03], vec![0xff, 0xfe]]),
        ("bad_json", vec![vec![0x03], b"{\"a\":".to_vec()]),
    ] {
        write("control_request", name, &join_frames(&frames));
    }

    // Replies: the `me` of docs/protocol.md section 3, with and without extension keys.
    let mut me = Me::new("Bob's Kinect", "tcp://host.local:40949");
    me.devices.push(Device {
        id: "36ba86e3f35d44c3b5bbc1f2a125919f".into(),
        endpoints: [("depth".to_owned(), "tcp://host.local:40603".to_owned())].into(),
    });
    let original_me = br#"{"version": 1, "name": "Bob's Kinect", "endpoints": {"control": "tcp://host.local:40949"}, "devices": [{"id": "36ba86e3f35d44c3b5bbc1f2a125919f", "endpoints": {"depth": "tcp://host.local:40603"}}]}"#;
    let extended_me = br#"{"version": 1.0, "name": "K", "endpoints": {"control": "tcp://h:1", "future": "x"}, "devices": [{"id": "a", "endpoints": {"depth": "tcp://h:2", "depth_v2": "tcp://h:3"}, "codec": "rvl"}], "extra": null}"#;
    for (name, frames) in [
        ("pong", Reply::Pong.encode()),
        (
            "error",
            Reply::Error(ErrorPayload::bad_request("unknown message type 0x7f")).encode(),
        ),
        (
            "error_reason_only",
            vec![vec![0x00], br#"{"reason":"x"}"#.to_vec()],
        ),
        ("me", Reply::Me(me).encode()),
        (
            "me_original_spacing",
            vec![vec![0x04], original_me.to_vec()],
        ),
        ("me_extended", vec![vec![0x04], extended_me.to_vec()]),
        (
            "me_version_2",
            vec![
                vec![0x04],
                br#"{"version":2,"name":"K","endpoints":{"control":"c"},"devices":[]}"#.to_vec(),
            ],
        ),
    ] {
        write("control_reply", name, &join_frames(&frames));
    }

    // A `me` whose device carries a calibration (docs/protocol.md section 3.3).
    let mut calibrated = Me::new("K", "tcp://h:1");
    calibrated.devices.push(Device {
        id: "a".into(),
        endpoints: [("depth".to_owned(), "tcp://h:2".to_owned())].into(),
    });
    calibrated
        .calibrations
        .insert("a".into(), sk2_proto::Calibration::KINECT_V2_TYPICAL);
    write(
        "control_reply",
        "me_calibration",
        &join_frames(&Reply::Me(calibrated).encode()),
    );

    // color: the example of docs/protocol.md section 5.7 (SOI and a frame header of 2 x 1).
    let skeleton = vec![
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x02, 0x01, 0x01, 0x11, 0x00,
    ];
    let color_message = sk2_proto::color::encode(&sk2_proto::CapturedColorFrame {
        jpeg: sk2_proto::JpegImage::new(skeleton).expect("a readable frame header"),
        sequence: 7,
        device_timestamp: 0x10,
        capture_time_ns: 0x20,
    });
    write("color_decode", "spec_example", &color_message);

    // sk2: the worked example of docs/protocol.md section 4 and the fixtures Python's lz4 made.
    let worked = DepthFrame::new(
        4,
        2,
        vec![0x123, 0x456, 0x789, 0xABC, 1000, 2000, 3000, 5000],
    )
    .expect("the worked example is a valid frame");
    let worked_message = sk2::encode(&worked).expect("even width");
    write("sk2_decode", "worked_example", &worked_message);
    write(
        "sk2_decode",
        "worked_example_shaped",
        &join_shape(4, 2, &worked_message),
    );
    for (name, width, height) in [
        ("worked_example", 4, 2),
        ("noise", 16, 8),
        ("scene", 64, 48),
    ] {
        let path = fixtures.join(format!("{name}-{width}x{height}.sk2"));
        let message = std::fs::read(&path).unwrap_or_else(|e| fail(&path, e));
        write(
            "sk2_decode",
            &format!("python_{name}"),
            &join_shape(width, height, &message),
        );
    }
    let zeros = sk2::encode(&DepthFrame::zeros(512, 424).expect("valid shape")).expect("even");
    write("sk2_decode", "kinect_v2_zeros", &zeros);

    // depth_v2: the worked example and a small scene with holes and far depths, in every codec.
    let scene: Vec<u16> = (0..32 * 24u32)
        .map(|i| match i % 37 {
            0..=4 => 0,
            5 => 7000 + (i % 500) as u16,
            _ => 1000 + (i / 32) as u16 * 3 + (i % 7) as u16,
        })
        .collect();
    let scene = DepthFrame::new(32, 24, scene).expect("valid scene");
    write_recording_seeds(&scene, &mut write);
    for (frame_name, frame) in [("worked_example", worked), ("scene", scene)] {
        let captured = CapturedFrame {
            depth: frame,
            sequence: 42,
            device_timestamp: 123_456,
            capture_time_ns: 1_700_000_000_000_000_000,
        };
        for &codec in Codec::ALL {
            let message = depth_v2::encode(&captured, codec);
            let name = format!("{frame_name}_{}", codec.name());
            write("depth_v2_header", &name, &message);
            write("depth_v2_decode", &name, &message);
            let mut payload_input = vec![codec_index(codec)];
            // codec_payload reads `side % 1024 + 1`, so a side of n is written as n - 1.
            for side in [captured.depth.width(), captured.depth.height()] {
                let side = u16::try_from(side - 1).expect("seed sides are small");
                payload_input.extend_from_slice(&side.to_le_bytes());
            }
            payload_input.extend_from_slice(&message[depth_v2::HEADER_LEN..]);
            write("codec_payload", &name, &payload_input);
        }
    }
    write_image_seeds(&mut write);
    println!(
        "make-seeds: wrote {written} seeds under {}",
        corpus.display()
    );
}

/// Recordings for `recording_read`: the scene in two frames of each format, and a copy cut short
/// as a killed recorder leaves it.
fn write_recording_seeds(scene: &DepthFrame, write: &mut impl FnMut(&str, &str, &[u8])) {
    for (name, format) in [
        ("depth_v2", RecordFormat::DepthV2),
        ("foxglove", RecordFormat::FoxgloveRawImage),
    ] {
        let out = std::io::Cursor::new(Vec::new());
        let mut writer = RecordingWriter::new(out, format).expect("writing to memory");
        writer
            .write_me("seed", r#"{"name":"seed"}"#, "make-seeds")
            .expect("writing to memory");
        let channel = writer.add_sensor("seed", "sensor").expect("one channel");
        for sequence in [7, 9] {
            let captured = CapturedFrame {
                depth: scene.clone(),
                sequence,
                device_timestamp: sequence,
                capture_time_ns: 1_700_000_000_000_000_000 + sequence,
            };
            let message = depth_v2::encode(&captured, Codec::MedHuf);
            writer
                .write_depth_v2(channel, &message, captured.capture_time_ns + 1)
                .expect("a valid message");
        }
        let file = writer.finish().expect("writing to memory").into_inner();
        write("recording_read", name, &file);
        write(
            "recording_read",
            &format!("{name}_cut"),
            &file[..file.len() * 2 / 3],
        );
    }
    write(
        "recording_read",
        "all_streams",
        &all_streams_recording(RecordFormat::DepthV2),
    );
    write(
        "recording_read",
        "all_streams_foxglove",
        &all_streams_recording(RecordFormat::FoxgloveRawImage),
    );
}

/// A recording of one frame of each stream in `format`: depth, infrared (MEDHUF) and colour (a
/// 2x1 JPEG frame header).
fn all_streams_recording(format: RecordFormat) -> Vec<u8> {
    let mut writer =
        RecordingWriter::new(std::io::Cursor::new(Vec::new()), format).expect("writing to memory");
    let time = 1_700_000_000_000_000_000;
    let depth = CapturedFrame {
        depth: DepthFrame::new(3, 2, vec![0, 500, 1000, 4000, 4095, 8000]).expect("a 3x2 frame"),
        sequence: 1,
        device_timestamp: 1,
        capture_time_ns: time,
    };
    let ir = CapturedIrFrame {
        ir: IrFrame::new(3, 2, vec![1, 200, 3000, 40_000, 5, 65_535]).expect("a 3x2 frame"),
        sequence: 1,
        device_timestamp: 1,
        capture_time_ns: time,
    };
    let skeleton = vec![
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x02, 0x01, 0x01, 0x11, 0x00,
    ];
    let color = CapturedColorFrame {
        jpeg: JpegImage::new(skeleton).expect("a readable frame header"),
        sequence: 1,
        device_timestamp: 1,
        capture_time_ns: time,
    };
    let messages = [
        (
            RecordedStream::Depth,
            depth_v2::encode(&depth, Codec::MedHuf),
        ),
        (RecordedStream::Ir, ir_v2::encode(&ir, Codec::MedHuf)),
        (RecordedStream::Color, color::encode(&color)),
    ];
    for (stream, message) in messages {
        let channel = writer
            .add_stream("seed", "sensor", stream)
            .expect("one channel per stream");
        writer
            .write(channel, &message, time + 1)
            .expect("a valid message");
    }
    writer.finish().expect("writing to memory").into_inner()
}

/// Infrared messages in every codec, and small JPEGs (4:4:4, 4:2:2, 4:2:0, grey, odd sizes) alone
/// and in `color` messages, for `ir_v2_decode`, `jpeg_decode` and `color_image_decode`.
fn write_image_seeds(write: &mut impl FnMut(&str, &str, &[u8])) {
    let amplitude: Vec<u16> = (0..24 * 16u32)
        .map(|i| ((i * 2654) % 65536) as u16)
        .collect();
    let ir = CapturedIrFrame {
        ir: IrFrame::new(24, 16, amplitude).expect("valid infrared frame"),
        sequence: 7,
        device_timestamp: 16,
        capture_time_ns: 32,
    };
    for &codec in Codec::ALL {
        write("ir_v2_decode", codec.name(), &ir_v2::encode(&ir, codec));
    }
    let samplings = [
        ("444", SamplingFactor::R_4_4_4),
        ("422", SamplingFactor::R_4_2_2),
        ("420", SamplingFactor::R_4_2_0),
    ];
    for (width, height) in [(16u16, 16u16), (21, 13)] {
        for (sampling_name, sampling) in samplings {
            let rgb: Vec<u8> = (0..usize::from(width) * usize::from(height) * 3)
                .map(|i| (i * 37 % 256) as u8)
                .collect();
            let mut jpeg = Vec::new();
            let mut encoder = Encoder::new(&mut jpeg, 85);
            encoder.set_sampling_factor(sampling);
            encoder
                .encode(&rgb, width, height, ColorType::Rgb)
                .expect("encodes");
            let name = format!("rgb_{width}x{height}_{sampling_name}");
            write("jpeg_decode", &name, &jpeg);
            let frame = CapturedColorFrame {
                jpeg: JpegImage::new(jpeg).expect("a JPEG"),
                sequence: 3,
                device_timestamp: 4,
                capture_time_ns: 5,
            };
            write("color_image_decode", &name, &color::encode(&frame));
        }
    }
    let grey: Vec<u8> = (0..16 * 8).map(|i| (i * 5 % 256) as u8).collect();
    let mut jpeg = Vec::new();
    Encoder::new(&mut jpeg, 85)
        .encode(&grey, 16, 8, ColorType::Luma)
        .expect("encodes");
    write("jpeg_decode", "grey_16x8", &jpeg);
}

fn codec_index(codec: Codec) -> u8 {
    let index = Codec::ALL
        .iter()
        .position(|&c| c == codec)
        .expect("codec is in ALL");
    u8::try_from(index).expect("fewer than 256 codecs")
}

fn fail(path: &PathBuf, error: std::io::Error) -> ! {
    eprintln!("make-seeds: {}: {error}", path.display());
    std::process::exit(1);
}
