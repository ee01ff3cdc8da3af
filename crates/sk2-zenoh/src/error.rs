//! The bridge's error type.

use sk2_client::ClientError;

/// Why a bridge could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The upstream server's endpoint is malformed, or a Zenoh session could not open.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A server id that cannot name a server (empty).
    #[error("invalid server id {0:?}")]
    ServerId(String),
    /// The bridge's thread could not start.
    #[error("cannot start the bridge thread: {0}")]
    Thread(String),
}
