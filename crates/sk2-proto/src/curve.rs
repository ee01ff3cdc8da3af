//! CurveZMQ keys as text: Z85 (ZeroMQ RFC 32) and the key files of `docs/security.md`.
//!
//! A CURVE key is 32 bytes; in Z85 it is 40 printable characters, each 4 bytes (big-endian)
//! becoming 5 base-85 digits. Example (the client public key of libzmq's `zmq_curve(7)`):
//!
//! ```text
//! bytes  BB 88 47 1D 65 E2 65 9B 30 C5 5A 53 21 CE BB 5A
//!        AB 2B 70 A3 98 64 5C 26 DC A2 B2 FC B4 3F C5 18
//! Z85    Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID
//! ```
//!
//! Key files are ZeroMQ certificates in the ZPL text format that czmq and pyzmq
//! (`zmq.auth.create_certificates`, `zmq.auth.load_certificate`) read and write: `NAME.key` holds
//! the public key, `NAME.key_secret` the public and the secret key:
//!
//! ```text
//! #   ZeroMQ CURVE **Secret** Certificate
//! metadata
//! curve
//!     public-key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
//!     secret-key = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
//! ```
//!
//! Pure text in, keys out: reading files (and checking their permissions), generating keys and
//! checking that a secret key belongs to its public key are left to the callers, which have
//! libzmq.

use std::fmt;

/// Bytes in a CURVE key (public or secret).
pub const KEY_BYTES: usize = 32;

/// Characters in the Z85 form of a key.
pub const Z85_KEY_CHARS: usize = KEY_BYTES / 4 * 5;

/// File name suffix of a public-key certificate (`server.key`), as czmq and pyzmq name them.
pub const PUBLIC_CERTIFICATE_SUFFIX: &str = ".key";

/// File name suffix of a secret-key certificate (`server.key_secret`).
pub const SECRET_CERTIFICATE_SUFFIX: &str = ".key_secret";

/// The 85 digits of Z85, in value order (RFC 32).
const Z85_DIGITS: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Why text is not a key or a key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Z85 text of the wrong length for a key.
    #[error("a CURVE key is {Z85_KEY_CHARS} Z85 characters, not {0}")]
    Length(usize),
    /// A character outside the Z85 alphabet, or a group of five digits above 2^32 - 1.
    #[error("not Z85 text: {0:?} at character {1}")]
    NotZ85(char, usize),
    /// A key file without a `public-key` line (nor a bare Z85 key).
    #[error("no public-key in the key file")]
    NoPublicKey,
    /// A `public-key` or `secret-key` line whose value is not a key.
    #[error("bad {field} in the key file: {source}")]
    BadField {
        /// `public-key` or `secret-key`.
        field: &'static str,
        /// Why the value is not a key.
        source: Box<KeyError>,
    },
}

/// A CURVE public key: shared freely (the server's goes into its mDNS announcement).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; KEY_BYTES]);

/// A CURVE secret key. Its `Debug` form hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub [u8; KEY_BYTES]);

/// A public key and its secret key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The key to give to peers.
    pub public: PublicKey,
    /// The key that never leaves its owner.
    pub secret: SecretKey,
}

/// What a key file holds: a public key, and the secret key if it is a secret certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The `public-key` field.
    pub public: PublicKey,
    /// The `secret-key` field, if present.
    pub secret: Option<SecretKey>,
}

impl PublicKey {
    /// Parses a key from its 40 Z85 characters (surrounding white space ignored).
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        z85_key(text).map(Self)
    }

    /// The key as 40 Z85 characters.
    pub fn to_z85(&self) -> String {
        z85_encode(&self.0)
    }
}

impl SecretKey {
    /// Parses a key from its 40 Z85 characters (surrounding white space ignored).
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        z85_key(text).map(Self)
    }

    /// The key as 40 Z85 characters.
    pub fn to_z85(&self) -> String {
        z85_encode(&self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_z85())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        Self::from_z85(text)
    }
}

/// Z85 text of `bytes`, whose length is a multiple of 4 (RFC 32). Keys always are.
///
/// # Panics
///
/// If `bytes.len()` is not a multiple of 4: a caller's mistake, never input-dependent here.
pub fn z85_encode(bytes: &[u8]) -> String {
    assert!(bytes.len() % 4 == 0, "Z85 encodes whole 4-byte groups");
    let mut text = String::with_capacity(bytes.len() / 4 * 5);
    for group in bytes.chunks_exact(4) {
        let mut value = u32::from_be_bytes([group[0], group[1], group[2], group[3]]);
        let mut digits = [0u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = Z85_DIGITS[(value % 85) as usize];
            value /= 85;
        }
        text.extend(digits.iter().map(|&d| char::from(d)));
    }
    text
}

/// Bytes of Z85 `text`, whose length is a multiple of 5 (RFC 32).
pub fn z85_decode(text: &str) -> Result<Vec<u8>, KeyError> {
    if text.len() % 5 != 0 {
        return Err(KeyError::Length(text.chars().count()));
    }
    let mut bytes = Vec::with_capacity(text.len() / 5 * 4);
    for (group_index, group) in text.as_bytes().chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (offset, &byte) in group.iter().enumerate() {
            let position = group_index * 5 + offset;
            let digit = Z85_DIGITS
                .iter()
                .position(|&d| d == byte)
                .ok_or_else(|| not_z85(text, position))?;
            value = value * 85 + digit as u64;
        }
        let value = u32::try_from(value).map_err(|_| not_z85(text, group_index * 5 + 4))?;
        bytes.extend_from_slice(&value.to_be_bytes());
    }
    Ok(bytes)
}

/// The error for the character at byte `position` of `text` (1-based in the message).
fn not_z85(text: &str, position: usize) -> KeyError {
    // Non-ASCII text: name the character that starts at or before that byte.
    let (index, character) = text
        .char_indices()
        .take_while(|(index, _)| *index <= position)
        .last()
        .unwrap_or((0, '?'));
    KeyError::NotZ85(character, text[..index].chars().count() + 1)
}

fn z85_key(text: &str) -> Result<[u8; KEY_BYTES], KeyError> {
    let text = text.trim();
    if text.len() != Z85_KEY_CHARS {
        return Err(KeyError::Length(text.chars().count()));
    }
    let bytes = z85_decode(text)?;
    // 40 characters decode to 32 bytes.
    let mut key = [0u8; KEY_BYTES];
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// The text of a public certificate (`NAME.key`) for `public`, headed by `comment` lines.
pub fn encode_public_certificate(public: &PublicKey, comment: &str) -> String {
    format!(
        "{}#   ZeroMQ CURVE Public Certificate\n\
         #   Give it to the peers that must recognise this key.\n\
         \n\
         metadata\n\
         curve\n    public-key = \"{public}\"\n",
        comment_lines(comment)
    )
}

/// The text of a secret certificate (`NAME.key_secret`) for `keys`, headed by `comment` lines.
pub fn encode_secret_certificate(keys: &KeyPair, comment: &str) -> String {
    format!(
        "{}#   ZeroMQ CURVE **Secret** Certificate\n\
         #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\
         \n\
         metadata\n\
         curve\n    public-key = \"{}\"\n    secret-key = \"{}\"\n",
        comment_lines(comment),
        keys.public,
        keys.secret.to_z85()
    )
}

fn comment_lines(comment: &str) -> String {
    comment
        .lines()
        .map(|line| format!("#   {line}\n"))
        .collect()
}

/// The keys of a key file: a ZPL certificate as czmq and pyzmq write them (module docs), or a
/// bare Z85 public key on a line of its own. Lines starting with `#` are comments. Like pyzmq, a
/// field is found by its name at the start of a line, whatever section holds it, and its value
/// may be quoted.
pub fn decode_certificate(text: &str) -> Result<Certificate, KeyError> {
    let field = |name: &'static str| {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == name).then(|| value.trim().trim_matches(['"', '\'']).to_owned())
            })
            .map(|value| {
                z85_key(&value).map_err(|source| KeyError::BadField {
                    field: name,
                    source: Box::new(source),
                })
            })
            .transpose()
    };
    let public = match field("public-key")? {
        Some(public) => PublicKey(public),
        None => {
            let mut content = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'));
            match (content.next(), content.next()) {
                (Some(bare), None) => PublicKey::from_z85(bare)?,
                _ => return Err(KeyError::NoPublicKey),
            }
        }
    };
    Ok(Certificate {
        public,
        secret: field("secret-key")?.map(SecretKey),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_matches_the_rfc_32_example() {
        let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(z85_encode(&bytes), "HelloWorld");
        assert_eq!(z85_decode("HelloWorld").unwrap(), bytes);
    }

    #[test]
    fn a_key_in_z85_matches_the_zmq_curve_manual_example() {
        let hex = "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518";
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap())
            .collect();
        let key = PublicKey::from_z85("Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID").unwrap();
        assert_eq!(key.0.as_slice(), bytes.as_slice());
        assert_eq!(key.to_string(), "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID");
    }

    #[test]
    fn bad_z85_keys_are_refused_with_the_reason() {
        assert_eq!(PublicKey::from_z85("abc"), Err(KeyError::Length(3)));
        let with_space = "Yne@$w-vo<fVvi]a<NY6T1 d:M$fCG*[IaLV{hID";
        assert_eq!(
            PublicKey::from_z85(with_space),
            Err(KeyError::NotZ85(' ', 23))
        );
        // "#####" is 85^5 - 1, above 2^32 - 1.
        let overflow = format!("#####{}", "0".repeat(35));
        assert!(matches!(
            PublicKey::from_z85(&overflow),
            Err(KeyError::NotZ85('#', 5))
        ));
        // Non-ASCII: a length error or a character error, never a panic.
        let accented = format!("\u{e9}{}", "0".repeat(38));
        assert!(PublicKey::from_z85(&accented).is_err());
        assert!(z85_decode("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}").is_err());
    }

    #[test]
    fn secret_keys_do_not_show_in_debug_output() {
        let secret = SecretKey([7; KEY_BYTES]);
        assert_eq!(format!("{secret:?}"), "SecretKey(..)");
    }

    #[test]
    fn certificates_round_trip_and_read_what_pyzmq_writes() {
        let keys = KeyPair {
            public: PublicKey([1; KEY_BYTES]),
            secret: SecretKey([2; KEY_BYTES]),
        };
        let secret_text = encode_secret_certificate(&keys, "made by a test");
        assert!(secret_text.starts_with("#   made by a test\n"));
        let read = decode_certificate(&secret_text).unwrap();
        assert_eq!(read.public, keys.public);
        assert_eq!(read.secret, Some(keys.secret.clone()));
        let public_text = encode_public_certificate(&keys.public, "");
        assert!(!public_text.contains("secret-key"));
        assert_eq!(decode_certificate(&public_text).unwrap().secret, None);

        // pyzmq's zmq.auth.create_certificates output, byte for byte apart from the date.
        let pyzmq = "#   ****  Generated on 2026-01-01 00:00:00 by pyzmq  ****\n\
                     #   ZeroMQ CURVE **Secret** Certificate\n\
                     #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\
                     \n\
                     metadata\n\
                     curve\n    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n    \
                     secret-key = \"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs\"\n";
        let read = decode_certificate(pyzmq).unwrap();
        assert_eq!(
            read.public.to_string(),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
        assert_eq!(
            read.secret.unwrap().to_z85(),
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
        );
    }

    #[test]
    fn a_bare_key_is_a_key_file_and_anything_else_is_refused() {
        let bare = "# the lab server\nYne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\n";
        assert!(decode_certificate(bare).unwrap().secret.is_none());
        assert_eq!(decode_certificate(""), Err(KeyError::NoPublicKey));
        assert_eq!(
            decode_certificate("curve\nsomething = 1\n"),
            Err(KeyError::NoPublicKey)
        );
        assert!(matches!(
            decode_certificate("    public-key = \"short\"\n"),
            Err(KeyError::BadField {
                field: "public-key",
                ..
            })
        ));
        let bad_secret = "public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n\
                          secret-key = \"\"\n";
        assert!(matches!(
            decode_certificate(bad_secret),
            Err(KeyError::BadField {
                field: "secret-key",
                ..
            })
        ));
    }
}
