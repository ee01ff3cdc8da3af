//! What a client does with whatever a server sends back: `error`, `pong` and the `me` parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::Reply;

fuzz_target!(|data: &[u8]| {
    let frames = sk2_fuzz::split_frames(data);
    if let Ok(reply) = Reply::decode(&frames) {
        // A parsed reply re-encodes to something that parses back to the same value (unknown
        // keys are dropped on the way, which is why the bytes themselves may differ).
        let again = Reply::decode(&reply.encode());
        assert_eq!(again.as_ref(), Ok(&reply), "re-encoding changed the reply");
    }
});
