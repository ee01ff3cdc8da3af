//! The sk2 depth format against the worked example of docs/protocol.md (section 4) and against
//! messages that Python's lz4 produced (fixtures/make_fixtures.py), byte for byte where the format
//! fixes the bytes, and by decoded value where LZ4 implementations may legitimately differ.

use std::path::Path;

use sk2_proto::{sk2, DepthFrame};

/// The frame of the worked example: 2 rows of 4 pixels.
fn worked_example() -> DepthFrame {
    DepthFrame::new(
        4,
        2,
        vec![0x123, 0x456, 0x789, 0xABC, 1000, 2000, 3000, 5000],
    )
    .unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect()
}

#[test]
fn worked_example_packs_to_the_documented_raw_bytes() {
    let mut raw = Vec::new();
    sk2::pack(worked_example().depth_mm(), &mut raw);
    assert_eq!(raw, hex("12 45 78 ab 3e 7d bb 38 36 9c 80 88"));
}

#[test]
fn worked_example_encodes_to_the_documented_message() {
    let message = sk2::encode(&worked_example()).unwrap();
    assert_eq!(
        message,
        hex("0c 00 00 00 c0 12 45 78 ab 3e 7d bb 38 36 9c 80 88")
    );
}

#[test]
fn worked_example_decodes_with_5000_mm_coming_back_as_904() {
    let message = hex("0c 00 00 00 c0 12 45 78 ab 3e 7d bb 38 36 9c 80 88");
    let frame = sk2::decode(&message, 4, 2).unwrap();
    assert_eq!(
        frame.depth_mm(),
        &[0x123, 0x456, 0x789, 0xABC, 1000, 2000, 3000, 904]
    );
}

#[test]
fn a_512x424_message_starts_with_the_documented_prefix() {
    let frame = DepthFrame::zeros(512, 424).unwrap();
    let message = sk2::encode(&frame).unwrap();
    assert_eq!(&message[..4], &hex("00 f8 04 00")[..]);
}

fn read_u16(path: &Path) -> Vec<u16> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Every fixture pair made by Python: the decoded message equals the input with bits 12..15 dropped,
/// and our own encoding of the input decodes to the same thing.
#[test]
fn messages_made_by_python_lz4_decode_to_their_input() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let fixtures = [
        ("worked_example", 4, 2),
        ("noise", 16, 8),
        ("scene", 64, 48),
    ];
    for (name, width, height) in fixtures {
        let stem = dir.join(format!("{name}-{width}x{height}"));
        let input = read_u16(&stem.with_extension("u16"));
        let message = std::fs::read(stem.with_extension("sk2")).unwrap();
        let expected: Vec<u16> = input.iter().map(|v| v & 0x0FFF).collect();

        let decoded = sk2::decode(&message, width, height).unwrap();
        assert_eq!(decoded.depth_mm(), &expected[..], "{name}");

        let ours = sk2::encode(&DepthFrame::new(width, height, input).unwrap()).unwrap();
        assert_eq!(&ours[..4], &message[..4], "{name}: size prefix");
        let round_trip = sk2::decode(&ours, width, height).unwrap();
        assert_eq!(round_trip.depth_mm(), &expected[..], "{name}");
    }
}
