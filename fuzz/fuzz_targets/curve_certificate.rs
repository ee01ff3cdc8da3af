//! What the key tools do with a key file (docs/security.md): read with `decode_certificate`,
//! which must never panic, and whose keys must survive their own encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sk2_proto::curve::{self, KeyPair};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = curve::z85_decode(&text);
    if let Ok(certificate) = curve::decode_certificate(&text) {
        let again = match certificate.secret.clone() {
            Some(secret) => curve::encode_secret_certificate(
                &KeyPair {
                    public: certificate.public,
                    secret,
                },
                "",
            ),
            None => curve::encode_public_certificate(&certificate.public, ""),
        };
        assert_eq!(curve::decode_certificate(&again), Ok(certificate));
    }
});
