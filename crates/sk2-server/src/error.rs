//! Why the server could not do what was asked.

use sk2_proto::SensorError;

/// Why the server could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A socket could not bind: the port is in use, or the address is not local.
    #[error("cannot bind the {role} socket to {endpoint}: {source}")]
    Bind {
        /// `control`, `depth` or `depth_v2`.
        role: &'static str,
        /// The address tried.
        endpoint: String,
        /// libzmq's reason.
        source: zmq::Error,
    },
    /// Any other ZeroMQ failure (creating a socket, setting an option).
    #[error("zeromq: {0}")]
    Zmq(#[from] zmq::Error),
    /// A sensor with this id is already attached.
    #[error("a sensor with id {0} is already attached")]
    DuplicateSensor(String),
    /// No sensor with this id is attached.
    #[error("no sensor with id {0}")]
    UnknownSensor(String),
    /// The sensor refused to start.
    #[error(transparent)]
    Sensor(#[from] SensorError),
    /// The mDNS announcement failed.
    #[error("cannot announce over mDNS: {0}")]
    Announce(String),
    /// `start` on a running server.
    #[error("the server is already running")]
    AlreadyRunning,
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
    /// CurveZMQ was asked for, but the linked libzmq was built without it (docs/security.md).
    #[error(
        "this build's libzmq has no CURVE support, so --secure cannot work (docs/security.md)"
    )]
    CurveUnavailable,
    /// With this sensor the `me` reply would be larger than a client accepts
    /// ([`sk2_proto::control::MAX_CONTROL_MESSAGE_BYTES`]): too many sensors for one server, or
    /// a very long advertised host name. The sensor is not attached.
    #[error(
        "with {sensors} sensors the `me` reply would take {bytes} bytes, over the {limit} a \
         client accepts: serve fewer sensors per server, or advertise a shorter host name"
    )]
    MeTooLarge {
        /// Sensors it would describe.
        sensors: usize,
        /// Its encoded size.
        bytes: usize,
        /// [`sk2_proto::control::MAX_CONTROL_MESSAGE_BYTES`].
        limit: usize,
    },
    /// The machine's host name, needed for advertised endpoints and mDNS, is unavailable.
    #[error("cannot read the host name: {0}")]
    Hostname(std::io::Error),
}
