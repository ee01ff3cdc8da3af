//! The Zenoh stack `zenoh-v2-<codec>` and the fan-out measurement (docs/distributed.md).
//!
//! * Publisher role: the same `sk2-server` and [`BenchSensor`](crate::real::BenchSensor) as
//!   `server-v2-<codec>`, with an `sk2-zenoh` bridge in the process reading the server's own
//!   `depth_v2` endpoint over loopback, as `kinect-server --zenoh` does. It prints
//!   `endpoint tcp/127.0.0.1:<port>`: the Zenoh endpoint the bridge listens on.
//! * Subscriber role: an `sk2-client` Zenoh subscription connected to that endpoint, measured by
//!   the same loop as the direct path; a stalled one blocks in Zenoh's callback and never returns.
//! * [`fanout`]: the bytes the server process sends for 1 and N subscribers, directly (each
//!   subscriber a Zenoh peer of the bridge) and through a Zenoh router, counted by a relay this
//!   process puts on the server's only TCP path.
//!
//! Without the `zenoh` feature, every entry point fails with a message saying how to build it.

#[cfg(not(feature = "zenoh"))]
use std::{path::Path, sync::atomic::AtomicBool, time::Duration};

#[cfg(not(feature = "zenoh"))]
use {crate::frames::Input, crate::roles::Stack, anyhow::Result, sk2_proto::depth_v2::Codec};

mod shared;
pub use shared::{fanout_table, FanoutRow, BENCH_SERVER_ID};

#[cfg(feature = "zenoh")]
mod enabled;
#[cfg(feature = "zenoh")]
pub use enabled::{fanout, route, serve, subscribe};

#[cfg(not(feature = "zenoh"))]
const NOT_BUILT: &str = "this kinect-bench was built without Zenoh; rebuild with \
    `cargo build --release -p sk2-bench --features zenoh`";

/// Serves `stack` (a `zenoh-v2-<codec>`) through a bridge; `connect`: the bridge connects there
/// instead of listening (for the fan-out through a router).
#[cfg(not(feature = "zenoh"))]
pub fn serve(
    _stack: Stack,
    _input: &Input,
    _rate_fps: f64,
    _max_seconds: f64,
    _connect: Option<&str>,
) -> Result<()> {
    anyhow::bail!(NOT_BUILT)
}

/// A subscriber of the `zenoh-v2-<codec>` stack connected to the Zenoh endpoint `endpoint`.
#[cfg(not(feature = "zenoh"))]
pub fn subscribe(_stack: Stack, _endpoint: &str, _stall: bool, _max_seconds: f64) -> Result<()> {
    anyhow::bail!(NOT_BUILT)
}

/// A Zenoh router listening on `listen` until stdin closes.
#[cfg(not(feature = "zenoh"))]
pub fn route(_listen: &str, _max_seconds: f64) -> Result<()> {
    anyhow::bail!(NOT_BUILT)
}

/// Measures the bytes the server sends for each subscriber count, directly and through a router.
#[cfg(not(feature = "zenoh"))]
pub fn fanout(
    _exe: &Path,
    _codec: Codec,
    _counts: &[usize],
    _window: Duration,
    _stop: &AtomicBool,
) -> Result<Vec<FanoutRow>> {
    anyhow::bail!(NOT_BUILT)
}
