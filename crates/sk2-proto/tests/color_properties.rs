//! The `color` reader against broken input: truncated, mutated and random messages give a typed
//! error, never a panic, and whatever it accepts has a JPEG frame header of the header's size.

use proptest::prelude::*;
use sk2_proto::color::{self, JpegImage};
use sk2_proto::CapturedColorFrame;

/// SOI, an APP0 segment, SOF0 of `width x height` with three components, then filler standing
/// for the scan data and EOI.
fn jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x06, b'J', b'F', b'I', b'F'];
    bytes.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08]);
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    bytes.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34, 0xFF, 0xD9]);
    bytes
}

fn message(width: u16, height: u16, sequence: u64) -> Vec<u8> {
    color::encode(&CapturedColorFrame {
        jpeg: JpegImage::new(jpeg(width, height)).unwrap(),
        sequence,
        device_timestamp: sequence,
        capture_time_ns: sequence,
    })
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((header, payload)) = color::decode(bytes) {
        let shape = color::jpeg_shape(payload).unwrap();
        prop_assert_eq!(
            (shape.0 as u32, shape.1 as u32),
            (header.width, header.height)
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn well_formed_messages_round_trip(width in 1u16..=4096, height in 1u16..=4096, sequence: u64) {
        let bytes = message(width, height, sequence);
        let (header, payload) = color::decode(&bytes).unwrap();
        prop_assert_eq!((header.width, header.height), (u32::from(width), u32::from(height)));
        prop_assert_eq!(header.sequence, sequence);
        prop_assert_eq!(payload, &jpeg(width, height)[..]);
    }

    #[test]
    fn mutated_and_truncated_messages_never_panic(
        width in 1u16..64,
        height in 1u16..64,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = message(width, height, 1);
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        let cut = cut % (bytes.len() + 1);
        check(&bytes[..cut])?;
        check(&bytes)?;
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check(&bytes)?;
        let _ = color::jpeg_shape(&bytes);
    }
}
