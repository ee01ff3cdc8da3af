//! A whole `color` message as a client receives it: the header, then the JPEG's marker segments
//! up to its frame header (what is read before any JPEG decoder runs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::color;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, jpeg)) = color::decode(data) {
        let (width, height) = color::jpeg_shape(jpeg).expect("decode checked the frame header");
        assert_eq!(
            (width as u64, height as u64),
            (u64::from(header.width), u64::from(header.height))
        );
    }
    let _ = color::jpeg_shape(data);
});
