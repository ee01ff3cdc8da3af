//! [`ZenohConfig`]: Zenoh's own configuration (its JSON5 file format), with this project's
//! defaults: peer mode, multicast scouting off, no listening socket.
//!
//! Why multicast scouting is off: Zenoh's default (on) sends UDP multicast on every interface to
//! find peers, which leaves the machine, is blocked by many networks, and surprises an operator
//! who only asked for a bridge. Peers here find each other through the endpoints they are given
//! (`connect`, `listen`) and through routers. A file that says
//! `scouting: { multicast: { enabled: true } }` turns it back on.

use std::path::Path;

use crate::error::ClientError;

/// Zenoh modes a node can run in (Zenoh's `mode` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZenohMode {
    /// Talks directly to the peers and routers it connects to or that connect to it.
    Peer,
    /// Talks only through the one router (or peer) it connects to: what a consumer in the cloud
    /// or behind NAT uses.
    Client,
    /// Routes between the nodes connected to it, across networks (what `zenohd` runs).
    Router,
}

impl ZenohMode {
    /// The name in Zenoh's configuration: `peer`, `client` or `router`.
    pub fn name(self) -> &'static str {
        match self {
            ZenohMode::Peer => "peer",
            ZenohMode::Client => "client",
            ZenohMode::Router => "router",
        }
    }
}

impl std::str::FromStr for ZenohMode {
    type Err = ClientError;

    fn from_str(name: &str) -> Result<Self, ClientError> {
        match name {
            "peer" => Ok(ZenohMode::Peer),
            "client" => Ok(ZenohMode::Client),
            "router" => Ok(ZenohMode::Router),
            other => Err(ClientError::Zenoh(format!(
                "unknown Zenoh mode {other:?} (peer, client or router)"
            ))),
        }
    }
}

impl std::fmt::Display for ZenohMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Zenoh session's configuration.
#[derive(Debug, Clone)]
pub struct ZenohConfig {
    config: ::zenoh::Config,
}

/// Batches (64 KiB each) Zenoh may queue per link for data samples. A Kinect v2 frame in MEDHUF
/// is about 95 KB (docs/codecs.md), more than one batch: Zenoh's default of 2 holds about one
/// frame, so a sending thread delayed for a moment (a busy machine) drops frames on a healthy
/// link. 8 batches hold about five frames, the slack a ZeroMQ subscriber gets from the server's
/// high-water mark, and bound a stalled link's queue at 512 KiB.
pub const TX_QUEUE_BATCHES: usize = 8;
/// Longest a sample waits, in microseconds, for room in a full link queue before it is dropped
/// (Zenoh's default is 1 ms).
pub const WAIT_BEFORE_DROP_US: u64 = 2_000;
/// The same for the later fragments of a sample larger than a batch: Zenoh's default, 50 ms,
/// would hold the bridge's thread for longer than a frame period behind one stalled link, and
/// every other subscriber would wait too.
pub const WAIT_BEFORE_DROP_FRAGMENTS_US: u64 = 5_000;

impl Default for ZenohConfig {
    /// Peer mode, multicast scouting off, not listening, connecting nowhere (add endpoints with
    /// [`ZenohConfig::with_connect`] and [`ZenohConfig::with_listen`]), and link queues sized for
    /// depth frames ([`TX_QUEUE_BATCHES`], [`WAIT_BEFORE_DROP_US`],
    /// [`WAIT_BEFORE_DROP_FRAGMENTS_US`]).
    fn default() -> Self {
        let mut config = ::zenoh::Config::default();
        let queue = TX_QUEUE_BATCHES.to_string();
        let wait = WAIT_BEFORE_DROP_US.to_string();
        let wait_fragments = WAIT_BEFORE_DROP_FRAGMENTS_US.to_string();
        // These keys and values are Zenoh's own and valid: inserting them cannot fail.
        for (key, value) in [
            ("mode", r#""peer""#),
            ("scouting/multicast/enabled", "false"),
            ("listen/endpoints", "[]"),
            ("connect/endpoints", "[]"),
            ("transport/link/tx/queue/size/data", queue.as_str()),
            (
                "transport/link/tx/queue/congestion_control/drop/wait_before_drop",
                wait.as_str(),
            ),
            (
                "transport/link/tx/queue/congestion_control/drop/max_wait_before_drop_fragments",
                wait_fragments.as_str(),
            ),
        ] {
            if let Err(error) = config.insert_json5(key, value) {
                unreachable!("Zenoh refused its own key {key}: {error}");
            }
        }
        Self { config }
    }
}

impl ZenohConfig {
    /// A Zenoh configuration file (JSON5, Zenoh's format). Keys it does not set keep this
    /// project's defaults ([`ZenohConfig::default`]), not Zenoh's: multicast scouting stays off
    /// unless the file turns it on.
    pub fn from_file(path: &Path) -> Result<Self, ClientError> {
        Self::default().with_file(path)
    }

    /// [`ZenohConfig::from_file`] for the text of such a file.
    pub fn from_json5(text: &str) -> Result<Self, ClientError> {
        Self::default().with_json5(text)
    }

    /// This configuration with what the Zenoh configuration file at `path` sets on top.
    pub fn with_file(self, path: &Path) -> Result<Self, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            ClientError::Zenoh(format!("cannot read {}: {error}", path.display()))
        })?;
        self.with_json5(&text)
            .map_err(|error| ClientError::Zenoh(format!("{}: {error}", path.display())))
    }

    /// This configuration with what the JSON5 text of a Zenoh configuration file sets on top.
    pub fn with_json5(mut self, text: &str) -> Result<Self, ClientError> {
        // Zenoh checks the whole file first (unknown keys, wrong types, bad endpoints).
        let checked = ::zenoh::Config::from_json5(text)
            .map_err(|error| ClientError::Zenoh(format!("invalid Zenoh configuration: {error}")))?;
        drop(checked);
        let value: serde_json::Value = json5::from_str(text)
            .map_err(|error| ClientError::Zenoh(format!("invalid JSON5: {error}")))?;
        let mut leaves = Vec::new();
        flatten(String::new(), &value, &mut leaves);
        for (key, value) in leaves {
            self.config
                .insert_json5(&key, &value.to_string())
                .map_err(|error| ClientError::Zenoh(format!("{key}: {error}")))?;
        }
        Ok(self)
    }

    /// Sets the mode.
    pub fn with_mode(mut self, mode: ZenohMode) -> Self {
        self.set("mode", format!("{:?}", mode.name()));
        self
    }

    /// Adds Zenoh endpoints to connect to (`tcp/192.0.2.7:7447`).
    pub fn with_connect(self, endpoints: &[String]) -> Result<Self, ClientError> {
        self.add_endpoints("connect/endpoints", endpoints)
    }

    /// Adds Zenoh endpoints to listen on (`tcp/127.0.0.1:7447`; port 0 picks a free one).
    pub fn with_listen(self, endpoints: &[String]) -> Result<Self, ClientError> {
        self.add_endpoints("listen/endpoints", endpoints)
    }

    /// The mode this configuration runs a session in.
    pub fn mode(&self) -> Option<ZenohMode> {
        let json = self.config.get_json("mode").ok()?;
        serde_json::from_str::<String>(&json).ok()?.parse().ok()
    }

    /// Whether multicast scouting is on.
    pub fn multicast_scouting(&self) -> bool {
        self.config
            .get_json("scouting/multicast/enabled")
            .is_ok_and(|json| json.trim() == "true")
    }

    /// Zenoh's own configuration, for opening a session.
    pub fn zenoh(&self) -> &::zenoh::Config {
        &self.config
    }

    /// Opens a Zenoh session with this configuration.
    pub fn open(&self) -> Result<::zenoh::Session, ClientError> {
        use ::zenoh::Wait;
        ::zenoh::open(self.config.clone())
            .wait()
            .map_err(|error| ClientError::Zenoh(format!("cannot open a Zenoh session: {error}")))
    }

    fn set(&mut self, key: &str, json: String) {
        // Callers pass keys and values Zenoh accepts.
        if let Err(error) = self.config.insert_json5(key, &json) {
            unreachable!("Zenoh refused {key} = {json}: {error}");
        }
    }

    fn add_endpoints(mut self, key: &str, endpoints: &[String]) -> Result<Self, ClientError> {
        if endpoints.is_empty() {
            return Ok(self);
        }
        let current = self.config.get_json(key).unwrap_or_default();
        let mut all: Vec<serde_json::Value> = match serde_json::from_str(&current) {
            Ok(serde_json::Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for endpoint in endpoints {
            // Zenoh's form is `tcp/host:port`; a ZeroMQ-style `tcp://host:port` is a common slip.
            if endpoint.contains("://") {
                return Err(ClientError::Zenoh(format!(
                    "{endpoint:?} is not a Zenoh endpoint: write it as tcp/host:port"
                )));
            }
            all.push(serde_json::Value::String(endpoint.clone()));
        }
        let json = serde_json::Value::Array(all).to_string();
        self.config
            .insert_json5(key, &json)
            .map_err(|error| ClientError::Zenoh(format!("{key}: {error}")))?;
        Ok(self)
    }
}

/// Every leaf of `value` as `(key/path, value)`: objects are walked into, anything else (arrays
/// included) is a leaf.
fn flatten(
    prefix: String,
    value: &serde_json::Value,
    leaves: &mut Vec<(String, serde_json::Value)>,
) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}/{key}")
                };
                flatten(path, inner, leaves);
            }
        }
        other if !prefix.is_empty() => leaves.push((prefix, other.clone())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_a_peer_without_multicast_scouting() {
        let config = ZenohConfig::default();
        assert_eq!(config.mode(), Some(ZenohMode::Peer));
        assert!(!config.multicast_scouting());
    }

    #[test]
    fn a_file_sets_what_it_says_and_keeps_scouting_off_otherwise() {
        let config = ZenohConfig::from_json5(
            r#"{ mode: "client", connect: { endpoints: ["tcp/127.0.0.1:7447"] } }"#,
        )
        .unwrap();
        assert_eq!(config.mode(), Some(ZenohMode::Client));
        assert!(!config.multicast_scouting());
        let connect = config.zenoh().get_json("connect/endpoints").unwrap();
        assert!(connect.contains("tcp/127.0.0.1:7447"), "{connect}");

        let scouting =
            ZenohConfig::from_json5("{ scouting: { multicast: { enabled: true } } }").unwrap();
        assert!(scouting.multicast_scouting());

        // A file that does not say the mode keeps the one it is applied over.
        let client = ZenohConfig::default()
            .with_mode(ZenohMode::Client)
            .with_json5("{ connect: { endpoints: [] } }")
            .unwrap();
        assert_eq!(client.mode(), Some(ZenohMode::Client));
    }

    #[test]
    fn bad_files_and_endpoints_are_errors() {
        assert!(ZenohConfig::from_json5("{ mode: ").is_err());
        assert!(ZenohConfig::from_json5(r#"{ mode: "sideways" }"#).is_err());
        assert!(ZenohConfig::from_json5("{ no_such_key: 1 }").is_err());
        let zmq_style = ZenohConfig::default().with_connect(&["tcp://127.0.0.1:7447".to_owned()]);
        assert!(zmq_style.is_err());
        assert!("sideways".parse::<ZenohMode>().is_err());
        assert_eq!("router".parse::<ZenohMode>().unwrap(), ZenohMode::Router);
    }

    #[test]
    fn endpoints_add_up() {
        let config = ZenohConfig::default()
            .with_listen(&["tcp/127.0.0.1:0".to_owned()])
            .unwrap()
            .with_listen(&["tcp/127.0.0.2:0".to_owned()])
            .unwrap();
        let listen = config.zenoh().get_json("listen/endpoints").unwrap();
        assert!(
            listen.contains("127.0.0.1") && listen.contains("127.0.0.2"),
            "{listen}"
        );
    }
}
