//! A JPEG file alone, decoded to RGB: the decoder without the envelope in front, so the fuzzer
//! spends its time inside the JPEG.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::color::jpeg_shape;
use sk2_proto::color_image;

fuzz_target!(|data: &[u8]| {
    if let Ok(rgb) = color_image::decode_jpeg(data) {
        // Cannot fail: a decoded JPEG has a readable frame header.
        let (width, height) = jpeg_shape(data).unwrap();
        assert_eq!(rgb.shape(), &[height, width, 3]);
    }
});
