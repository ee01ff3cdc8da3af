//! Properties of the sk2 format for arbitrary frames, and its handling of broken messages.

use proptest::prelude::*;
use sk2_proto::sk2::{self, Sk2Error};
use sk2_proto::DepthFrame;

/// An even width, a height and matching pixels drawn from `values`.
fn frames(values: impl Strategy<Value = u16> + Clone) -> impl Strategy<Value = DepthFrame> {
    (1usize..=32, 1usize..=32).prop_flat_map(move |(half_width, height)| {
        let width = half_width * 2;
        proptest::collection::vec(values.clone(), width * height)
            .prop_map(move |pixels| DepthFrame::new(width, height, pixels).unwrap())
    })
}

proptest! {
    #[test]
    fn depths_below_4096_round_trip_exactly(frame in frames(0u16..4096)) {
        let message = sk2::encode(&frame).unwrap();
        let decoded = sk2::decode(&message, frame.width(), frame.height()).unwrap();
        prop_assert_eq!(decoded, frame);
    }

    /// Documented loss of the original format: bits 12..15 are dropped.
    #[test]
    fn any_depth_decodes_to_its_low_12_bits(frame in frames(any::<u16>())) {
        let message = sk2::encode(&frame).unwrap();
        let decoded = sk2::decode(&message, frame.width(), frame.height()).unwrap();
        let expected: Vec<u16> = frame.depth_mm().iter().map(|v| v & 0x0FFF).collect();
        prop_assert_eq!(decoded.depth_mm(), &expected[..]);
    }

    #[test]
    fn truncated_or_corrupted_messages_never_panic(
        frame in frames(any::<u16>()),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let message = sk2::encode(&frame).unwrap();
        let truncated = &message[..cut.index(message.len())];
        prop_assert!(sk2::decode(truncated, frame.width(), frame.height()).is_err());
        let mut corrupted = message.clone();
        let at = flip.index(corrupted.len());
        corrupted[at] ^= mask;
        // Corruption may still decode (a flipped literal is a valid block); it must not panic,
        // and a success must be a frame of the requested shape.
        if let Ok(decoded) = sk2::decode(&corrupted, frame.width(), frame.height()) {
            prop_assert_eq!((decoded.width(), decoded.height()), (frame.width(), frame.height()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = sk2::decode(&bytes, 4, 2);
        let _ = sk2::decode(&bytes, 512, 424);
    }
}

#[test]
fn a_message_for_another_shape_is_a_size_mismatch() {
    let message = sk2::encode(&DepthFrame::zeros(4, 2).unwrap()).unwrap();
    assert!(matches!(
        sk2::decode(&message, 512, 424),
        Err(Sk2Error::SizeMismatch {
            declared: 12,
            expected: 325_632,
            ..
        })
    ));
}

#[test]
fn a_block_shorter_than_declared_is_an_error() {
    // Prefix declares 12 bytes but the block holds a single literal byte.
    let message = [0x0c, 0, 0, 0, 0x10, 0xAA];
    assert!(matches!(sk2::decode(&message, 4, 2), Err(Sk2Error::Lz4(_))));
    assert!(matches!(
        sk2::decode(&[0x0c, 0], 4, 2),
        Err(Sk2Error::Truncated(2))
    ));
}

#[test]
fn empty_and_oversized_shapes_are_rejected() {
    assert!(matches!(
        sk2::decode(&[0; 8], 0, 4),
        Err(Sk2Error::Shape(_))
    ));
    assert!(matches!(
        sk2::decode(&[0; 8], 1 << 20, 1 << 20),
        Err(Sk2Error::Shape(_))
    ));
}
