//! Depth streams through Zenoh (cargo feature `zenoh`; docs/distributed.md).
//!
//! A bridge (the `sk2-zenoh` crate: `kinect-server --zenoh`, or `kinect-zenoh` in front of any
//! server) publishes every sensor's messages on Zenoh key expressions
//! ([`sk2_proto::zenoh_keys`]). [`ZenohClient`] reads them back into the same [`Subscription`]
//! and [`ReceivedFrame`](crate::ReceivedFrame)s as the direct ZeroMQ path, with the same counters
//! ([`SubscriptionStats`](crate::SubscriptionStats)): gaps in sequence numbers count as `lost`,
//! anything undecodable on the key as `decode_errors`, and the newest message wins when the
//! application or the decoder is slower than the sensor.
//!
//! [`ZenohConfig`] is Zenoh's own configuration (a JSON5 file), with multicast scouting off
//! unless the file turns it on.

mod client;
mod config;
mod receiving;

pub use client::{
    ServerWatch, ZenohClient, ZenohServerEvent, DEFAULT_ME_TIMEOUT, ME_RETRY_INTERVAL,
};
pub use config::{
    ZenohConfig, ZenohMode, TX_QUEUE_BATCHES, WAIT_BEFORE_DROP_FRAGMENTS_US, WAIT_BEFORE_DROP_US,
};

#[cfg(doc)]
use crate::Subscription;
