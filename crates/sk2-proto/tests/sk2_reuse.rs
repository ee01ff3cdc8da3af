//! The fast paths of the sk2 codec (reused buffers, a per-thread LZ4 table, block-wise packing)
//! change no byte on the wire: messages equal what `lz4_flex::block::compress_prepend_size` (the
//! layout Python's `lz4.block.compress(raw, store_size=True)` also produces) makes of the packed
//! image, whatever the buffers held before.

use std::path::Path;

use proptest::prelude::*;
use sk2_proto::sk2;
use sk2_proto::DepthFrame;

/// An even width up to 80 (so pixel counts both below and above the 32-pixel packing block and
/// with every remainder occur), a height, and pixels of any value.
fn frames() -> impl Strategy<Value = DepthFrame> {
    (1usize..=40, 1usize..=24).prop_flat_map(|(half_width, height)| {
        let width = half_width * 2;
        proptest::collection::vec(any::<u16>(), width * height)
            .prop_map(move |pixels| DepthFrame::new(width, height, pixels).unwrap())
    })
}

/// The original's packing (docs/protocol.md, section 4), written the plainest way.
fn reference_raw(depth_mm: &[u16]) -> Vec<u8> {
    let mut raw: Vec<u8> = depth_mm.iter().map(|&d| (d >> 4) as u8).collect();
    raw.extend(
        depth_mm
            .chunks_exact(2)
            .map(|p| (((p[0] & 0xF) << 4) | (p[1] & 0xF)) as u8),
    );
    raw
}

proptest! {
    #[test]
    fn messages_from_a_reused_buffer_equal_the_plain_lz4_layout(
        first in frames(),
        second in frames(),
    ) {
        // One buffer for both frames, so the second is packed over the first one's leftovers.
        let mut raw = Vec::new();
        for frame in [&first, &second] {
            let message = sk2::encode_with(frame, &mut raw).unwrap();
            let expected = lz4_flex::block::compress_prepend_size(&reference_raw(frame.depth_mm()));
            prop_assert_eq!(&message, &expected);
            prop_assert_eq!(message.capacity(), message.len(), "no slack kept in queued messages");
        }
    }

    #[test]
    fn decoding_into_a_reused_buffer_equals_a_fresh_decode(first in frames(), second in frames()) {
        let mut raw = Vec::new();
        for frame in [&first, &second, &first] {
            let message = sk2::encode(frame).unwrap();
            let fresh = sk2::decode(&message, frame.width(), frame.height()).unwrap();
            let reused = sk2::decode_with(&message, frame.width(), frame.height(), &mut raw).unwrap();
            prop_assert_eq!(&reused, &fresh);
            let mut unpacked = vec![0; frame.depth_mm().len()];
            sk2::unpack(&reference_raw(frame.depth_mm()), &mut unpacked);
            prop_assert_eq!(reused.depth_mm(), &unpacked[..]);
        }
    }

    #[test]
    fn pack_equals_the_reference_packing(frame in frames(), junk in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let mut raw = junk;
        sk2::pack(frame.depth_mm(), &mut raw);
        prop_assert_eq!(raw, reference_raw(frame.depth_mm()));
    }
}

#[test]
fn python_fixtures_decode_into_a_dirty_oversized_buffer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (name, width, height) in [("noise", 16, 8), ("scene", 64, 48)] {
        let stem = dir.join(format!("{name}-{width}x{height}"));
        let message = std::fs::read(stem.with_extension("sk2")).unwrap();
        let input: Vec<u16> = std::fs::read(stem.with_extension("u16"))
            .unwrap()
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        let expected: Vec<u16> = input.iter().map(|v| v & 0x0FFF).collect();
        let mut raw = vec![0xA5; 100_000];
        let decoded = sk2::decode_with(&message, width, height, &mut raw).unwrap();
        assert_eq!(decoded.depth_mm(), &expected[..], "{name}");
        // Python's prefix and ours agree, and so do the bytes: both sides use plain LZ4 blocks.
        let ours =
            sk2::encode_with(&DepthFrame::new(width, height, input).unwrap(), &mut raw).unwrap();
        assert_eq!(&ours[..4], &message[..4], "{name}: size prefix");
    }
}

#[test]
fn a_512x424_message_from_a_reused_buffer_keeps_the_documented_prefix() {
    let mut raw = vec![0xFF; 7];
    let frame = DepthFrame::new(
        512,
        424,
        (0..512 * 424).map(|i| (i % 5000) as u16).collect(),
    )
    .unwrap();
    for _ in 0..2 {
        let message = sk2::encode_with(&frame, &mut raw).unwrap();
        assert_eq!(&message[..4], &[0x00, 0xF8, 0x04, 0x00]);
    }
}
