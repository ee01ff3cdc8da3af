//! [`Snapshot`]: the copy of the catalogue and figures that tabs show.

use serde::Serialize;

/// What the page shows in its selector and status line: a copy of the catalogue at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Every server a source knows of.
    pub servers: Vec<ServerSnapshot>,
    /// Every sensor of those servers.
    pub sensors: Vec<SensorSnapshot>,
    /// Problems not tied to one server, e.g. discovery failing or `--sensor` not found.
    pub notices: Vec<String>,
    /// The sensor id tabs should show first (`kinect-view --sensor`), if any.
    pub preferred_sensor: Option<String>,
}

/// One server in a [`Snapshot`].
#[derive(Debug, Clone, Serialize)]
pub struct ServerSnapshot {
    /// Its key, as in [`SourceKey::server`](super::SourceKey::server) and `/api/frame?server=`.
    pub key: String,
    /// Its name for people (its key if it has none).
    pub name: String,
    /// Its control endpoint, e.g. `tcp://127.0.0.1:5555`.
    pub endpoint: String,
    /// Why it cannot be used right now (unreachable, ...), if so.
    pub error: Option<String>,
}

/// One sensor in a [`Snapshot`].
#[derive(Debug, Clone, Serialize)]
pub struct SensorSnapshot {
    /// Its server's key ([`ServerSnapshot::key`]).
    pub server: String,
    /// Its server's name for people ([`ServerSnapshot::name`]).
    pub server_name: String,
    /// Its id.
    pub sensor: String,
    /// The codec its frames arrive in (`rvl`, `sk2`, ...).
    pub codec: String,
    /// Why it is not streaming, if so.
    pub error: Option<String>,
    /// Frames received by the viewer so far.
    pub frames_received: u64,
    /// Frames the sensor produced that never reached the viewer (the client's
    /// [`sk2_client::SubscriptionStats::lost`], summed over the viewer's subscriptions).
    pub lost: u64,
    /// Frames per second arriving at the viewer (moving average), once two have arrived.
    pub fps: Option<f64>,
    /// Capture to arrival at the viewer, in ms (moving average of the client's figure), when the
    /// stream carries a capture time. Assumes the server's clock agrees with this host's.
    pub latency_ms: Option<f64>,
}
