//! The infrared and colour examples and the calibration example of docs/protocol.md (sections
//! 5.6, 5.7, 3.3), read from the document and checked against what the code makes.

use sk2_proto::color::{self, ColorError, JpegImage};
use sk2_proto::control::Reply;
use sk2_proto::depth_v2::{self, Codec, DepthV2Error};
use sk2_proto::{ir_v2, Calibration, CapturedColorFrame, CapturedIrFrame, Device, IrFrame, Me};

fn spec() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    std::fs::read_to_string(path).unwrap()
}

/// The first fenced block of `fence` (e.g. "```text") after `heading`.
fn block_after(spec: &str, heading: &str, fence: &str) -> String {
    let section = &spec[spec.find(heading).unwrap()..];
    let block = section.split(fence).nth(1).unwrap();
    block.split("```").next().unwrap().to_owned()
}

/// The hex bytes of a text block: each line's bytes, before its comment (three spaces).
fn hex_bytes(block: &str) -> Vec<u8> {
    block
        .lines()
        .flat_map(|line| line.split("   ").next().unwrap_or("").split_whitespace())
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect()
}

#[test]
fn the_ir_v2_example_of_the_spec_is_what_the_code_writes_and_reads() {
    let bytes = hex_bytes(&block_after(&spec(), "### 5.6", "```text"));
    let frame = CapturedIrFrame {
        ir: IrFrame::new(2, 1, vec![0x0102, 0xFFFF]).unwrap(),
        sequence: 7,
        device_timestamp: 0x10,
        capture_time_ns: 0x20,
    };
    assert_eq!(ir_v2::encode(&frame, Codec::Raw), bytes);
    let (header, ir) = ir_v2::decode(&bytes).unwrap();
    assert_eq!((header.sequence, header.device_timestamp), (7, 0x10));
    assert_eq!(ir, frame.ir);
}

#[test]
fn the_color_example_of_the_spec_is_what_the_code_writes_and_reads() {
    let bytes = hex_bytes(&block_after(&spec(), "### 5.7", "```text"));
    let jpeg = JpegImage::new(bytes[depth_v2::HEADER_LEN..].to_vec()).unwrap();
    let frame = CapturedColorFrame {
        jpeg,
        sequence: 7,
        device_timestamp: 0x10,
        capture_time_ns: 0x20,
    };
    assert_eq!(color::encode(&frame), bytes);
    let (header, payload) = color::decode(&bytes).unwrap();
    assert_eq!((header.width, header.height, header.sequence), (2, 1, 7));
    assert_eq!(payload, &bytes[44..]);
    // Each family of readers refuses the other's codec ids.
    assert_eq!(
        depth_v2::decode(&bytes).unwrap_err(),
        DepthV2Error::UnknownCodec(0x10)
    );
    assert_eq!(
        ir_v2::decode(&bytes).unwrap_err(),
        DepthV2Error::UnknownCodec(0x10)
    );
    let mut not_jpeg = bytes.clone();
    not_jpeg[44] = 0;
    assert!(matches!(color::decode(&not_jpeg), Err(ColorError::Jpeg(_))));
}

#[test]
fn the_calibration_example_of_the_spec_is_the_device_record_the_code_writes() {
    let example: serde_json::Value =
        serde_json::from_str(&block_after(&spec(), "### 3.3", "```json")).unwrap();
    let id = "36ba86e3f35d44c3b5bbc1f2a125919f";
    let mut me = Me::new("Bob's Kinect", "tcp://host.local:40949");
    me.devices.push(Device {
        id: id.into(),
        endpoints: [
            ("color", "tcp://host.local:40606"),
            ("depth", "tcp://host.local:40603"),
            ("depth_v2", "tcp://host.local:40604"),
            ("ir_v2", "tcp://host.local:40605"),
        ]
        .map(|(name, address)| (name.to_owned(), address.to_owned()))
        .into(),
    });
    me.device_keys.insert(
        id.into(),
        [("codec", "medhuf"), ("ir_codec", "medhuf")]
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .into(),
    );
    me.calibrations
        .insert(id.into(), Calibration::KINECT_V2_TYPICAL);
    let frames = Reply::Me(me.clone()).encode();
    let written: serde_json::Value = serde_json::from_slice(&frames[1]).unwrap();
    assert_eq!(written["devices"][0], example);
    // The numbers are written in their shortest form: the text has 368.147, not 368.1470031738.
    let text = std::str::from_utf8(&frames[1]).unwrap();
    assert!(
        text.contains(r#""ir":{"fx":368.147,"fy":368.147,"#),
        "{text}"
    );
    // About 660 bytes of calibration per device (docs/protocol.md, 3.3).
    let without = {
        let mut me = me.clone();
        me.calibrations.clear();
        Reply::Me(me).encode()[1].len()
    };
    let calibration_bytes = frames[1].len() - without;
    assert!(
        (600..=700).contains(&calibration_bytes),
        "{calibration_bytes}"
    );
    let Reply::Me(decoded) = Reply::decode(&frames).unwrap() else {
        panic!("not a me");
    };
    assert_eq!(decoded, me);
}
