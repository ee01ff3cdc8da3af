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
                if let Ok((header, ir)) = message.decode_ir() {
                    assert_eq!(ir.width(), header.width as usize);
                }
                if let Ok((header, jpeg)) = message.color_jpeg() {
                    assert!(header.width > 0 && !jpeg.is_empty());
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
