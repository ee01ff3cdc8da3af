//! A whole `ir_v2` message as a client receives it: the `depth_v2` envelope around infrared
//! amplitudes in any `u16` codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::ir_v2;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, ir)) = ir_v2::decode(data) {
        assert_eq!(
            (ir.width() as u64, ir.height() as u64),
            (u64::from(header.width), u64::from(header.height))
        );
    }
});
