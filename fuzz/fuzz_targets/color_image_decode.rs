//! A whole `color` message as a client receives it, decoded to RGB: envelope, JPEG size check,
//! then the JPEG decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::color_image;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, rgb)) = color_image::decode(data) {
        assert_eq!(
            rgb.shape(),
            &[header.height as usize, header.width as usize, 3]
        );
    }
});
