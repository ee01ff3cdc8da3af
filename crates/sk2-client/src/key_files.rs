//! CurveZMQ key files (docs/security.md): where they live by default, and reading them with the
//! checks a user needs. A secret key file must be readable, private (no access for group or
//! others), hold both keys, and its secret key must belong to its public key; a public key file
//! must hold a public key.
//!
//! The formats are [`sk2_proto::curve`]'s: czmq/pyzmq certificates, `NAME.key` (public) and
//! `NAME.key_secret` (public and secret, mode 0600). The tools and the Python binding read key
//! files here, so they refuse the same files for the same reasons, in the same words.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sk2_proto::curve::{
    decode_certificate, KeyError, KeyPair, PublicKey, SecretKey, KEY_BYTES,
    PUBLIC_CERTIFICATE_SUFFIX, SECRET_CERTIFICATE_SUFFIX,
};

/// The name of the server's key pair in [`default_key_dir`]: `server.key_secret` and
/// `server.key`.
pub const SERVER_KEY_NAME: &str = "server";

/// The name of a client's key pair in [`default_key_dir`]: `client.key_secret` and `client.key`.
pub const CLIENT_KEY_NAME: &str = "client";

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file cannot be read: it is missing, or this user may not read it.
    #[error("cannot read {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A secret key file that group or others may access.
    #[error(
        "{} is readable by others (mode {mode:03o}): its secret key must be private; run \
         `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    NotPrivate {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Text that is not a key file.
    #[error("{} is not a CURVE key file", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with its text.
        #[source]
        source: KeyError,
    },
    /// A public key file where the secret one was expected.
    #[error(
        "{} holds no secret-key: give the secret key file ({SECRET_CERTIFICATE_SUFFIX}), not the \
         public one",
        path.display()
    )]
    NoSecretKey {
        /// The file.
        path: PathBuf,
    },
    /// A secret key that does not belong to the public key beside it.
    #[error(
        "{} is corrupt: its secret-key does not belong to its public-key",
        path.display()
    )]
    KeysDoNotMatch {
        /// The file.
        path: PathBuf,
    },
}

/// Where key pairs live by default: `$XDG_CONFIG_HOME/streamkinect2`, or
/// `~/.config/streamkinect2` (the XDG base directory specification's default); `None` if neither
/// `XDG_CONFIG_HOME` (absolute) nor `HOME` is set.
pub fn default_key_dir() -> Option<PathBuf> {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config_home.join("streamkinect2"))
}

/// The secret key file of key pair `name` in `dir`.
pub fn secret_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{SECRET_CERTIFICATE_SUFFIX}"))
}

/// The public key file of key pair `name` in `dir`.
pub fn public_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{PUBLIC_CERTIFICATE_SUFFIX}"))
}

/// Reads a key pair from a secret key file: it must be readable, private, hold both keys, and
/// its secret key must belong to its public key.
pub fn read_key_pair(path: &Path) -> Result<KeyPair, KeyFileError> {
    let text = read_private(path)?;
    let certificate = decode_certificate(&text).map_err(|source| KeyFileError::Malformed {
        path: path.to_owned(),
        source,
    })?;
    let Some(secret) = certificate.secret else {
        return Err(KeyFileError::NoSecretKey {
            path: path.to_owned(),
        });
    };
    if public_key_of(&secret) != certificate.public {
        return Err(KeyFileError::KeysDoNotMatch {
            path: path.to_owned(),
        });
    }
    Ok(KeyPair {
        public: certificate.public,
        secret,
    })
}

/// Reads the public key of a key file of either kind (a secret key file holds it too).
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyFileError> {
    let text = fs::read_to_string(path).map_err(|source| KeyFileError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    decode_certificate(&text)
        .map(|certificate| certificate.public)
        .map_err(|source| KeyFileError::Malformed {
            path: path.to_owned(),
            source,
        })
}

/// The public key that belongs to `secret` (X25519 base-point multiplication, libsodium: the
/// library libzmq's CURVE uses, linked already).
#[allow(unsafe_code)]
pub fn public_key_of(secret: &SecretKey) -> PublicKey {
    let mut public = [0u8; KEY_BYTES];
    // SAFETY: sodium_init is thread-safe and idempotent; the multiplication writes exactly 32
    // bytes to `public` and reads 32 from the secret key, both valid for that length. Its only
    // failure (an all-zero result) leaves a public key that cannot match any real one.
    unsafe {
        libsodium_sys::sodium_init();
        libsodium_sys::crypto_scalarmult_curve25519_base(public.as_mut_ptr(), secret.0.as_ptr());
    }
    PublicKey(public)
}

/// The text of a file that holds a secret, which must not be accessible to anyone but its owner.
fn read_private(path: &Path) -> Result<String, KeyFileError> {
    let unreadable = |source| KeyFileError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let metadata = fs::metadata(path).map_err(unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::NotPrivate {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    fs::read_to_string(path).map_err(unreadable)
}

#[cfg(test)]
mod tests {
    use sk2_proto::curve::{encode_public_certificate, encode_secret_certificate};

    use super::*;

    fn generate() -> KeyPair {
        // libzmq is built with CURVE in this workspace (vendored zmq-sys), so this cannot fail.
        let pair = zmq::CurveKeyPair::new().unwrap();
        KeyPair {
            public: PublicKey(pair.public_key),
            secret: SecretKey(pair.secret_key),
        }
    }

    fn write(path: &Path, text: &str, mode: u32) {
        fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
    }

    #[test]
    fn a_private_secret_key_file_gives_its_key_pair_and_either_file_its_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate();
        let secret = secret_file(dir.path(), CLIENT_KEY_NAME);
        let public = public_file(dir.path(), CLIENT_KEY_NAME);
        write(&secret, &encode_secret_certificate(&keys, "test"), 0o600);
        write(
            &public,
            &encode_public_certificate(&keys.public, "test"),
            0o644,
        );

        assert_eq!(read_key_pair(&secret).unwrap(), keys);
        assert_eq!(read_public_key(&public).unwrap(), keys.public);
        assert_eq!(read_public_key(&secret).unwrap(), keys.public);
        assert_eq!(public_key_of(&keys.secret), keys.public);
    }

    #[test]
    fn each_bad_secret_key_file_is_refused_for_its_own_reason() {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate();
        let good = encode_secret_certificate(&keys, "test");
        let file = |name: &str, text: &str, mode: u32| {
            let path = dir.path().join(name);
            write(&path, text, mode);
            path
        };

        let missing = dir.path().join("missing.key_secret");
        assert!(matches!(
            read_key_pair(&missing),
            Err(KeyFileError::Unreadable { source, .. }) if source.kind() == io::ErrorKind::NotFound
        ));
        #[cfg(unix)]
        {
            let readable = file("readable.key_secret", &good, 0o640);
            let refused = read_key_pair(&readable).unwrap_err();
            assert!(
                matches!(refused, KeyFileError::NotPrivate { mode: 0o640, .. }),
                "{refused}"
            );
            assert!(refused.to_string().contains("chmod 600"), "{refused}");
        }
        let garbage = file("garbage.key_secret", "hello\nworld\n", 0o600);
        assert!(matches!(
            read_key_pair(&garbage),
            Err(KeyFileError::Malformed { .. })
        ));
        let public_only = file(
            "public.key_secret",
            &encode_public_certificate(&keys.public, "test"),
            0o600,
        );
        assert!(matches!(
            read_key_pair(&public_only),
            Err(KeyFileError::NoSecretKey { .. })
        ));
        // Another pair's secret key beside this public key: both valid, but not a pair.
        let other = generate();
        let mismatched = file(
            "mismatched.key_secret",
            &good.replace(&keys.secret.to_z85(), &other.secret.to_z85()),
            0o600,
        );
        assert!(matches!(
            read_key_pair(&mismatched),
            Err(KeyFileError::KeysDoNotMatch { .. })
        ));
        assert!(matches!(
            read_public_key(&garbage),
            Err(KeyFileError::Malformed { .. })
        ));
    }
}
