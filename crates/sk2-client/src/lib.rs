//! The streamkinect2 client: find servers, talk to them, receive decoded depth frames.
//!
//! * [`Browser`]: watches mDNS (`_kinect2._tcp`) and reports servers appearing and disappearing.
//! * [`Client`]: a robust control connection (`who` heartbeat, per-request timeouts, Lazy Pirate
//!   reconnection) that reports [`ClientEvent`]s and answers [`Client::ping`].
//! * [`Subscription`]: a device's depth frames, decoded off the application's thread into
//!   [`sk2_proto::DepthFrame`]s, with a bounded queue where the newest frame wins.
//!
//! Everything also works without mDNS: give [`Client`] a `tcp://host:port` endpoint.
//!
//! The easy way, blocking:
//!
//! ```no_run
//! use std::time::Duration;
//! use sk2_client::{Client, ClientConfig};
//!
//! let client = Client::connect_blocking("tcp://localhost:40949", ClientConfig::default(),
//!                                        Duration::from_secs(5))?;
//! let device = client.me().and_then(|me| me.devices.first().cloned()).ok_or("no sensor")?;
//! for frame in client.subscribe(&device.id)?.take(10) {
//!     let depth = frame.depth.into_array(); // ndarray::Array2<u16>, shape (424, 512)
//!     println!("centre pixel: {} mm", depth[[212, 256]]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For applications that watch many servers, read [`Client::events`] and [`Browser::events`]
//! (both `crossbeam_channel::Receiver`s, usable in `select!`).

pub mod browser;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod subscription;

pub use browser::{Browser, BrowserEvent, ServerInfo, SERVICE_TYPE};
pub use client::{Client, ClientConfig, ClientEvent, DisconnectReason};
pub use endpoint::{Endpoint, EndpointError, HostAddresses};
pub use error::ClientError;
pub use subscription::{
    EndpointKind, Frame, RawMessage, RawSubscription, Subscription, SubscriptionConfig,
    SubscriptionStats, DEFAULT_RAW_QUEUE_LEN, REFUSED_RETRY_INITIAL, REFUSED_RETRY_MAX,
};
