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
//! Key files are read by [`sk2_client::key_files`], with the tools' checks and words; a bad key
//! or file raises `ValueError` (or `OSError` when it cannot be read), never a handshake that
//! fails later for no clear reason.

use std::error::Error as _;
use std::path::{Path, PathBuf};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use sk2_client::key_files::{self, KeyFileError, CLIENT_KEY_NAME};
use sk2_client::{KeyPair, PublicKey, SecretKey};
use sk2_proto::curve::KEY_BYTES;

/// The server's public key from the `server_key` argument.
pub(crate) fn server_key(value: &Bound<'_, PyAny>) -> PyResult<PublicKey> {
    if let Some(path) = path_of(value)? {
        if path.exists() {
            return key_files::read_public_key(&path).map_err(key_file_error);
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
        let default_file =
            key_files::default_key_dir().map(|dir| key_files::secret_file(&dir, CLIENT_KEY_NAME));
        return match default_file {
            Some(path) if path.exists() => read_key_pair(&path).map(Some),
            _ => Ok(None),
        };
    };
    if value.is_instance_of::<PyString>() {
        let path: PathBuf = value.extract()?;
        return read_key_pair(&path).map(Some);
    }
    if let Some(path) = path_of(value)? {
        return read_key_pair(&path).map(Some);
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

/// A secret key file (`client.key_secret`), with the checks of the tools: private, both keys,
/// and consistent.
fn read_key_pair(path: &Path) -> PyResult<KeyPair> {
    key_files::read_key_pair(path).map_err(key_file_error)
}

/// `OSError` (`FileNotFoundError`, `PermissionError`, ...) for a file that cannot be read,
/// `ValueError` with the reason for one that is not a usable key file.
fn key_file_error(error: KeyFileError) -> PyErr {
    match error {
        KeyFileError::Unreadable { source, .. } => source.into(),
        refused => match refused.source() {
            Some(reason) => PyValueError::new_err(format!("{refused}: {reason}")),
            None => PyValueError::new_err(refused.to_string()),
        },
    }
}

fn check_pair(public: PublicKey, secret: SecretKey, what: &str) -> PyResult<KeyPair> {
    if key_files::public_key_of(&secret) != public {
        return Err(PyValueError::new_err(format!(
            "{what}: the secret key does not belong to the public key"
        )));
    }
    Ok(KeyPair { public, secret })
}
