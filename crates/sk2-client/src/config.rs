//! How a [`crate::Client`] and its [`crate::Subscription`]s behave: plain data with the
//! original's timings as defaults.
//!
//! A leaf module: it knows only [`HostAddresses`] and the crate's CurveZMQ keys, so every other module may read a config without
//! importing the code that uses it.

use std::time::Duration;

use sk2_proto::curve::{KeyPair, PublicKey};
use sk2_proto::{KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX};

use crate::curve::CurveClient;
use crate::endpoint::HostAddresses;

/// Default heartbeat period: the original sends `who` every 10 s.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
/// Default response timeout: the original gives every request 5 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default first pause between failed reconnection attempts; it doubles up to the maximum.
pub const DEFAULT_RECONNECT_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Default longest pause between reconnection attempts. Short, because a restarted server should
/// be found again within a couple of seconds; each attempt costs one tiny `who` message.
pub const DEFAULT_RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Default capacity of the event queue. Events only come from changes (connect, devices), so a
/// reader that keeps up never sees it full; one that never reads loses the oldest events instead of
/// growing memory.
pub const DEFAULT_EVENT_QUEUE_LEN: usize = 256;

/// Default number of decoded frames waiting for the application. Small: a viewer wants the latest
/// frame, and each 512 x 424 frame is 424 KiB.
pub const DEFAULT_FRAME_QUEUE_LEN: usize = 4;
/// Default receive high-water mark of the SUB socket, in messages. libzmq's default of 1000 would
/// let hundreds of MB of compressed frames pile up behind a slow decoder.
pub const DEFAULT_RCVHWM: i32 = 4;

/// How a [`crate::Client`] behaves. `Default` gives the original's timings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Period of the `who` heartbeat, which also refreshes the device list.
    pub heartbeat: Duration,
    /// How long a request may wait for its reply before the server is declared gone.
    pub request_timeout: Duration,
    /// First pause after a failed reconnection attempt.
    pub reconnect_backoff_initial: Duration,
    /// Longest pause between reconnection attempts.
    pub reconnect_backoff_max: Duration,
    /// Addresses for host names the system resolver may not know, such as the `.local` name of a
    /// server found by mDNS (see [`crate::ServerInfo::host_addresses`]).
    pub host_addresses: HostAddresses,
    /// Ask mDNS for `.local` host names that neither `host_addresses` nor the system resolver
    /// know (multicast on the local network; see [`crate::resolve_local_host`]).
    pub resolve_local_names: bool,
    /// Capacity of the event queue; when full the oldest event is dropped.
    pub event_queue_len: usize,
    /// How subscriptions made by this client behave.
    pub subscription: SubscriptionConfig,
    /// The public key of a secure server (CurveZMQ, docs/security.md): every socket of the client
    /// then encrypts, and only a server holding the matching secret key can answer. `None`: an
    /// open server, as the original.
    pub server_key: Option<PublicKey>,
    /// This client's key pair, for a server that admits only authorised client keys. `None` with
    /// a [`ClientConfig::server_key`]: a key pair made for this client alone.
    pub client_keys: Option<KeyPair>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            heartbeat: DEFAULT_HEARTBEAT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            reconnect_backoff_initial: DEFAULT_RECONNECT_BACKOFF_INITIAL,
            reconnect_backoff_max: DEFAULT_RECONNECT_BACKOFF_MAX,
            host_addresses: HostAddresses::new(),
            resolve_local_names: true,
            event_queue_len: DEFAULT_EVENT_QUEUE_LEN,
            subscription: SubscriptionConfig::default(),
            server_key: None,
            client_keys: None,
        }
    }
}

impl ClientConfig {
    /// Sets [`ClientConfig::heartbeat`].
    pub fn with_heartbeat(mut self, period: Duration) -> Self {
        self.heartbeat = period;
        self
    }

    /// Sets [`ClientConfig::request_timeout`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`ClientConfig::reconnect_backoff_initial`].
    pub fn with_reconnect_backoff_initial(mut self, pause: Duration) -> Self {
        self.reconnect_backoff_initial = pause;
        self
    }

    /// Sets [`ClientConfig::reconnect_backoff_max`].
    pub fn with_reconnect_backoff_max(mut self, pause: Duration) -> Self {
        self.reconnect_backoff_max = pause;
        self
    }

    /// Sets [`ClientConfig::host_addresses`], replacing the map. For a server found by mDNS, pass
    /// [`crate::ServerInfo::host_addresses`].
    pub fn with_host_addresses(mut self, hosts: HostAddresses) -> Self {
        self.host_addresses = hosts;
        self
    }

    /// Sets [`ClientConfig::resolve_local_names`].
    pub fn with_resolve_local_names(mut self, resolve: bool) -> Self {
        self.resolve_local_names = resolve;
        self
    }

    /// Sets [`ClientConfig::event_queue_len`].
    pub fn with_event_queue_len(mut self, events: usize) -> Self {
        self.event_queue_len = events;
        self
    }

    /// Sets [`ClientConfig::subscription`].
    pub fn with_subscription(mut self, config: SubscriptionConfig) -> Self {
        self.subscription = config;
        self
    }

    /// Sets [`ClientConfig::server_key`].
    pub fn with_server_key(mut self, key: PublicKey) -> Self {
        self.server_key = Some(key);
        self
    }

    /// Sets [`ClientConfig::client_keys`].
    pub fn with_client_keys(mut self, keys: KeyPair) -> Self {
        self.client_keys = Some(keys);
        self
    }
}

/// How a [`crate::Subscription`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubscriptionConfig {
    /// Decoded frames kept for the application; when full, the oldest is dropped.
    pub queue_len: usize,
    /// Receive high-water mark of the SUB socket, in messages.
    pub rcvhwm: i32,
    /// `(width, height)` of `depth` frames, which carry no shape (the original's 512 x 424).
    pub depth_shape: (usize, usize),
    /// Read `depth_v2` when the device offers it (lossless, with metadata); `false` forces the
    /// original `depth` endpoint.
    pub prefer_depth_v2: bool,
    /// The client's CurveZMQ keys, set by the [`crate::Client`] that opens the subscription.
    pub(crate) curve: Option<CurveClient>,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        Self {
            queue_len: DEFAULT_FRAME_QUEUE_LEN,
            rcvhwm: DEFAULT_RCVHWM,
            depth_shape: (KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX),
            prefer_depth_v2: true,
            curve: None,
        }
    }
}

impl SubscriptionConfig {
    /// Sets [`SubscriptionConfig::queue_len`] (at least 1).
    pub fn with_queue_len(mut self, frames: usize) -> Self {
        self.queue_len = frames.max(1);
        self
    }

    /// Sets [`SubscriptionConfig::rcvhwm`].
    pub fn with_rcvhwm(mut self, messages: i32) -> Self {
        self.rcvhwm = messages;
        self
    }

    /// Sets [`SubscriptionConfig::depth_shape`], as `(width, height)`.
    pub fn with_depth_shape(mut self, shape: (usize, usize)) -> Self {
        self.depth_shape = shape;
        self
    }

    /// Sets [`SubscriptionConfig::prefer_depth_v2`].
    pub fn with_prefer_depth_v2(mut self, prefer: bool) -> Self {
        self.prefer_depth_v2 = prefer;
        self
    }
}
