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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use serde::Serialize;
use sk2_proto::DepthFrame;

/// By default a sensor stays "wanted" this long after a tab last asked for it
/// ([`Hub::with_wanted_for`]). Tabs ask once per frame (at least every long-poll timeout), so 5 s
/// covers a busy tab's pauses without streaming for long to nobody after the last tab closed.
pub const DEFAULT_WANTED_FOR: Duration = Duration::from_secs(5);

/// Unknown sensors asked for by tabs that are logged, at most; beyond that they are only shown on
/// the page, so a tab (or a script) asking for endless made-up names cannot grow memory or flood
/// the terminal.
const MAX_LOGGED_UNKNOWN: usize = 64;

/// Weight of the newest sample in the moving averages of frame interval and latency: about the
/// last ten frames count, so the figure settles within a second at 30 fps yet does not flicker.
const SMOOTHING: f64 = 0.1;

/// Which sensor of which server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SourceKey {
    /// The server's name (from discovery or its `me` reply).
    pub server: String,
    /// The sensor's id on that server.
    pub sensor: String,
}

impl SourceKey {
    /// A key from a server name and a sensor id.
    pub fn new(server: impl Into<String>, sensor: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            sensor: sensor.into(),
        }
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.server, self.sensor)
    }
}

/// One frame as a source hands it to the hub.
#[derive(Debug, Clone)]
pub struct SourceFrame {
    /// The depth image, in millimetres.
    pub depth: DepthFrame,
    /// The sensor's frame counter, when the stream carries one (`depth_v2` does, `depth` does
    /// not).
    pub sensor_sequence: Option<u64>,
    /// When the sensor's host captured the frame, in ns since the Unix epoch, when known.
    pub capture_time_ns: Option<u64>,
    /// Capture to arrival at the source, as the source measured it (the network source gives the
    /// client's [`sk2_client::ReceivedFrame::latency`]), when known.
    pub latency: Option<Duration>,
    /// Frames of this sensor lost on the way to the source since the previous frame it published
    /// (the network source gives the growth of the client's [`sk2_client::SubscriptionStats::lost`]).
    pub lost: u64,
}

/// A frame as the hub keeps it: already laid out as the bytes a tab downloads.
#[derive(Debug)]
pub struct ServedFrame {
    /// Counts up by one per frame the hub received for this sensor, from 1. Tabs ask for frames
    /// newer than the last number they drew; a jump means the tab skipped frames.
    pub number: u64,
    /// Width in pixels.
    pub width_px: usize,
    /// Height in pixels.
    pub height_px: usize,
    /// The pixels as little-endian `u16` millimetres, row-major.
    pub depth_le: Vec<u8>,
    /// From [`SourceFrame::sensor_sequence`].
    pub sensor_sequence: Option<u64>,
    /// From [`SourceFrame::capture_time_ns`].
    pub capture_time_ns: Option<u64>,
}

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

struct State {
    /// How long a sensor stays wanted after a tab asked for it.
    wanted_for: Duration,
    servers: BTreeMap<String, ServerState>,
    sensors: BTreeMap<SourceKey, SensorState>,
    /// Problems not tied to one server (discovery failing, `--sensor` not found), by topic.
    notices: BTreeMap<String, String>,
    preferred_sensor: Option<String>,
    /// Unknown sensors a tab asked for that were logged already (each once).
    logged_unknown: std::collections::BTreeSet<SourceKey>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            wanted_for: DEFAULT_WANTED_FOR,
            servers: BTreeMap::new(),
            sensors: BTreeMap::new(),
            notices: BTreeMap::new(),
            preferred_sensor: None,
            logged_unknown: std::collections::BTreeSet::new(),
        }
    }
}

struct ServerState {
    endpoint: String,
    error: Option<String>,
}

impl State {
    /// The entry of `server`, listed at `endpoint` with no error if it was not listed yet.
    fn server_entry(&mut self, server: &str, endpoint: &str) -> &mut ServerState {
        self.servers
            .entry(server.to_owned())
            .or_insert_with(|| ServerState {
                endpoint: endpoint.to_owned(),
                error: None,
            })
    }
}

struct SensorState {
    codec: String,
    error: Option<String>,
    latest: Option<Arc<ServedFrame>>,
    frames_received: u64,
    lost: u64,
    last_arrival: Option<Instant>,
    interval_s: Option<f64>,
    latency_ms: Option<f64>,
    wanted_until: Option<Instant>,
}

impl SensorState {
    fn new(codec: &str) -> Self {
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

/// What the page shows in its selector and status line: a copy of the catalogue at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Every server a source knows of.
    pub servers: Vec<ServerSnapshot>,
    /// Every sensor of those servers.
    pub sensors: Vec<SensorSnapshot>,
    /// Problems not tied to one server, e.g. discovery failing or `--sensor` not found.
    pub notices: Vec<String>,
    /// The sensor id tabs should show first (`kinect-view --sensor`), if any.
    pub preferred_sensor: Option<String>,
}

/// One server in a [`Snapshot`].
#[derive(Debug, Clone, Serialize)]
pub struct ServerSnapshot {
    /// Its name.
    pub name: String,
    /// Its control endpoint, e.g. `tcp://127.0.0.1:5555`.
    pub endpoint: String,
    /// Why it cannot be used right now (unreachable, ...), if so.
    pub error: Option<String>,
}

/// One sensor in a [`Snapshot`].
#[derive(Debug, Clone, Serialize)]
pub struct SensorSnapshot {
    /// Its server's name.
    pub server: String,
    /// Its id.
    pub sensor: String,
    /// The codec its frames arrive in (`rvl`, `sk2`, ...).
    pub codec: String,
    /// Why it is not streaming, if so.
    pub error: Option<String>,
    /// Frames received by the viewer so far.
    pub frames_received: u64,
    /// Frames the sensor produced that never reached the viewer (the client's
    /// [`sk2_client::SubscriptionStats::lost`], summed over the viewer's subscriptions).
    pub lost: u64,
    /// Frames per second arriving at the viewer (moving average), once two have arrived.
    pub fps: Option<f64>,
    /// Capture to arrival at the viewer, in ms (moving average of the client's figure), when the
    /// stream carries a capture time. Assumes the server's clock agrees with this host's.
    pub latency_ms: Option<f64>,
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
        let entry = state.server_entry(server, endpoint);
        entry.endpoint = endpoint.to_owned();
        if let Some(error) = entry.error.take() {
            tracing::info!(server, endpoint, previous_error = %error, "server reachable again");
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
        let entry = state.server_entry(server, endpoint);
        if entry.error.as_deref() != Some(message) {
            if problem {
                tracing::warn!(server, endpoint, "{message}");
            } else {
                tracing::info!(server, endpoint, "{message}");
            }
            entry.error = Some(message.to_owned());
        }
        drop(state);
        self.inner.changed.notify_all();
    }

    /// A server went away: it and its sensors are no longer listed.
    pub fn server_gone(&self, server: &str) {
        let mut state = self.lock();
        state.servers.remove(server);
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
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        let wanted_for = state.wanted_for;
        loop {
            let now = Instant::now();
            match state.sensors.get_mut(key) {
                Some(sensor) => {
                    sensor.wanted_until = Some(now + wanted_for);
                    if let Some(latest) = &sensor.latest {
                        if after.map_or(true, |after| latest.number > after) {
                            return Ok(Arc::clone(latest));
                        }
                    }
                }
                None => {
                    let message = unknown_message(&state, key);
                    if state.logged_unknown.len() < MAX_LOGGED_UNKNOWN
                        && state.logged_unknown.insert(key.clone())
                    {
                        tracing::warn!(source = %key, "a tab asked for it: {message}");
                    }
                    return Err(WaitError::Unknown(message));
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
                .map(|(name, server)| ServerSnapshot {
                    name: name.clone(),
                    endpoint: server.endpoint.clone(),
                    error: server.error.clone(),
                })
                .collect(),
            sensors: state
                .sensors
                .iter()
                .map(|(key, sensor)| SensorSnapshot {
                    server: key.server.clone(),
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

fn smooth(average: Option<f64>, sample: f64) -> f64 {
    average.map_or(sample, |average| average + SMOOTHING * (sample - average))
}

/// A message for a tab asking for a sensor nobody has reported: says what is known instead.
fn unknown_message(state: &State, key: &SourceKey) -> String {
    match state.servers.get(&key.server) {
        None if state.servers.is_empty() => format!(
            "server {:?} not found (no servers found yet; still looking)",
            key.server
        ),
        None => format!(
            "server {:?} not found (known: {}); still looking",
            key.server,
            state.servers.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        Some(ServerState {
            error: Some(error), ..
        }) => format!("server {:?}: {error}", key.server),
        Some(_) => {
            let ids: Vec<_> = state
                .sensors
                .keys()
                .filter(|other| other.server == key.server)
                .map(|other| other.sensor.clone())
                .collect();
            format!(
                "sensor {:?} not found on server {:?} (it has: {}); still looking",
                key.sensor,
                key.server,
                if ids.is_empty() {
                    "none".to_owned()
                } else {
                    ids.join(", ")
                }
            )
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: u16, sequence: Option<u64>) -> SourceFrame {
        SourceFrame {
            depth: DepthFrame::new(2, 1, vec![value, 0]).unwrap(),
            sensor_sequence: sequence,
            capture_time_ns: None,
            latency: None,
            lost: 0,
        }
    }

    fn hub_with_sensor() -> (Hub, SourceKey) {
        let hub = Hub::new();
        hub.server_seen("s", "tcp://127.0.0.1:1");
        hub.set_sensors("s", &[("a".into(), "rvl".into())]);
        (hub, SourceKey::new("s", "a"))
    }

    #[test]
    fn a_slow_reader_gets_the_newest_frame_not_the_next_one() {
        let (hub, key) = hub_with_sensor();
        for value in 1..=5 {
            hub.publish(&key, frame(value, Some(u64::from(value))));
        }
        let latest = hub.wait_frame(&key, Some(1), Duration::ZERO).unwrap();
        assert_eq!(latest.number, 5);
        assert_eq!(&latest.depth_le[..2], &5u16.to_le_bytes());
    }

    #[test]
    fn a_reader_that_has_the_newest_frame_waits_then_times_out() {
        let (hub, key) = hub_with_sensor();
        hub.publish(&key, frame(1, None));
        let started = Instant::now();
        let result = hub.wait_frame(&key, Some(1), Duration::from_millis(50));
        assert_eq!(result.unwrap_err(), WaitError::Timeout);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_waiting_reader_wakes_when_a_frame_is_published() {
        let (hub, key) = hub_with_sensor();
        let publisher = {
            let (hub, key) = (hub.clone(), key.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                hub.publish(&key, frame(7, None));
            })
        };
        let got = hub.wait_frame(&key, None, Duration::from_secs(10)).unwrap();
        assert_eq!(got.number, 1);
        publisher.join().unwrap();
    }

    #[test]
    fn lost_frames_and_latency_are_the_sources_figures() {
        let (hub, key) = hub_with_sensor();
        for (lost, latency_ms) in [(0, 10), (2, 10), (0, 10), (3, 10)] {
            let mut frame = frame(1, None);
            frame.lost = lost;
            frame.latency = Some(Duration::from_millis(latency_ms));
            hub.publish(&key, frame);
        }
        let sensor = &hub.snapshot().sensors[0];
        assert_eq!(sensor.lost, 5);
        assert!((sensor.latency_ms.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_sensor_stays_wanted_for_the_time_set() {
        let hub = Hub::new().with_wanted_for(Duration::from_millis(50));
        hub.server_seen("s", "tcp://127.0.0.1:1");
        hub.set_sensors("s", &[("a".into(), "rvl".into())]);
        let key = SourceKey::new("s", "a");
        let _ = hub.wait_frame(&key, None, Duration::ZERO);
        assert!(hub.is_wanted(&key));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!hub.is_wanted(&key));
    }

    #[test]
    fn asking_marks_a_sensor_wanted_and_unknown_sensors_are_explained() {
        let (hub, key) = hub_with_sensor();
        assert!(!hub.is_wanted(&key));
        let _ = hub.wait_frame(&key, None, Duration::ZERO);
        assert!(hub.is_wanted(&key));
        let missing = SourceKey::new("s", "nope");
        let Err(WaitError::Unknown(message)) = hub.wait_frame(&missing, None, Duration::ZERO)
        else {
            panic!("an unknown sensor must be an error");
        };
        assert!(
            message.contains("\"nope\" not found on server \"s\" (it has: a)"),
            "{message}"
        );
        let Err(WaitError::Unknown(message)) =
            hub.wait_frame(&SourceKey::new("t", "a"), None, Duration::ZERO)
        else {
            panic!("an unknown server must be an error");
        };
        assert!(
            message.contains("server \"t\" not found (known: s)"),
            "{message}"
        );
    }

    #[test]
    fn a_server_error_is_shown_for_its_sensors_and_cleared_when_seen_again() {
        let (hub, key) = hub_with_sensor();
        hub.server_error("s", "tcp://127.0.0.1:1", "cannot reach it");
        assert_eq!(
            hub.snapshot().servers[0].error.as_deref(),
            Some("cannot reach it")
        );
        hub.server_seen("s", "tcp://127.0.0.1:1");
        assert_eq!(hub.snapshot().servers[0].error, None);
        hub.server_gone("s");
        assert!(hub.wait_frame(&key, None, Duration::ZERO).is_err());
        assert!(hub.snapshot().sensors.is_empty());
    }
}
