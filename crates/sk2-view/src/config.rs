//! The web server's public types: how it behaves ([`ViewConfig`]), why it could not start
//! ([`ViewError`]) and what it counts ([`ViewStats`]).

use std::time::Duration;

use serde::Serialize;

/// How the web server behaves. Start from [`ViewConfig::default`] and change what differs
/// with the `with_*` methods (the fields are public too).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ViewConfig {
    /// How long a frame request waits for a new frame before answering 204 (the tab asks again).
    /// 1 s: long enough that an idle stream costs one request per second per tab, short enough
    /// that shutdown is quick.
    pub long_poll_timeout: Duration,
    /// Connections served at once, each on its own thread; more are answered 503 and closed.
    /// A tab uses one or two (Chromium opens at most six per host for all tabs together), so
    /// 64 allows many tabs and other clients while bounding threads and the frames they hold
    /// (64 x 0.4 MiB for Kinect v2 frames).
    pub max_connections: usize,
    /// A connection with no request for this long is closed, freeing its thread. Tabs ask at
    /// least once per [`ViewConfig::long_poll_timeout`]; 10 s covers a busy tab's pauses.
    pub idle_timeout: Duration,
}

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            long_poll_timeout: Duration::from_secs(1),
            max_connections: 64,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

impl ViewConfig {
    /// Sets [`ViewConfig::long_poll_timeout`].
    pub fn with_long_poll_timeout(mut self, timeout: Duration) -> Self {
        self.long_poll_timeout = timeout;
        self
    }

    /// Sets [`ViewConfig::max_connections`] (at least 1).
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets [`ViewConfig::idle_timeout`].
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

/// Why the web server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// The listening socket could not be used.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address asked for, as text.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Counters of the web server, for tests and the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ViewStats {
    /// Connections open now (each with its thread).
    pub connections: usize,
    /// Requests being answered now (each open tab has about one, waiting for its next frame).
    pub in_flight: usize,
    /// Frames sent to tabs so far.
    pub frames_served: u64,
    /// Connections refused because [`ViewConfig::max_connections`] were open.
    pub rejected: u64,
}
