//! The streamkinect2 client: find servers, talk to them, receive decoded depth frames.
//!
//! * [`Browser`]: watches mDNS (`_kinect2._tcp`) and reports servers appearing and disappearing.
//! * [`Client`]: a robust control connection (`who` heartbeat, per-request timeouts, Lazy Pirate
//!   reconnection) that reports [`ClientEvent`]s and answers [`Client::ping`].
//! * [`Subscription`]: a device's depth frames, decoded off the application's thread into
//!   [`ReceivedFrame`]s, with a bounded queue where the newest frame wins and counters
//!   ([`SubscriptionStats`]) of what was lost, skipped or dropped. [`RawSubscription`]
//!   ([`Client::subscribe_raw`]) gives every `depth_v2` message byte for byte instead, for
//!   recorders.
//! * [`IrSubscription`] ([`Client::subscribe_ir`]: infrared amplitudes, `ir_v2`),
//!   [`ColorSubscription`] ([`Client::subscribe_color`]: colour decoded to an RGB
//!   `ndarray::Array3<u8>` of shape (height, width, 3)) and [`ColorJpegSubscription`]
//!   ([`Client::subscribe_color_jpeg`]: the JPEG as sent): the same rules and counters, each on
//!   its own socket, thread and queue. [`Client::calibration`] gives a sensor's intrinsics for
//!   [`sk2_proto::registration`] (point clouds, colour per point).
//! * [`Watcher`]: all of the above for every server at once: browses, keeps one client per server,
//!   merges their events into [`WatchEvent`]s, and has mDNS re-verify servers that stop answering.
//! * [`ClientConfig`], [`SubscriptionConfig`], [`WatcherConfig`]: plain settings, built with
//!   `with_*` methods from `Default`.
//! * [`key_files`]: CurveZMQ key files read with every check (private, both keys, consistent),
//!   for [`ClientConfig::with_client_keys`] and the server's own key.
//!
//! With the cargo feature `zenoh`, [`zenoh::ZenohClient`] gives the same subscriptions through
//! Zenoh, from the key space a bridge publishes (docs/distributed.md).
//!
//! Everything also works without mDNS: give [`Client`] or [`Watcher::add_endpoint`] a
//! `tcp://host:port` endpoint.
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
//! For applications that watch many servers, use a [`Watcher`], or read [`Client::events`] and
//! [`Browser::events`] (both `crossbeam_channel::Receiver`s, usable in `select!`).
//!
//! Inside, the modules form layers, and none reaches back up: `endpoint`, `backoff` and
//! `drop_oldest` are leaves; `error` knows only `endpoint`, `curve` (CurveZMQ keys and handshake
//! failures) only `error`, `config` only `endpoint` and `curve`; `browser`, `receiving` (the thread
//! that owns a subscription's socket) and `control` (the thread that owns a client's socket) build
//! on those; `feed` (a subscription's thread and queue, and the methods every handle shares) on
//! `receiving`; the handles `subscription` and `raw_subscription` on `feed`; `client` (the handle)
//! on `control` and the subscription handles; `image_subscription` on `feed` and `client` (it adds
//! the infrared, colour and calibration methods to `Client`); `watcher` on `browser` and
//! `client`; `zenoh` on `subscription` and `receiving`. `key_files` stands apart: it knows only
//! [`sk2_proto::curve`].

// Without `zenoh` the `zenoh` module is not compiled, so the link above to it cannot resolve;
// `cargo doc -p sk2-client --features zenoh` resolves it.
#![cfg_attr(not(feature = "zenoh"), allow(rustdoc::broken_intra_doc_links))]

mod backoff;
mod browser;
mod client;
mod config;
mod control;
mod curve;
mod drop_oldest;
mod endpoint;
mod error;
mod feed;
mod image_subscription;
pub mod key_files;
mod raw_subscription;
mod receiving;
mod subscription;
mod watcher;
#[cfg(feature = "zenoh")]
pub mod zenoh;

pub use browser::{
    Browser, BrowserError, BrowserEvent, ServerInfo, BROWSER_EVENT_QUEUE_LEN, VERIFY_TIMEOUT,
};
pub use client::Client;
pub use config::{
    ClientConfig, SubscriptionConfig, DEFAULT_EVENT_QUEUE_LEN, DEFAULT_FRAME_QUEUE_LEN,
    DEFAULT_HEARTBEAT, DEFAULT_RCVHWM, DEFAULT_RECONNECT_BACKOFF_INITIAL,
    DEFAULT_RECONNECT_BACKOFF_MAX, DEFAULT_REQUEST_TIMEOUT,
};
pub use control::{ClientEvent, DisconnectReason};
pub use endpoint::{
    resolve_local_host, zmq_address, Endpoint, EndpointError, HostAddresses, HOST_RESOLVE_TIMEOUT,
};
pub use error::ClientError;
pub use image_subscription::{
    ColorJpegSubscription, ColorSubscription, ImageSubscription, IrSubscription,
    RawStreamSubscription, ReceivedColorFrame, ReceivedColorJpeg, ReceivedIrFrame,
};
pub use raw_subscription::{RawSubscription, DEFAULT_RAW_QUEUE_LEN};
pub use receiving::{
    EndpointKind, RawMessage, RawStreamMessage, ReceivedFrame, SubscriptionStats,
    MAX_DEPTH_MESSAGE_BYTES, REFUSED_RETRY_INITIAL, REFUSED_RETRY_MAX,
};
pub use sk2_proto::curve::{KeyPair, PublicKey, SecretKey};
pub use sk2_proto::discovery::SERVICE_TYPE;
pub use subscription::Subscription;
pub use watcher::{
    WatchEvent, WatchedServer, Watcher, WatcherConfig, DEFAULT_RETRY_AFTER, DEFAULT_REVERIFY_EVERY,
};
