//! The `depth_v2` header reader, which a client runs on every message before the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::depth_v2::{self, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = depth_v2::decode_header(data) {
        // An accepted header writes back to the same 44 bytes.
        let mut written = Vec::new();
        header.write_to(&mut written);
        assert_eq!(&written[..], &data[..HEADER_LEN]);
        assert_eq!(header.payload_len as usize, data.len() - HEADER_LEN);
    }
});
