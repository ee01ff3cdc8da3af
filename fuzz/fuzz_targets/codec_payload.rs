//! Every codec of `depth_v2` (`Codec::ALL`, so codecs added later are covered without editing
//! this file) on an arbitrary payload behind a valid header. Plain `depth_v2_decode` rarely gets
//! past the header checks; this target spends its time inside the payload decoders.
//!
//! Input: byte 0 picks the codec, bytes 1..3 the width and 3..5 the height (`u16` LE, kept small
//! so runs stay fast), the rest is the payload. A successful decode must round-trip exactly: the
//! codecs are lossless.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::depth_v2::{self, Codec, FrameHeader};
use sk2_proto::CapturedFrame;

/// Largest side the target builds, so one input cannot take seconds; shapes at the format's
/// limits are the header target's job.
const MAX_SIDE_PX: u16 = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((head, payload)) = data.split_first_chunk::<5>() else {
        return;
    };
    let codec = Codec::ALL[usize::from(head[0]) % Codec::ALL.len()];
    let width = u16::from_le_bytes([head[1], head[2]]) % MAX_SIDE_PX + 1;
    let height = u16::from_le_bytes([head[3], head[4]]) % MAX_SIDE_PX + 1;
    let Ok(payload_len) = u32::try_from(payload.len()) else {
        return;
    };
    let header = FrameHeader {
        codec,
        width: u32::from(width),
        height: u32::from(height),
        sequence: 7,
        device_timestamp: 11,
        capture_time_ns: 13,
        payload_len,
    };
    let mut message = Vec::with_capacity(depth_v2::HEADER_LEN + payload.len());
    header.write_to(&mut message);
    message.extend_from_slice(payload);
    if let Ok((decoded_header, frame)) = depth_v2::decode(&message) {
        assert_eq!(decoded_header, header);
        let captured = CapturedFrame {
            depth: frame,
            sequence: header.sequence,
            device_timestamp: header.device_timestamp,
            capture_time_ns: header.capture_time_ns,
        };
        let again = depth_v2::encode(&captured, codec);
        let (_, round_trip) = depth_v2::decode(&again).expect("our own encoding decodes");
        assert_eq!(round_trip, captured.depth, "{codec:?} is not lossless");
    }
});
