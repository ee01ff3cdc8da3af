//! [`Hub`]: what the viewer knows, shared between frame sources and browser tabs.
//!
//! Sources (the synthetic one, the real network client) tell the hub which servers and sensors
//! exist, report errors, and publish frames. The hub keeps only the LATEST frame of each sensor:
//! publishing replaces it, so a slow tab can never make frames pile up, and memory is bounded by
//! one frame per sensor plus the frames that tabs are downloading at this moment.
//!
//! Tabs ask for "the newest frame of this sensor newer than the one I have" and wait (bounded) for
//! one to arrive. Asking also marks the sensor as wanted, so a source can stream only the sensors
//! someone is looking at.

mod frame;
mod images;
mod snapshot;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

pub use frame::{ImageStream, ServedFrame, ServedImage, SourceFrame, SourceKey};
pub use snapshot::{SensorSnapshot, ServerSnapshot, Snapshot};
pub use state::DEFAULT_WANTED_FOR;
use state::{unknown_message, SensorState, State};

/// Unknown sensors asked for by tabs that are logged, at most; beyond that they are only shown on
/// the page, so a tab (or a script) asking for endless made-up names cannot grow memory or flood
/// the terminal.
const MAX_LOGGED_UNKNOWN: usize = 64;

/// Weight of the newest sample in the moving averages of frame interval and latency: about the
/// last ten frames count, so the figure settles within a second at 30 fps yet does not flicker.
const SMOOTHING: f64 = 0.1;

/// Why [`Hub::wait_frame`] returned no frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// No source has reported this sensor (or its server).
    #[error("{0}")]
    Unknown(String),
    /// No newer frame arrived in time; ask again.
    #[error("no new frame yet")]
    Timeout,
}

/// A cheap, cloneable handle to the viewer's shared state.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// Notified on every publish and on every change of the catalogue, so waiting tabs re-check.
    changed: Condvar,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how long a sensor stays wanted after a tab last asked for it (default
    /// [`DEFAULT_WANTED_FOR`]).
    pub fn with_wanted_for(self, wanted_for: Duration) -> Self {
        self.lock().wanted_for = wanted_for;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data, still consistent enough to show.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A source found a server (or reached it again): it is listed, and any error is cleared.
    pub fn server_seen(&self, server: &str, endpoint: &str) {
        let mut state = self.lock();
        let name = state.server_name(server).to_owned();
        let entry = state.server_entry(server, endpoint);
        entry.endpoint = endpoint.to_owned();
        if let Some(error) = entry.error.take() {
            tracing::info!(server = name, endpoint, previous_error = %error, "server reachable again");
        }
        drop(state);
        self.inner.changed.notify_all();
    }

    /// A server cannot be used right now; the message is shown on the page and, once per change,
    /// logged as a warning. The server stays listed (the source keeps retrying).
    pub fn server_error(&self, server: &str, endpoint: &str, message: &str) {
        self.server_unavailable(server, endpoint, message, true);
    }

    /// Like [`Hub::server_error`] for an expected wait (connecting), logged at `info`.
    pub fn server_pending(&self, server: &str, endpoint: &str, message: &str) {
        self.server_unavailable(server, endpoint, message, false);
    }

    fn server_unavailable(&self, server: &str, endpoint: &str, message: &str, problem: bool) {
        let mut state = self.lock();
        let name = state.server_name(server).to_owned();
        let entry = state.server_entry(server, endpoint);
        if entry.error.as_deref() != Some(message) {
            if problem {
                tracing::warn!(server = name, endpoint, "{message}");
            } else {
                tracing::info!(server = name, endpoint, "{message}");
            }
            entry.error = Some(message.to_owned());
        }
        drop(state);
        self.inner.changed.notify_all();
    }

    /// Sets the name people know `server` by (shown on the page; by default its key). May come
    /// before the server is listed; forgotten with [`Hub::server_gone`].
    pub fn name_server(&self, server: &str, name: &str) {
        let mut state = self.lock();
        if server == name {
            state.server_names.remove(server);
        } else {
            state
                .server_names
                .insert(server.to_owned(), name.to_owned());
        }
        drop(state);
        self.inner.changed.notify_all();
    }

    /// A server went away: it and its sensors are no longer listed.
    pub fn server_gone(&self, server: &str) {
        let mut state = self.lock();
        state.servers.remove(server);
        state.server_names.remove(server);
        state.sensors.retain(|key, _| key.server != server);
        drop(state);
        self.inner.changed.notify_all();
    }

    /// The server now has exactly these sensors (id, codec); others of it are forgotten.
    pub fn set_sensors(&self, server: &str, sensors: &[(String, String)]) {
        let mut state = self.lock();
        state.sensors.retain(|key, _| {
            key.server != server || sensors.iter().any(|(id, _)| *id == key.sensor)
        });
        for (id, codec) in sensors {
            let sensor = state
                .sensors
                .entry(SourceKey::new(server, id.as_str()))
                .or_insert_with(|| SensorState::new(codec));
            sensor.codec.clone_from(codec);
        }
        drop(state);
        self.inner.changed.notify_all();
    }

    /// A sensor cannot stream right now (`Some`), or streams again (`None`).
    pub fn sensor_error(&self, key: &SourceKey, message: Option<&str>) {
        let mut state = self.lock();
        if let Some(sensor) = state.sensors.get_mut(key) {
            if sensor.error.as_deref() != message {
                match message {
                    Some(message) => tracing::warn!(source = %key, "{message}"),
                    None => tracing::info!(source = %key, "sensor streaming again"),
                }
                sensor.error = message.map(str::to_owned);
            }
        }
        drop(state);
        self.inner.changed.notify_all();
    }

    /// Sets (`Some`) or clears (`None`) the notice about `topic`; a new text is logged once as a
    /// warning, so the terminal shows what the page shows.
    pub fn set_notice(&self, topic: &str, message: Option<&str>) {
        let mut state = self.lock();
        match message {
            Some(message) if state.notices.get(topic).map(String::as_str) != Some(message) => {
                tracing::warn!(topic, "{message}");
                state.notices.insert(topic.to_owned(), message.to_owned());
            }
            Some(_) => {}
            None => {
                if state.notices.remove(topic).is_some() {
                    tracing::info!(topic, "resolved");
                }
            }
        }
        drop(state);
        self.inner.changed.notify_all();
    }

    /// Makes tabs open on this sensor id (whichever server has it) rather than the first one.
    pub fn set_preferred_sensor(&self, sensor: Option<&str>) {
        self.lock().preferred_sensor = sensor.map(str::to_owned);
    }

    /// Whether a tab asked for this sensor within the wanted time ([`Hub::with_wanted_for`]).
    pub fn is_wanted(&self, key: &SourceKey) -> bool {
        let state = self.lock();
        state
            .sensors
            .get(key)
            .and_then(|sensor| sensor.wanted_until)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Makes `frame` the latest of its sensor, replacing (and so dropping) the previous one.
    /// Never blocks for long: sources call it on their receiving thread. A frame of a sensor the
    /// hub does not list is ignored.
    pub fn publish(&self, key: &SourceKey, frame: SourceFrame) {
        let now = Instant::now();
        // Lay the bytes out before taking the lock, so tabs are never held up by the copy.
        let mut depth_le = Vec::with_capacity(frame.depth.depth_mm().len() * 2);
        for value in frame.depth.depth_mm() {
            depth_le.extend_from_slice(&value.to_le_bytes());
        }
        let mut state = self.lock();
        let Some(sensor) = state.sensors.get_mut(key) else {
            tracing::trace!(source = %key, "frame for an unlisted sensor ignored");
            return;
        };
        sensor.lost += frame.lost;
        if let Some(last) = sensor.last_arrival {
            let interval = now.duration_since(last).as_secs_f64();
            sensor.interval_s = Some(smooth(sensor.interval_s, interval));
        }
        if let Some(latency) = frame.latency {
            let latency_ms = latency.as_secs_f64() * 1e3;
            sensor.latency_ms = Some(smooth(sensor.latency_ms, latency_ms));
        }
        sensor.last_arrival = Some(now);
        sensor.frames_received += 1;
        let number = sensor.frames_received;
        sensor.latest = Some(Arc::new(ServedFrame {
            number,
            width_px: frame.depth.width(),
            height_px: frame.depth.height(),
            depth_le,
            sensor_sequence: frame.sensor_sequence,
            capture_time_ns: frame.capture_time_ns,
        }));
        tracing::trace!(source = %key, number, "frame published");
        drop(state);
        self.inner.changed.notify_all();
    }

    /// The newest frame of `key` whose number is above `after` (any frame when `None`), waiting
    /// up to `timeout` for one. Marks the sensor as wanted.
    pub fn wait_frame(
        &self,
        key: &SourceKey,
        after: Option<u64>,
        timeout: Duration,
    ) -> Result<Arc<ServedFrame>, WaitError> {
        // A sensor that has sent no frame yet is waited for like one that has sent no new one.
        self.long_poll(key, after, timeout, |state| {
            Ok(state
                .sensors
                .get(key)
                .and_then(|sensor| sensor.latest.clone()))
        })
    }

    /// A tab's long poll for something of sensor `key` (its depth frame, one of its images):
    /// marks the sensor as wanted, and returns what `newest` finds in the state once it is
    /// numbered above `after` (anything when `None`), waiting up to `timeout` for it. `newest`
    /// answers `Ok(None)` to wait for a first one, or an error to answer at once.
    fn long_poll<T: Numbered>(
        &self,
        key: &SourceKey,
        after: Option<u64>,
        timeout: Duration,
        newest: impl Fn(&State) -> Result<Option<Arc<T>>, WaitError>,
    ) -> Result<Arc<T>, WaitError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        let wanted_for = state.wanted_for;
        loop {
            let now = Instant::now();
            let Some(sensor) = state.sensors.get_mut(key) else {
                return Err(unknown_sensor(&mut state, key));
            };
            sensor.wanted_until = Some(now + wanted_for);
            if let Some(newest) = newest(&state)? {
                if after.map_or(true, |after| newest.number() > after) {
                    return Ok(newest);
                }
            }
            if now >= deadline {
                return Err(WaitError::Timeout);
            }
            state = self
                .inner
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// A copy of the catalogue and the figures of every sensor.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        Snapshot {
            servers: state
                .servers
                .iter()
                .map(|(key, server)| ServerSnapshot {
                    key: key.clone(),
                    name: state.server_name(key).to_owned(),
                    endpoint: server.endpoint.clone(),
                    error: server.error.clone(),
                })
                .collect(),
            sensors: state
                .sensors
                .iter()
                .map(|(key, sensor)| SensorSnapshot {
                    server: key.server.clone(),
                    server_name: state.server_name(&key.server).to_owned(),
                    sensor: key.sensor.clone(),
                    codec: sensor.codec.clone(),
                    error: sensor.error.clone(),
                    frames_received: sensor.frames_received,
                    lost: sensor.lost,
                    fps: sensor
                        .interval_s
                        .filter(|interval| *interval > 0.0)
                        .map(|interval| 1.0 / interval),
                    latency_ms: sensor.latency_ms,
                })
                .collect(),
            notices: state.notices.values().cloned().collect(),
            preferred_sensor: state.preferred_sensor.clone(),
        }
    }

    /// Wakes every waiting tab (used at shutdown so they answer at once).
    pub(crate) fn wake_all(&self) {
        self.inner.changed.notify_all();
    }
}

/// What a tab long-polls for: numbered from 1 in the order the hub received them, per sensor and
/// stream, so that a tab can ask for one newer than the one it has.
trait Numbered {
    fn number(&self) -> u64;
}

impl Numbered for ServedFrame {
    fn number(&self) -> u64 {
        self.number
    }
}

impl Numbered for ServedImage {
    fn number(&self) -> u64 {
        self.number
    }
}

/// The answer to a tab asking for sensor `key`, which no source reported; the first few such
/// sensors are logged too, each once.
fn unknown_sensor(state: &mut State, key: &SourceKey) -> WaitError {
    let message = unknown_message(state, key);
    if state.logged_unknown.len() < MAX_LOGGED_UNKNOWN && state.logged_unknown.insert(key.clone()) {
        tracing::warn!(source = %key, "a tab asked for it: {message}");
    }
    WaitError::Unknown(message)
}

fn smooth(average: Option<f64>, sample: f64) -> f64 {
    average.map_or(sample, |average| average + SMOOTHING * (sample - average))
}

/// Something that feeds a [`Hub`]: the synthetic picture, or the real network client.
///
/// `run` is called on a thread of its own. It reports servers, sensors and errors, publishes
/// frames, retries whatever fails, and returns once `shutdown` is disconnected (its sender
/// dropped), within about a second.
pub trait FrameSource: Send + 'static {
    /// Feeds `hub` until `shutdown` is disconnected.
    fn run(self: Box<Self>, hub: Hub, shutdown: Receiver<()>);
}
