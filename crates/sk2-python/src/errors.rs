//! The exception hierarchy and the mapping from Rust errors to it.
//!
//! ```text
//! Sk2Error
//! ├── Timeout         a wait or a request ran out of time
//! ├── Unreachable     no server answers (or it went away)
//! │   └── HandshakeError  the server answers but the CurveZMQ handshake failed (keys)
//! ├── ProtocolError   bytes that are not a valid message (corrupt or hostile input)
//! ├── UnknownSensor   the server has no such sensor
//! └── StreamUnavailable  the sensor does not offer this stream (infrared, colour)
//! ```
//!
//! Messages are the Rust errors' `Display` text, so Python and Rust users read the same words.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use sk2_client::ClientError;

create_exception!(
    streamkinect2,
    Sk2Error,
    PyException,
    "Base class of every error streamkinect2 raises."
);
create_exception!(
    streamkinect2,
    Timeout,
    Sk2Error,
    "A wait or a request to the server ran out of time."
);
create_exception!(
    streamkinect2,
    Unreachable,
    Sk2Error,
    "No server answers at the endpoint, or the connection to it is gone."
);
create_exception!(
    streamkinect2,
    HandshakeError,
    Unreachable,
    "The server refused the connection during the CurveZMQ handshake: it is secure and no \
     server_key was given, or the reverse, or the server key is wrong, or the server does not \
     admit this client's key (docs/security.md, section 6)."
);
create_exception!(
    streamkinect2,
    ProtocolError,
    Sk2Error,
    "Bytes that are not a valid message: corrupt, truncated or hostile input."
);
create_exception!(
    streamkinect2,
    UnknownSensor,
    Sk2Error,
    "The server has no sensor with this id (or no sensor at all)."
);
create_exception!(
    streamkinect2,
    StreamUnavailable,
    Sk2Error,
    "The sensor does not offer this stream: the server was started without it (`--no-color`, \
     `--ir-codec none`) or the sensor has none (the 2014 server offers depth only)."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Sk2Error", py.get_type::<Sk2Error>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("Unreachable", py.get_type::<Unreachable>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("UnknownSensor", py.get_type::<UnknownSensor>())?;
    m.add("HandshakeError", py.get_type::<HandshakeError>())?;
    m.add("StreamUnavailable", py.get_type::<StreamUnavailable>())?;
    Ok(())
}

/// The Python exception for a client error, with the Rust error's message.
pub(crate) fn client_error(error: ClientError) -> PyErr {
    let message = error.to_string();
    match error {
        ClientError::Timeout(_) => Timeout::new_err(message),
        ClientError::NotConnected
        | ClientError::ConnectionLost
        | ClientError::ConnectTimeout { .. }
        | ClientError::Endpoint(_) => Unreachable::new_err(message),
        ClientError::BadReply(_) => ProtocolError::new_err(message),
        ClientError::UnknownDevice(_) | ClientError::NoDepthEndpoint(_) => {
            UnknownSensor::new_err(message)
        }
        ClientError::NoStreamEndpoint { .. } => StreamUnavailable::new_err(message),
        ClientError::Handshake { .. } => HandshakeError::new_err(message),
        // Keys that cannot work together: the caller's arguments.
        ClientError::Curve(_) => PyValueError::new_err(message),
        _ => Sk2Error::new_err(message),
    }
}

/// A malformed argument from the caller (not from the network): Python's `ValueError`.
pub(crate) fn value_error(error: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(error.to_string())
}
