//! CurveZMQ keys for `Client(server_key=..., client_key=...)` (docs/security.md): the same
//! forms the client tools take (`--server-key`, `--client-key`), plus the key tuples pyzmq gives.
//!
//! * A server key is its 40 Z85 characters (`str` or `bytes`), its 32 raw bytes, or the path of
//!   a key file (`server.key`; `str` or `os.PathLike`). An existing file wins over Z85 text, as
//!   for the tools: a 40-character path can also be valid Z85.
//! * A client key is the path of a secret key file (`client.key_secret`), which must be private
//!   (no access for group or others) and whose secret key must belong to its public key; or a
//!   `(public, secret)` pair in any of the key forms above, as `zmq.curve_keypair()` and
//!   `zmq.auth.load_certificate()` return it. Without one, the tools' default file
//!   (`$XDG_CONFIG_HOME/streamkinect2/client.key_secret`) is used if it exists, else the client
//!   makes a key pair of its own (enough for a server without `--authorized-keys`).
//!
//! Key files are read with `sk2_proto::curve`'s parser; a bad key or file raises `ValueError`
//! (or `OSError` when it cannot be read), never a handshake that fails later for no clear reason.

use std::fs;
use std::path::{Path, PathBuf};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use sk2_client::{KeyPair, PublicKey, SecretKey};
use sk2_proto::curve::{decode_certificate, KEY_BYTES, SECRET_CERTIFICATE_SUFFIX};

/// File name of a client's secret key in the tools' key directory (`kinect-keygen --client`).
const DEFAULT_CLIENT_KEY_FILE: &str = "client.key_secret";

/// The server's public key from the `server_key` argument.
pub(crate) fn server_key(value: &Bound<'_, PyAny>) -> PyResult<PublicKey> {
    if let Some(path) = path_of(value)? {
        if path.exists() {
            return read_public_key_file(&path);
        }
    }
    key_bytes(value, "server_key").map(PublicKey).map_err(|_| {
        // A public key or a path: nothing secret to hide in the message.
        let given = value
            .repr()
            .map(|repr| repr.to_string())
            .unwrap_or_else(|_| describe(value));
        PyValueError::new_err(format!(
            "server_key must be a 40-character Z85 key, 32 raw bytes or an existing key file \
             (server.key), got {given}"
        ))
    })
}

/// The client's key pair from the `client_key` argument (`None`: the default file, if any).
pub(crate) fn client_keys(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<KeyPair>> {
    let Some(value) = value else {
        return match default_client_key_file() {
            Some(path) if path.exists() => read_key_pair_file(&path).map(Some),
            _ => Ok(None),
        };
    };
    if value.is_instance_of::<PyString>() {
        let path: PathBuf = value.extract()?;
        return read_key_pair_file(&path).map(Some);
    }
    if let Some(path) = path_of(value)? {
        return read_key_pair_file(&path).map(Some);
    }
    let pair: (Bound<'_, PyAny>, Bound<'_, PyAny>) = value.extract().map_err(|_| {
        PyTypeError::new_err(
            "client_key must be the path of a secret key file (client.key_secret) or a \
             (public, secret) pair of keys",
        )
    })?;
    let public = PublicKey(key_bytes(&pair.0, "client_key's public key")?);
    // Not `key_bytes`'s message, which quotes the offending character: this one is secret.
    let secret = SecretKey(key_bytes(&pair.1, "client_key's secret key").map_err(|_| {
        PyValueError::new_err(
            "client_key's secret key must be 40 Z85 characters (str or bytes) or 32 raw bytes",
        )
    })?);
    check_pair(public, secret, "client_key").map(Some)
}

/// `value` as a file path if it is one (`os.PathLike`), or could be one (a `str` that is not
/// 40 Z85 characters, or one naming an existing file).
fn path_of(value: &Bound<'_, PyAny>) -> PyResult<Option<PathBuf>> {
    if value.is_instance_of::<PyBytes>() {
        return Ok(None);
    }
    if value.is_instance_of::<PyString>() {
        let text: String = value.extract()?;
        let path = PathBuf::from(&text);
        let z85 = PublicKey::from_z85(&text).is_ok();
        return Ok((path.exists() || !z85).then_some(path));
    }
    if value.hasattr("__fspath__")? {
        let os = value.py().import("os")?;
        let text: PathBuf = os.call_method1("fspath", (value,))?.extract()?;
        return Ok(Some(text));
    }
    Ok(None)
}

/// A key given inline: 40 Z85 characters (`str` or `bytes`) or 32 raw bytes.
fn key_bytes(value: &Bound<'_, PyAny>, what: &str) -> PyResult<[u8; KEY_BYTES]> {
    let text = if let Ok(bytes) = value.cast::<PyBytes>() {
        let bytes = bytes.as_bytes();
        if let Ok(raw) = <[u8; KEY_BYTES]>::try_from(bytes) {
            return Ok(raw);
        }
        String::from_utf8_lossy(bytes).into_owned()
    } else if let Ok(text) = value.extract::<String>() {
        text
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be str or bytes, got {}",
            describe(value)
        )));
    };
    PublicKey::from_z85(&text)
        .map(|key| key.0)
        .map_err(|error| PyValueError::new_err(format!("{what}: {error}")))
}

fn describe(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "an object".to_owned())
}

fn read_public_key_file(path: &Path) -> PyResult<PublicKey> {
    let text = fs::read_to_string(path)?;
    decode_certificate(&text)
        .map(|certificate| certificate.public)
        .map_err(|error| {
            PyValueError::new_err(format!(
                "{} is not a CURVE key file: {error}",
                path.display()
            ))
        })
}

/// A secret key file, with the checks of the tools: private, both keys, and consistent.
fn read_key_pair_file(path: &Path) -> PyResult<KeyPair> {
    let metadata = fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(PyValueError::new_err(format!(
                "{} is readable by others (mode {mode:03o}): its secret key must be private; \
                 run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    let text = fs::read_to_string(path)?;
    let certificate = decode_certificate(&text).map_err(|error| {
        PyValueError::new_err(format!(
            "{} is not a CURVE key file: {error}",
            path.display()
        ))
    })?;
    let Some(secret) = certificate.secret else {
        return Err(PyValueError::new_err(format!(
            "{} holds no secret-key: give the secret key file ({SECRET_CERTIFICATE_SUFFIX}), not \
             the public one",
            path.display()
        )));
    };
    check_pair(certificate.public, secret, &path.display().to_string())
}

fn check_pair(public: PublicKey, secret: SecretKey, what: &str) -> PyResult<KeyPair> {
    if public_key_of(&secret) != public {
        return Err(PyValueError::new_err(format!(
            "{what}: the secret key does not belong to the public key"
        )));
    }
    Ok(KeyPair { public, secret })
}

/// `$XDG_CONFIG_HOME/streamkinect2/client.key_secret` (XDG's default for `XDG_CONFIG_HOME`:
/// `~/.config`), where `kinect-keygen --client` writes it.
fn default_client_key_file() -> Option<PathBuf> {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(
        config_home
            .join("streamkinect2")
            .join(DEFAULT_CLIENT_KEY_FILE),
    )
}

/// The public key that belongs to `secret` (X25519 base-point multiplication, libsodium: the
/// library libzmq's CURVE uses, linked already).
#[allow(unsafe_code)]
fn public_key_of(secret: &SecretKey) -> PublicKey {
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
