//! Properties of every `depth_v2` codec for arbitrary frames, and of the decoder for broken input.

use proptest::prelude::*;
use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::{CapturedFrame, DepthFrame};

/// Any width and height (odd or even) and pixels drawn from `values`.
fn frames(values: impl Strategy<Value = u16> + Clone) -> impl Strategy<Value = DepthFrame> {
    (1usize..=40, 1usize..=40).prop_flat_map(move |(width, height)| {
        proptest::collection::vec(values.clone(), width * height)
            .prop_map(move |pixels| DepthFrame::new(width, height, pixels).unwrap())
    })
}

/// Pixels like a depth camera's: mostly smooth, with holes, far values and the odd extreme.
fn depth_like() -> impl Strategy<Value = u16> + Clone {
    prop_oneof![
        4 => Just(0u16),
        8 => 500u16..520,
        4 => 1000u16..9000,
        1 => Just(u16::MAX),
        1 => any::<u16>(),
    ]
}

fn captured(depth: DepthFrame, sequence: u64) -> CapturedFrame {
    CapturedFrame {
        depth,
        sequence,
        device_timestamp: sequence.wrapping_mul(3),
        capture_time_ns: sequence.wrapping_mul(1_000_003),
    }
}

fn assert_round_trip(frame: &CapturedFrame) -> Result<(), TestCaseError> {
    for &codec in Codec::ALL {
        let message = depth_v2::encode(frame, codec);
        let (header, decoded) = depth_v2::decode(&message)
            .map_err(|error| TestCaseError::fail(format!("{codec}: {error}")))?;
        prop_assert_eq!(&decoded, &frame.depth, "codec {}", codec);
        prop_assert_eq!(header.codec, codec);
        prop_assert_eq!(header.sequence, frame.sequence);
        prop_assert_eq!(header.device_timestamp, frame.device_timestamp);
        prop_assert_eq!(header.capture_time_ns, frame.capture_time_ns);
        prop_assert_eq!(
            header.payload_len as usize,
            message.len() - depth_v2::HEADER_LEN
        );
        prop_assert!(
            message.len() - depth_v2::HEADER_LEN
                <= codec.max_payload_len(frame.depth.depth_mm().len())
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_u16_frames_round_trip_exactly(frame in frames(any::<u16>()), seq in any::<u64>()) {
        assert_round_trip(&captured(frame, seq))?;
    }

    #[test]
    fn depth_like_frames_round_trip_exactly(frame in frames(depth_like()), seq in any::<u64>()) {
        assert_round_trip(&captured(frame, seq))?;
    }

    #[test]
    fn all_zero_and_all_max_frames_round_trip(width in 1usize..300, height in 1usize..50) {
        assert_round_trip(&captured(DepthFrame::zeros(width, height).unwrap(), 0))?;
        let max = DepthFrame::new(width, height, vec![u16::MAX; width * height]).unwrap();
        assert_round_trip(&captured(max, u64::MAX))?;
    }

    #[test]
    fn mutated_and_truncated_messages_never_panic(
        frame in frames(depth_like()),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 1..8),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8),
    ) {
        for &codec in Codec::ALL {
            let message = depth_v2::encode(&captured(frame.clone(), 1), codec);
            for cut in &cuts {
                let truncated = &message[..cut.index(message.len())];
                // The header's payload length no longer matches: always an error.
                prop_assert!(depth_v2::decode(truncated).is_err());
            }
            let mut corrupted = message.clone();
            for (at, mask) in &flips {
                corrupted[at.index(message.len())] ^= mask;
                // A flip may still decode (a changed delta is a valid delta): it must not panic,
                // and a success must be a frame of exactly the header's shape.
                if let Ok((header, decoded)) = depth_v2::decode(&corrupted) {
                    prop_assert_eq!(decoded.width() as u32, header.width);
                    prop_assert_eq!(decoded.height() as u32, header.height);
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        width in 1u32..64, height in 1u32..64, codec_id in 0u8..4,
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut message = b"SKD2".to_vec();
        message.extend_from_slice(&[1, codec_id, 0, 0]);
        message.extend_from_slice(&width.to_le_bytes());
        message.extend_from_slice(&height.to_le_bytes());
        message.extend_from_slice(&[0; 24]);
        message.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        message.extend_from_slice(&payload);
        if let Ok((_, decoded)) = depth_v2::decode(&message) {
            prop_assert_eq!(decoded.depth_mm().len(), (width * height) as usize);
        }
    }
}

#[test]
fn thousands_of_mutated_messages_of_a_realistic_frame_never_panic() {
    // A 64 x 48 frame with a hole region, a slope and far values, mutated deterministically.
    let pixels: Vec<u16> = (0..64 * 48u32)
        .map(|i| {
            let (row, col) = (i / 64, i % 64);
            if col < 6 && row > 20 {
                0
            } else {
                (800 + row * 150 + col * 3 + (i * 7919) % 5) as u16
            }
        })
        .collect();
    let frame = captured(DepthFrame::new(64, 48, pixels).unwrap(), 42);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded_ok = 0;
    for &codec in Codec::ALL {
        let message = depth_v2::encode(&frame, codec);
        for _ in 0..3000 {
            let mut mutated = message.clone();
            match next() % 4 {
                0 => mutated.truncate((next() as usize) % message.len()),
                1 => {
                    let at = (next() as usize) % message.len();
                    mutated[at] ^= (next() % 255 + 1) as u8;
                }
                2 => {
                    let at = depth_v2::HEADER_LEN
                        + (next() as usize) % (message.len() - depth_v2::HEADER_LEN);
                    mutated[at] = next() as u8;
                }
                _ => mutated.extend_from_slice(&next().to_le_bytes()[..(next() % 8 + 1) as usize]),
            }
            if let Ok((header, decoded)) = depth_v2::decode(&mutated) {
                decoded_ok += 1;
                assert_eq!(decoded.depth_mm().len() as u64, header.pixels());
            }
        }
    }
    // Most mutations must be caught; a decoder that accepted everything would fail here.
    assert!(
        decoded_ok < 3000 * Codec::ALL.len() / 2,
        "{decoded_ok} mutated messages decoded"
    );
}
