//! What the [`Hub`](super::Hub) keeps behind its lock: the servers and sensors sources reported,
//! each sensor's latest frame and figures.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::frame::{ImageStream, ServedFrame, ServedImage, SourceKey};

/// By default a sensor stays "wanted" this long after a tab last asked for it
/// ([`Hub::with_wanted_for`](super::Hub::with_wanted_for)). Tabs ask once per frame (at least
/// every long-poll timeout), so 5 s covers a busy tab's pauses without streaming for long to
/// nobody after the last tab closed.
pub const DEFAULT_WANTED_FOR: Duration = Duration::from_secs(5);

pub(super) struct State {
    /// How long a sensor stays wanted after a tab asked for it.
    pub(super) wanted_for: Duration,
    pub(super) servers: BTreeMap<String, ServerState>,
    /// Names for people, by server key ([`Hub::name_server`](super::Hub::name_server)); a server
    /// without one is shown by its key.
    pub(super) server_names: BTreeMap<String, String>,
    pub(super) sensors: BTreeMap<SourceKey, SensorState>,
    /// Problems not tied to one server (discovery failing, `--sensor` not found), by topic.
    pub(super) notices: BTreeMap<String, String>,
    pub(super) preferred_sensor: Option<String>,
    /// Unknown sensors a tab asked for that were logged already (each once).
    pub(super) logged_unknown: BTreeSet<SourceKey>,
    /// The latest infrared and colour image of each listed sensor that streams them.
    pub(super) images: BTreeMap<(SourceKey, ImageStream), Arc<ServedImage>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            wanted_for: DEFAULT_WANTED_FOR,
            servers: BTreeMap::new(),
            server_names: BTreeMap::new(),
            sensors: BTreeMap::new(),
            notices: BTreeMap::new(),
            preferred_sensor: None,
            logged_unknown: BTreeSet::new(),
            images: BTreeMap::new(),
        }
    }
}

pub(super) struct ServerState {
    pub(super) endpoint: String,
    pub(super) error: Option<String>,
}

impl State {
    /// The name people know `server` by.
    pub(super) fn server_name<'a>(&'a self, server: &'a str) -> &'a str {
        self.server_names.get(server).map_or(server, String::as_str)
    }

    /// `"name"`, or `"name" (key)` when the key says more (an endpoint), for messages.
    pub(super) fn describe_server(&self, server: &str) -> String {
        match self.server_name(server) {
            name if name == server => format!("{name:?}"),
            name => format!("{name:?} ({server})"),
        }
    }

    /// The entry of `server`, listed at `endpoint` with no error if it was not listed yet.
    pub(super) fn server_entry(&mut self, server: &str, endpoint: &str) -> &mut ServerState {
        self.servers
            .entry(server.to_owned())
            .or_insert_with(|| ServerState {
                endpoint: endpoint.to_owned(),
                error: None,
            })
    }
}

pub(super) struct SensorState {
    pub(super) codec: String,
    pub(super) error: Option<String>,
    pub(super) latest: Option<Arc<ServedFrame>>,
    pub(super) frames_received: u64,
    pub(super) lost: u64,
    pub(super) last_arrival: Option<Instant>,
    pub(super) interval_s: Option<f64>,
    pub(super) latency_ms: Option<f64>,
    pub(super) wanted_until: Option<Instant>,
}

impl SensorState {
    pub(super) fn new(codec: &str) -> Self {
        Self {
            codec: codec.to_owned(),
            error: None,
            latest: None,
            frames_received: 0,
            lost: 0,
            last_arrival: None,
            interval_s: None,
            latency_ms: None,
            wanted_until: None,
        }
    }
}

/// A message for a tab asking for a sensor nobody has reported: says what is known instead.
pub(super) fn unknown_message(state: &State, key: &SourceKey) -> String {
    match state.servers.get(&key.server) {
        None if state.servers.is_empty() => format!(
            "server {:?} not found (no servers found yet; still looking)",
            key.server
        ),
        None => format!(
            "server {:?} not found (known: {}); still looking",
            key.server,
            state
                .servers
                .keys()
                .map(|server| state.describe_server(server))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(ServerState {
            error: Some(error), ..
        }) => format!("server {}: {error}", state.describe_server(&key.server)),
        Some(_) => {
            let ids: Vec<_> = state
                .sensors
                .keys()
                .filter(|other| other.server == key.server)
                .map(|other| other.sensor.clone())
                .collect();
            format!(
                "sensor {:?} not found on server {} (it has: {}); still looking",
                key.sensor,
                state.describe_server(&key.server),
                if ids.is_empty() {
                    "none".to_owned()
                } else {
                    ids.join(", ")
                }
            )
        }
    }
}
