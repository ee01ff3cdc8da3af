//! The control thread: owns the REP socket, answers every request with exactly one reply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sk2_proto::control::{ErrorPayload, Reply, Request};
use sk2_proto::Me;

use crate::SensorStats;

/// How often the control thread looks at the shutdown flag while no request arrives: bounds the
/// time `stop` waits for it.
pub(crate) const CONTROL_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What the control thread reads, shared with the [`crate::Server`] handle.
pub(crate) struct ControlShared {
    /// The current `me`, updated when sensors come and go.
    pub(crate) me: Mutex<Me>,
    /// Set to ask the thread to end.
    pub(crate) shutdown: AtomicBool,
}

/// Serves requests on `socket` until `shared.shutdown` is set; logs the counters every
/// `stats_interval`.
pub(crate) fn serve(
    socket: &zmq::Socket,
    shared: &ControlShared,
    stats: &(dyn Fn() -> Vec<SensorStats> + Send + Sync),
    stats_interval: Duration,
) {
    let mut next_stats = Instant::now() + stats_interval;
    while !shared.shutdown.load(Ordering::Acquire) {
        if Instant::now() >= next_stats {
            next_stats += stats_interval;
            for sensor in stats() {
                tracing::info!(
                    sensor = %sensor.id,
                    captured = sensor.captured,
                    encoded = sensor.encoded,
                    published = sensor.published,
                    bytes = sensor.bytes_published,
                    dropped_busy = sensor.dropped_busy,
                    dropped_stale = sensor.dropped_stale,
                    dropped_encode_error = sensor.dropped_encode_error,
                    dropped_closing = sensor.dropped_closing,
                    unwatched = sensor.unwatched,
                    depth_messages = sensor.depth_messages,
                    depth_v2_messages = sensor.depth_v2_messages,
                    refused_subscribers = sensor.refused_subscribers,
                    evicted_subscribers = sensor.evicted_subscribers,
                    unauthorised_subscribers = sensor.unauthorised_subscribers,
                    "sensor counters"
                );
            }
        }
        let timeout_ms = i64::try_from(CONTROL_POLL_INTERVAL.as_millis()).unwrap_or(50);
        match socket.poll(zmq::POLLIN, timeout_ms) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(zmq::Error::ETERM) => return,
            Err(error) => {
                tracing::warn!(%error, "control socket poll failed");
                continue;
            }
        }
        let frames = match socket.recv_multipart(zmq::DONTWAIT) {
            Ok(frames) => frames,
            Err(zmq::Error::EAGAIN) => continue,
            Err(zmq::Error::ETERM) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot receive control request");
                continue;
            }
        };
        let reply = answer(&frames, shared);
        // REP must answer before it can receive again; a send that fails (peer gone) resets it.
        if let Err(error) = socket.send_multipart(reply.encode(), 0) {
            tracing::warn!(%error, "cannot send control reply");
        }
    }
}

/// The one reply to a request: `pong`, `me`, or a 400 `error` saying what was wrong.
pub(crate) fn answer(frames: &[Vec<u8>], shared: &ControlShared) -> Reply {
    match Request::decode(frames) {
        Ok(Request::Ping) => Reply::Pong,
        Ok(Request::Who) => Reply::Me(lock(&shared.me).clone()),
        Ok(other) => Reply::Error(ErrorPayload::bad_request(format!(
            "unsupported request {other:?}"
        ))),
        Err(error) => {
            tracing::debug!(%error, "malformed control request");
            Reply::Error(ErrorPayload::bad_request(error.to_string()))
        }
    }
}

/// Locks a mutex even if a thread panicked while holding it: `Me` is always left consistent
/// (it is replaced or edited in single steps).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
