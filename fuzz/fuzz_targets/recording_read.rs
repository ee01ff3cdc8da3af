//! An MCAP recording as `kinect-server --source replay` and `kinect-codec` read it: every record,
//! then every depth, infrared and colour message decoded. Whatever the bytes, the reader ends with messages or a typed
//! error, never a panic, and stops after its first error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_record::RecordingReader;

fuzz_target!(|data: &[u8]| {
    let mut reader = RecordingReader::new(data);
    let mut failed = false;
    for message in reader.by_ref() {
        assert!(!failed, "a message after an error");
        match message {
            Ok(message) => {
                if let Ok(frame) = message.decode() {
                    assert!(frame.depth.width() * frame.depth.height() > 0);
                }
                if let Ok(frame) = message.decode_ir() {
                    assert!(frame.ir.width() * frame.ir.height() > 0);
                }
                if let Ok(frame) = message.decode_color() {
                    assert!(frame.jpeg.width() * frame.jpeg.height() > 0);
                }
            }
            Err(error) => {
                // Every error renders (it names what and where).
                assert!(!error.to_string().is_empty());
                failed = true;
            }
        }
    }
    assert!(reader.offset() <= data.len() as u64);
});
