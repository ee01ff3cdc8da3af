//! What a server does with whatever a client sends on the control socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::Request;

fuzz_target!(|data: &[u8]| {
    let frames = sk2_fuzz::split_frames(data);
    if let Ok(request) = Request::decode(&frames) {
        // Whatever parses must survive its own encoding unchanged.
        assert_eq!(Request::decode(&request.encode()), Ok(request));
    }
});
