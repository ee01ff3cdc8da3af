//! streamkinect2 on Zenoh: a [`Bridge`] that reads a streamkinect2 server like any client does
//! (its control endpoint, then its depth endpoints) and publishes what it reads on Zenoh, so that
//! routers can carry the streams across networks and fan them out (docs/distributed.md).
//!
//! ```text
//!  kinect-server ---ZeroMQ--->  Bridge  ---Zenoh--->  router(s) ---> subscribers
//!  (any: ours, or the 2014      one subscription      kinect2/<server-id>/...
//!   Python one)                 per watched sensor
//! ```
//!
//! What the bridge declares, for one server (key layout in [`sk2_proto::zenoh_keys`] and
//! docs/protocol.md section 10):
//!
//! * a liveliness token `kinect2/<server-id>` while the server answers;
//! * a queryable `kinect2/<server-id>/me` answering the server's latest `me` JSON;
//! * per sensor, a publisher `kinect2/<server-id>/<sensor-id>/depth_v2` carrying every `depth_v2`
//!   message byte for byte as the server encoded it (one encode serves both transports), with
//!   congestion control *drop*: a slow or stalled link loses samples, it never makes the bridge
//!   queue or wait.
//!
//! A sensor that offers only the original `depth` endpoint (the 2014 server) is forwarded as it
//! is on `kinect2/<server-id>/<sensor-id>/depth`, not re-encoded to `depth_v2`: re-encoding
//! would cost a decode and an encode per frame in the bridge, and would have to invent the
//! sequence numbers and capture times that `depth` does not carry, while the 12-bit loss already
//! happened in the server. Subscribers decode it as the direct path does.
//!
//! The bridge reads a sensor only while Zenoh has a subscriber for its key (the publisher's
//! matching status), so a server whose streams nobody watches through Zenoh does not encode for
//! the bridge. It follows the server through restarts: it reconnects, re-reads `me`, and
//! publishes the sensors it has then.
//!
//! `kinect-server --zenoh` runs a bridge in the server's process, connected to the server's own
//! endpoints over loopback; `kinect-zenoh` runs one in front of any server.

//!
//! Everything here is behind the cargo feature `zenoh` (off by default, so that a workspace build
//! never compiles Zenoh): without it the crate is empty.

// Without `zenoh` the crate is empty, so the links above to its items cannot resolve;
// `cargo doc -p sk2-zenoh --features zenoh` resolves them all.
#![cfg_attr(not(feature = "zenoh"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "zenoh")]
mod bridge;
#[cfg(feature = "zenoh")]
mod config;
#[cfg(feature = "zenoh")]
mod error;
#[cfg(feature = "zenoh")]
mod following;
#[cfg(feature = "zenoh")]
mod forward;

#[cfg(feature = "zenoh")]
pub use bridge::{Bridge, BridgeStats};
#[cfg(feature = "zenoh")]
pub use config::{BridgeConfig, DEFAULT_BRIDGE_HEARTBEAT};
#[cfg(feature = "zenoh")]
pub use error::BridgeError;
#[cfg(feature = "zenoh")]
pub use following::TICK;
#[cfg(feature = "zenoh")]
pub use sk2_client::zenoh::{ZenohConfig, ZenohMode};

/// Runs a Zenoh router (or any node) with `config` until the returned session is closed or
/// dropped: the routing is Zenoh's own, as in `zenohd` without its plugins. For small set-ups
/// and tests; a site router is usually `zenohd`.
#[cfg(feature = "zenoh")]
pub fn start_node(config: &ZenohConfig) -> Result<zenoh::Session, BridgeError> {
    Ok(config.open()?)
}
