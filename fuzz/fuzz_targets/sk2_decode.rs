//! The original depth format's decoder, at the shapes a reader uses (4x2 from the worked
//! example, 512x424 of the Kinect v2) and at a shape taken from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::sk2;

fuzz_target!(|data: &[u8]| {
    for (width, height) in [(4, 2), (512, 424)] {
        check(data, width, height);
    }
    if let Some((width, height, message)) = sk2_fuzz::split_shape(data) {
        check(message, width, height);
    }
});

fn check(message: &[u8], width: usize, height: usize) {
    if let Ok(frame) = sk2::decode(message, width, height) {
        assert_eq!((frame.width(), frame.height()), (width, height));
        // The format keeps 12 bits, so whatever decodes re-encodes to a message that decodes to
        // the same frame.
        let again = sk2::encode(&frame).expect("a decoded frame has an even width");
        assert_eq!(sk2::decode(&again, width, height).as_ref(), Ok(&frame));
    }
}
