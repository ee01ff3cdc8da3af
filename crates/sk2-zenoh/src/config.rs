//! What a bridge connects to and how it names the server in Zenoh ([`BridgeConfig`]), with the
//! client settings a relay needs.

use std::time::Duration;

use sk2_client::zenoh::ZenohConfig;
use sk2_client::{ClientConfig, SubscriptionConfig};

/// The bridge's `who` heartbeat: a restarted or vanished server is noticed within this plus the
/// request timeout, and its liveliness token withdrawn (the client library's 10 s default suits
/// an interactive client, not a relay others depend on).
pub const DEFAULT_BRIDGE_HEARTBEAT: Duration = Duration::from_secs(1);
/// The bridge's request timeout (see [`DEFAULT_BRIDGE_HEARTBEAT`]).
const BRIDGE_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages a `depth_v2` subscription of the bridge keeps: a few frames, as any subscriber.
const BRIDGE_QUEUE_LEN: usize = 4;

/// What a bridge connects to, and how it names the server in Zenoh.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The server's control endpoint, `tcp://host:port`.
    pub upstream: String,
    /// The server's id in Zenoh keys; `None`: the name in its first `me`.
    pub server_id: Option<String>,
    /// The Zenoh session's configuration.
    pub zenoh: ZenohConfig,
    /// The control client's settings (heartbeat, host addresses, subscriptions).
    pub client: ClientConfig,
}

impl BridgeConfig {
    /// A bridge for the server at `upstream`, with the default Zenoh configuration (peer, no
    /// multicast scouting, not listening: set [`BridgeConfig::zenoh`]).
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into(),
            server_id: None,
            zenoh: ZenohConfig::default(),
            client: ClientConfig::default()
                .with_heartbeat(DEFAULT_BRIDGE_HEARTBEAT)
                .with_request_timeout(BRIDGE_REQUEST_TIMEOUT)
                .with_subscription(SubscriptionConfig::default().with_queue_len(BRIDGE_QUEUE_LEN)),
        }
    }

    /// Sets [`BridgeConfig::server_id`].
    pub fn with_server_id(mut self, id: Option<String>) -> Self {
        self.server_id = id;
        self
    }

    /// Sets [`BridgeConfig::zenoh`].
    pub fn with_zenoh(mut self, zenoh: ZenohConfig) -> Self {
        self.zenoh = zenoh;
        self
    }

    /// Sets [`BridgeConfig::client`].
    pub fn with_client(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }
}
