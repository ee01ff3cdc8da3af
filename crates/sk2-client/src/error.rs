//! The client's error type.

use std::time::Duration;

use sk2_proto::control::ControlError;

use crate::endpoint::EndpointError;

/// Why a client operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The operation needs a server that has answered, and the client is not connected to one
    /// (never connected, disconnected, or reconnecting after a timeout).
    #[error("not connected to a server")]
    NotConnected,
    /// The server did not answer this request within the response timeout. The client has closed
    /// its socket and is reconnecting.
    #[error("no reply from the server within {0:?}")]
    Timeout(Duration),
    /// The request was waiting behind another one when the connection was lost or closed.
    #[error("the connection was lost before the request was sent")]
    ConnectionLost,
    /// The server answered with an `error` reply.
    #[error("the server refused the request ({code:?}): {reason}")]
    Server {
        /// The reply's code, if it had one (the original always sends 400).
        code: Option<u32>,
        /// The reply's reason.
        reason: String,
    },
    /// The server's reply is not a valid control message, or not the reply the request expects.
    #[error("invalid reply from the server: {0}")]
    BadReply(String),
    /// The server has no device with this id.
    #[error("the server has no device {0:?}")]
    UnknownDevice(String),
    /// The device offers no depth endpoint this client can read.
    #[error("device {0:?} offers no depth endpoint this client understands")]
    NoDepthEndpoint(String),
    /// The device does not offer this stream (`ir_v2`, `color`).
    #[error("device {device_id:?} offers no {endpoint} endpoint")]
    NoStreamEndpoint {
        /// The device.
        device_id: String,
        /// The endpoint name it lacks.
        endpoint: &'static str,
    },
    /// An endpoint is malformed or its host cannot be resolved.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The connection did not come up within the time allowed.
    #[error("no answer from {endpoint} within {after:?}")]
    ConnectTimeout {
        /// The control endpoint.
        endpoint: String,
        /// How long the client waited.
        after: Duration,
    },
    /// ZeroMQ refused to create, configure or connect a socket.
    #[error("ZeroMQ: {0}")]
    Zmq(#[from] zmq::Error),
    /// Zenoh refused to open a session, subscribe or query, or its configuration is invalid.
    #[cfg(feature = "zenoh")]
    #[error("Zenoh: {0}")]
    Zenoh(String),
    /// The CurveZMQ settings cannot work: a client key pair without a server key, or a libzmq
    /// without CURVE.
    #[error("CurveZMQ: {0}")]
    Curve(String),
    /// The ZeroMQ handshake with the server failed: the server is secure and the client has no
    /// key, or the reverse, or the server key is wrong, or the server refused the client's key.
    /// The client keeps retrying (the server's keys may change), but requests fail at once.
    #[error("handshake with {endpoint} failed: {reason}")]
    Handshake {
        /// The control endpoint.
        endpoint: String,
        /// What the failure means.
        reason: String,
    },
    /// A background thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(String),
}

impl From<ControlError> for ClientError {
    fn from(error: ControlError) -> Self {
        ClientError::BadReply(error.to_string())
    }
}
