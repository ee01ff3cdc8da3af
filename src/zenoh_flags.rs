//! The Zenoh flags the binaries share (`--zenoh-config`, `--zenoh-mode`, `--zenoh-connect`,
//! `--zenoh-listen`; docs/distributed.md). They parse in every build; using them needs a build
//! with the cargo feature `zenoh`, and without it they fail with a line saying so.

use std::path::PathBuf;

/// Flags that configure a Zenoh session.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ZenohFlags {
    /// Zenoh configuration file (JSON5, Zenoh's format: mode, connect and listen endpoints, ...).
    /// Keys it does not set keep our defaults: peer mode, multicast scouting off.
    #[arg(long, value_name = "FILE")]
    pub zenoh_config: Option<PathBuf>,
    /// Zenoh mode: peer, client or router (overrides the file; default: peer for a bridge,
    /// client for kinect-browse and kinect-view).
    #[arg(long, value_name = "MODE")]
    pub zenoh_mode: Option<String>,
    /// Zenoh endpoint to connect to, `tcp/host:port` (repeatable; added to the file's).
    #[arg(long, value_name = "ENDPOINT")]
    pub zenoh_connect: Vec<String>,
    /// Zenoh endpoint to listen on, `tcp/host:port` (repeatable; added to the file's).
    #[arg(long, value_name = "ENDPOINT")]
    pub zenoh_listen: Vec<String>,
}

/// What a build without the `zenoh` feature says when asked for Zenoh.
pub const NOT_BUILT: &str = "this binary was built without Zenoh; rebuild with \
    `cargo build --release --features zenoh` (see docs/distributed.md)";

impl ZenohFlags {
    /// Whether any of the flags was given.
    pub fn any(&self) -> bool {
        self.zenoh_config.is_some()
            || self.zenoh_mode.is_some()
            || !self.zenoh_connect.is_empty()
            || !self.zenoh_listen.is_empty()
    }

    /// The session configuration the flags describe, in `default_mode` unless the file or
    /// `--zenoh-mode` says otherwise: consumers default to client mode (they talk to the router
    /// or bridge they are given, and reconnect to it), a bridge to peer mode.
    #[cfg(feature = "zenoh")]
    pub fn config(
        &self,
        default_mode: sk2_client::zenoh::ZenohMode,
    ) -> anyhow::Result<sk2_client::zenoh::ZenohConfig> {
        use sk2_client::zenoh::{ZenohConfig, ZenohMode};
        let mut config = ZenohConfig::default().with_mode(default_mode);
        if let Some(path) = &self.zenoh_config {
            config = config.with_file(path)?;
        }
        if let Some(mode) = &self.zenoh_mode {
            config = config.with_mode(mode.parse::<ZenohMode>()?);
        }
        Ok(config
            .with_connect(&self.zenoh_connect)?
            .with_listen(&self.zenoh_listen)?)
    }
}
