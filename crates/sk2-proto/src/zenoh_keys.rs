//! The Zenoh key space of streamkinect2 (docs/protocol.md, section 10): where a
//! bridge publishes a server's depth messages and its `me`, as pure functions shared by the bridge
//! and its clients. No Zenoh here: only the strings.
//!
//! ```text
//! kinect2/<server-id>                       liveliness token: the server is reachable
//! kinect2/<server-id>/me                    queryable: the server's `me` JSON (section 3)
//! kinect2/<server-id>/<sensor-id>/depth_v2  every depth_v2 message, bytes unchanged (section 5)
//! kinect2/<server-id>/<sensor-id>/depth     an original server's depth messages, unchanged
//! ```
//!
//! Ids become one key chunk each through [`encode_chunk`]: bytes outside `A-Z a-z 0-9 - _ . ~ +`
//! are written `%XX` (upper-case hex), so a chunk never holds `/`, a wildcard (`*`, `$`) or a
//! character Zenoh reserves (`?`, `#`), and [`decode_chunk`] gives the id back. The 32 hex digits
//! of a sensor id stay as they are:
//!
//! ```
//! use sk2_proto::zenoh_keys::{depth_key, encode_chunk, server_key};
//!
//! assert_eq!(encode_chunk("Kinect on lab-3"), "Kinect%20on%20lab-3");
//! let key = depth_key("lab-3", "0123456789abcdef0123456789abcdef", "depth_v2");
//! assert_eq!(key, "kinect2/lab-3/0123456789abcdef0123456789abcdef/depth_v2");
//! assert_eq!(server_key("lab-3"), "kinect2/lab-3");
//! ```

/// First chunk of every key.
pub const KEY_ROOT: &str = "kinect2";
/// Last chunk of a server's `me` queryable.
pub const ME_CHUNK: &str = "me";
/// Matches every server's liveliness token: what a browser subscribes to.
pub const ALL_SERVERS: &str = "kinect2/*";

/// Whether `byte` stays as it is in a key chunk.
fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'+')
}

/// `id` as one key chunk: bytes other than `A-Z a-z 0-9 - _ . ~ +` as `%XX`; an empty id (a key
/// chunk cannot be empty) as [`EMPTY_CHUNK`].
pub fn encode_chunk(id: &str) -> String {
    if id.is_empty() {
        return EMPTY_CHUNK.to_owned();
    }
    let mut chunk = String::with_capacity(id.len());
    for &byte in id.as_bytes() {
        if is_plain(byte) {
            chunk.push(char::from(byte));
        } else {
            chunk.push_str(&format!("%{byte:02X}"));
        }
    }
    chunk
}

/// The chunk of an empty id (a key chunk cannot be empty): `%`, which [`encode_chunk`] never
/// produces otherwise (a literal `%` is `%25`).
pub const EMPTY_CHUNK: &str = "%";

/// The id a chunk made by [`encode_chunk`] stands for; `None` if it is not such a chunk.
pub fn decode_chunk(chunk: &str) -> Option<String> {
    if chunk == EMPTY_CHUNK {
        return Some(String::new());
    }
    let bytes = chunk.as_bytes();
    let mut id = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = chunk.get(index + 1..index + 3)?;
                if !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
                {
                    return None;
                }
                let byte = u8::from_str_radix(hex, 16).ok()?;
                if is_plain(byte) {
                    return None; // not how encode_chunk writes it
                }
                id.push(byte);
                index += 3;
            }
            byte if is_plain(byte) => {
                id.push(byte);
                index += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(id).ok()
}

/// `kinect2/<server-id>`: the key of the server's liveliness token.
pub fn server_key(server_id: &str) -> String {
    format!("{KEY_ROOT}/{}", encode_chunk(server_id))
}

/// `kinect2/<server-id>/me`: the key of the server's `me` queryable.
pub fn me_key(server_id: &str) -> String {
    format!("{}/{ME_CHUNK}", server_key(server_id))
}

/// `kinect2/<server-id>/<sensor-id>/<endpoint>`: the key a sensor's messages of the depth
/// endpoint `endpoint` (`depth_v2` or `depth`) are published on.
pub fn depth_key(server_id: &str, sensor_id: &str, endpoint: &str) -> String {
    format!(
        "{}/{}/{}",
        server_key(server_id),
        encode_chunk(sensor_id),
        encode_chunk(endpoint)
    )
}

/// The server id of a liveliness key `kinect2/<server-id>`; `None` for any other key.
pub fn server_of_key(key: &str) -> Option<String> {
    let chunk = key.strip_prefix(KEY_ROOT)?.strip_prefix('/')?;
    if chunk.contains('/') {
        return None;
    }
    decode_chunk(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_and_plain_names_stay_as_they_are() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(encode_chunk(id), id);
        assert_eq!(encode_chunk("lab-3_b.x~y+z"), "lab-3_b.x~y+z");
    }

    #[test]
    fn reserved_characters_are_escaped_and_come_back() {
        for id in [
            "a/b",
            "*",
            "$*",
            "**",
            "?q#f",
            "100%",
            "Kinect on lab",
            "caf\u{e9}",
            "",
        ] {
            let chunk = encode_chunk(id);
            assert!(!chunk.is_empty());
            assert!(!chunk.contains(['/', '*', '$', '?', '#', ' ']), "{chunk}");
            assert_eq!(decode_chunk(&chunk).as_deref(), Some(id), "{chunk}");
        }
        assert_eq!(encode_chunk("a/b*"), "a%2Fb%2A");
    }

    #[test]
    fn chunks_not_made_by_encode_are_refused() {
        for chunk in ["%2", "%zz", "%2f", "%41", "a b", "a/b", "%%"] {
            assert_eq!(decode_chunk(chunk), None, "{chunk}");
        }
    }

    #[test]
    fn keys_are_laid_out_as_the_spec_says() {
        assert_eq!(server_key("s 1"), "kinect2/s%201");
        assert_eq!(me_key("s1"), "kinect2/s1/me");
        assert_eq!(depth_key("s1", "d/1", "depth"), "kinect2/s1/d%2F1/depth");
        assert_eq!(server_of_key("kinect2/s%201").as_deref(), Some("s 1"));
        assert_eq!(server_of_key("kinect2/s1/me"), None);
        assert_eq!(server_of_key("other/s1"), None);
        assert_eq!(server_of_key("kinect2s1"), None);
    }
}
