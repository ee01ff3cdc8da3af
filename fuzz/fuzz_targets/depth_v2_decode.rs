//! A whole `depth_v2` message as a client receives it: header plus any codec's payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::depth_v2;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, frame)) = depth_v2::decode(data) {
        assert_eq!(
            (frame.width() as u64, frame.height() as u64),
            (u64::from(header.width), u64::from(header.height))
        );
    }
});
