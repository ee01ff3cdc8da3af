//! Discovery facts shared by servers (which announce) and clients (which browse): the DNS-SD
//! service type, the names built from it, and the informative TXT keys (`docs/protocol.md`,
//! section 2).
//!
//! Only names live here; announcing and browsing (mDNS on sockets) belong to the server and client
//! crates.

/// The DNS-SD service type of streamkinect2 servers, fully qualified, as the original announces
/// it. A server's full name is `<instance name>.` followed by this.
pub const SERVICE_TYPE: &str = "_kinect2._tcp.local.";

/// TXT key carrying the protocol version the server speaks (`"1"`). Informative: the original
/// leaves TXT empty, so readers must not depend on it.
pub const TXT_VERSION: &str = "version";

/// TXT key carrying the codec the server uses on `depth_v2` (`"rvl"`, `"medans"`, ...), the same
/// name as its device records' [`crate::depth_v2::DEVICE_CODEC_KEY`]. Informative, like
/// [`TXT_VERSION`]; absent when the server does not offer `depth_v2`.
pub const TXT_CODEC: &str = "codec";

/// TXT key present, with the value `"1"`, when the server requires CurveZMQ (`docs/security.md`):
/// clients without keys cannot talk to it. Absent on an open server.
pub const TXT_SECURE: &str = "secure";

/// TXT key carrying a secure server's CURVE public key, as 40 Z85 characters. Informative only:
/// mDNS is not authenticated, so a client must get the key it trusts from the server's owner,
/// and can compare it with this one.
pub const TXT_SERVER_KEY: &str = "serverkey";

/// The full DNS-SD name of an instance: `Bob's Kinect` -> `Bob's Kinect._kinect2._tcp.local.`.
/// A name that already is a full name is returned as is.
pub fn full_name(instance: &str) -> String {
    if instance.ends_with(SERVICE_TYPE) {
        instance.to_owned()
    } else {
        format!("{instance}.{SERVICE_TYPE}")
    }
}

/// The instance name of a full DNS-SD name: `Bob's Kinect._kinect2._tcp.local.` ->
/// `Bob's Kinect`. A name of another service type is returned as is.
pub fn instance_name(full_name: &str) -> &str {
    full_name
        .strip_suffix(SERVICE_TYPE)
        .map(|name| name.strip_suffix('.').unwrap_or(name))
        .unwrap_or(full_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_instance_names_convert_both_ways() {
        let full = "Bob's Kinect._kinect2._tcp.local.";
        assert_eq!(instance_name(full), "Bob's Kinect");
        assert_eq!(full_name("Bob's Kinect"), full);
        assert_eq!(full_name(full), full);
        assert_eq!(instance_name("odd"), "odd");
    }

    #[test]
    fn the_codec_txt_key_is_the_device_record_key() {
        assert_eq!(TXT_CODEC, crate::depth_v2::DEVICE_CODEC_KEY);
    }
}
