//! The `depth_v2` message of the worked example in docs/protocol.md (section 5.5), byte for byte.
//! The expected bytes were computed by an independent Python RVL (Wilson's algorithm as the
//! corpus README states it), not by this crate.

use sk2_proto::depth_v2::{self, Codec, DepthV2Error, FrameHeader};
use sk2_proto::{CapturedFrame, DepthFrame};

/// The example: 3 x 2 pixels (odd width), a hole at each row start, 5000 mm and 65535 mm, which
/// the original `depth` format could not carry.
fn example() -> CapturedFrame {
    CapturedFrame {
        depth: DepthFrame::new(3, 2, vec![0, 1000, 1001, 5000, 0, 65535]).unwrap(),
        sequence: 7,
        device_timestamp: 0x1234,
        capture_time_ns: 1_700_000_000_123_456_789,
    }
}

const EXAMPLE_HEX: &str = "
    53 4b 44 32 01 01 00 00  03 00 00 00 02 00 00 00
    07 00 00 00 00 00 00 00  34 12 00 00 00 00 00 00
    15 cd 85 3d fe 9c 97 17  0c 00 00 00
    2e f3 8a 13 ed 11 f1 fc  00 00 d3 bc";

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect()
}

#[test]
fn the_documented_example_encodes_to_the_documented_bytes() {
    assert_eq!(depth_v2::encode(&example(), Codec::Rvl), hex(EXAMPLE_HEX));
}

#[test]
fn the_documented_bytes_decode_to_the_example_with_its_metadata() {
    let (header, frame) = depth_v2::decode(&hex(EXAMPLE_HEX)).unwrap();
    assert_eq!(
        header,
        FrameHeader {
            codec: Codec::Rvl,
            width: 3,
            height: 2,
            sequence: 7,
            device_timestamp: 0x1234,
            capture_time_ns: 1_700_000_000_123_456_789,
            payload_len: 12,
        }
    );
    assert_eq!(frame, example().depth);
    assert_eq!(depth_v2::decode_header(&hex(EXAMPLE_HEX)), Ok(header));
}

#[test]
fn each_header_check_of_the_spec_has_its_own_error() {
    let good = hex(EXAMPLE_HEX);
    let with = |at: usize, bytes: &[u8]| {
        let mut message = good.clone();
        message[at..at + bytes.len()].copy_from_slice(bytes);
        depth_v2::decode(&message)
    };
    assert_eq!(
        depth_v2::decode(&good[..43]),
        Err(DepthV2Error::Truncated(43))
    );
    assert_eq!(with(0, b"SKD1"), Err(DepthV2Error::BadMagic(*b"SKD1")));
    assert_eq!(with(4, &[2]), Err(DepthV2Error::UnsupportedVersion(2)));
    assert_eq!(with(5, &[0x7f]), Err(DepthV2Error::UnknownCodec(0x7f)));
    assert_eq!(with(6, &[1, 0]), Err(DepthV2Error::UnknownFlags(1)));
    assert_eq!(
        with(8, &[0, 0, 0, 0]),
        Err(DepthV2Error::BadShape {
            width: 0,
            height: 2
        })
    );
    // 65536 x 65536 would be 8 GiB of pixels: rejected from the header alone.
    assert_eq!(
        with(8, &[0, 0, 1, 0, 0, 0, 1, 0]),
        Err(DepthV2Error::BadShape {
            width: 65536,
            height: 65536
        })
    );
    assert_eq!(
        with(40, &[0x0d, 0, 0, 0]),
        Err(DepthV2Error::PayloadLength {
            declared: 13,
            actual: 12
        })
    );
    let mut extra = good.clone();
    extra.extend_from_slice(&[0; 4]);
    assert_eq!(
        depth_v2::decode(&extra),
        Err(DepthV2Error::PayloadLength {
            declared: 12,
            actual: 16
        })
    );
    // A 1x1 raw frame is 2 bytes; a header declaring 4 is larger than raw can ever be.
    let mut raw = hex("53 4b 44 32 01 00 00 00 01 00 00 00 01 00 00 00");
    raw.extend_from_slice(&[0; 24]);
    raw.extend_from_slice(&[4, 0, 0, 0, 1, 2, 3, 4]);
    assert_eq!(
        depth_v2::decode(&raw),
        Err(DepthV2Error::PayloadTooLarge {
            declared: 4,
            max: 2
        })
    );
}

#[test]
fn a_corrupt_payload_is_reported_with_its_codec() {
    let mut message = hex(EXAMPLE_HEX);
    message[44..48].copy_from_slice(&[0xff; 4]);
    assert!(matches!(
        depth_v2::decode(&message),
        Err(DepthV2Error::Payload {
            codec: Codec::Rvl,
            ..
        })
    ));
}

/// The spec's example block (docs/protocol.md, section 5.5), so the document cannot drift from
/// the code.
#[test]
fn the_spec_document_shows_the_same_example_bytes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    let spec = std::fs::read_to_string(path).unwrap();
    let example = &spec[spec.find("Example: a depth_v2 message").unwrap()..];
    let block = example.split("```text").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    // Each line: hex bytes, then a comment after three spaces.
    let bytes: Vec<u8> = block
        .lines()
        .flat_map(|line| line.split("   ").next().unwrap_or("").split_whitespace())
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect();
    assert_eq!(bytes, hex(EXAMPLE_HEX));
}

/// The MEDANS payload of the 3 x 2 example: too small for tables to pay, so the encoder stores
/// it (mode 0x01, then the pixels as u16 LE), as docs/codecs.md describes.
#[test]
fn the_medans_payload_of_the_small_example_is_stored() {
    let message = depth_v2::encode(&example(), Codec::MedAns);
    assert_eq!(
        &message[depth_v2::HEADER_LEN..],
        &hex("01 00 00 e8 03 e9 03 88 13 00 00 ff ff")[..]
    );
}

/// The slope of docs/codecs.md's worked examples, with a hole region: the modelled mode. The
/// bytes come from this crate's encoder, checked against the layout in docs/codecs.md ("Worked
/// example"); the test pins the format so that an encoder change cannot silently change what is
/// on the wire.
fn slope() -> CapturedFrame {
    let pixels = sk2_testkit::worked_example_slope();
    CapturedFrame {
        depth: DepthFrame::new(sk2_testkit::SLOPE_WIDTH, sk2_testkit::SLOPE_HEIGHT, pixels)
            .unwrap(),
        sequence: 0,
        device_timestamp: 0,
        capture_time_ns: 0,
    }
}

const MEDANS_SLOPE_HEX: &str = "
    00
    00 00 08 00 cd 09 00 00 00 00 00 b3 06 08 00 92 05 00 00 00 00 00 ee 0a 00 00 00 00 00
    0a 99 03 99 03 00 00 00 00 00 82 08 00 cc 01 0a a4 02 00 00 c9 04 00 00 00 00 00 93 09
    08 f0 01 da 04 00 00 00 00 00 b6 09
    1f e7 0c 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 99 03
    18 00 00 00
    9e 57 06 00 7b 93 03 00 76 12 ef eb 83 d5 33 c1 3a 24 d6 c1 cb 54 24 fe
    d0 01";

#[test]
fn the_medans_payload_of_a_slope_is_stable() {
    let message = depth_v2::encode(&slope(), Codec::MedAns);
    let payload = &message[depth_v2::HEADER_LEN..];
    let printed: Vec<String> = payload.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        payload,
        &hex(MEDANS_SLOPE_HEX)[..],
        "actual: {}",
        printed.join(" ")
    );
    assert_eq!(depth_v2::decode(&message).unwrap().1, slope().depth);
}

/// The same slope in MEDHUF, as docs/codecs.md lays it out ("Worked example" of MEDHUF):
/// mode, the 14 code tables, the three stream lengths, the four streams.
const MEDHUF_SLOPE_HEX: &str = "
    00
    00 00 08 00 00 00 22 0a 34 00 00 33 40 00 00 00 00 00 0a 44 40 00 34 30 00 08 20 00 00 20
    05 20 00 02 1e 00 30 00 00 30 00 00 00 00 00 00 00 00 00 20
    0a 00 00 00 08 00 00 00 07 00 00 00
    44 9f 98 c6 42 b1 18 8b 1f 01
    8b 61 18 86 b1 30 c4 00
    6d 08 63 18 86 31 03
    16 82 d5 78 c8 ad 46 00";

#[test]
fn the_medhuf_payload_of_a_slope_is_stable() {
    let message = depth_v2::encode(&slope(), Codec::MedHuf);
    let payload = &message[depth_v2::HEADER_LEN..];
    let printed: Vec<String> = payload.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        payload,
        &hex(MEDHUF_SLOPE_HEX)[..],
        "actual: {}",
        printed.join(" ")
    );
    assert_eq!(depth_v2::decode(&message).unwrap().1, slope().depth);
}
