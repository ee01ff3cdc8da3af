//! `Client`, `Subscription`, `Frame` and `Sensor`: a control connection and depth subscriptions,
//! over [`sk2_client`].
//!
//! The Rust objects live behind `Arc`s in frozen Python classes, so a thread blocked in
//! `Subscription.next()` (GIL released) and another calling `close()` never fight over a borrow:
//! `close()` takes the object out, and the waiter notices within [`WAIT_SLICE`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use numpy::PyArray2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sk2_client::{ClientConfig, EndpointKind, SubscriptionConfig};
use sk2_proto::depth_v2::{DEVICE_CODEC_KEY, ENDPOINT_DEPTH_V2};
use sk2_proto::{Device, Me};

use crate::codecs::into_array;
use crate::discovery::ServerInfo;
use crate::errors::{client_error, Sk2Error, Timeout, UnknownSensor, Unreachable};
use crate::WAIT_SLICE;

/// Endpoint name of the original, lossy depth format.
const ENDPOINT_DEPTH: &str = "depth";
/// Codec name reported for frames of the original `depth` endpoint.
const SK2_CODEC_NAME: &str = "sk2";

/// Locks a mutex whose data stays consistent even if a holder panicked (a plain `Option`).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Takes what `slot` holds and drops it with the GIL released: closing joins a thread, which
/// must not hold up other Python threads (or wait for one that needs the GIL).
pub(crate) fn close_released<T: Send>(py: Python<'_>, slot: &Mutex<Option<T>>) {
    let taken = lock(slot).take();
    py.detach(move || drop(taken));
}

/// Seconds (a Python float) as a `Duration`; negative, NaN or infinite values are the caller's
/// mistake.
pub(crate) fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be a finite number of seconds >= 0, got {value}"
        ))
    })
}

/// Waits up to `timeout` (forever if `None`) for `ready` to give a value, with the GIL released,
/// in slices of [`WAIT_SLICE`] between which Python's signal handlers run (so Ctrl-C raises
/// `KeyboardInterrupt` here). `ready` returns `Err(())` once nothing more can come.
pub(crate) fn wait_interruptibly<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut ready: impl FnMut(Duration) -> Result<Option<T>, ()> + Send,
) -> PyResult<Result<Option<T>, ()>> {
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    loop {
        let slice = match deadline {
            Some(deadline) => WAIT_SLICE.min(deadline.saturating_duration_since(Instant::now())),
            None => WAIT_SLICE,
        };
        match py.detach(|| ready(slice)) {
            Ok(None) => {}
            done => return Ok(done),
        }
        py.check_signals()?;
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(Ok(None));
        }
    }
}

/// One sensor of a server, as its latest `me` describes it.
#[pyclass(frozen, module = "streamkinect2", name = "Sensor")]
#[derive(Debug, Clone)]
pub(crate) struct Sensor {
    /// The sensor's id (32 hex characters on the original server).
    #[pyo3(get)]
    id: String,
    /// Endpoint name ("depth", "depth_v2", ...) to ZeroMQ address.
    #[pyo3(get)]
    endpoints: std::collections::BTreeMap<String, String>,
    /// Codec of its `depth_v2` endpoint, if the server says ("medhuf", ...).
    #[pyo3(get)]
    codec: Option<String>,
}

impl Sensor {
    pub(crate) fn all_of(me: &Me) -> Vec<Sensor> {
        me.devices
            .iter()
            .map(|device| Sensor::of(me, device))
            .collect()
    }

    fn of(me: &Me, device: &Device) -> Sensor {
        Sensor {
            id: device.id.clone(),
            endpoints: device.endpoints.clone(),
            codec: me
                .device_keys
                .get(&device.id)
                .and_then(|keys| keys.get(DEVICE_CODEC_KEY))
                .cloned(),
        }
    }
}

#[pymethods]
impl Sensor {
    fn __repr__(&self) -> String {
        let endpoints: Vec<&str> = self.endpoints.keys().map(String::as_str).collect();
        format!(
            "Sensor(id={:?}, endpoints={endpoints:?}, codec={:?})",
            self.id, self.codec
        )
    }
}

/// A connection to one server's control endpoint.
///
/// `Client("tcp://host:port")` or `Client(server_info)` (from `browse()` or `watch()`) connects
/// and waits until the server answers, for at most `timeout` seconds (raises Unreachable). The
/// client then sends a `who` heartbeat every `heartbeat` seconds and reconnects by itself if the
/// server goes away and comes back. Requests (`ping()`) fail with Timeout after `timeout` seconds
/// without a reply.
///
/// Use it as a context manager, or call `close()`.
#[pyclass(frozen, module = "streamkinect2", name = "Client")]
pub(crate) struct Client {
    inner: Mutex<Option<Arc<sk2_client::Client>>>,
    endpoint: String,
}

impl Client {
    fn inner(&self) -> PyResult<Arc<sk2_client::Client>> {
        lock(&self.inner)
            .clone()
            .ok_or_else(|| Unreachable::new_err("the client is closed"))
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (target, heartbeat = 10.0, timeout = 5.0))]
    fn new(
        py: Python<'_>,
        target: &Bound<'_, PyAny>,
        heartbeat: f64,
        timeout: f64,
    ) -> PyResult<Self> {
        let timeout = seconds(timeout, "timeout")?;
        let mut config = ClientConfig::default()
            .with_heartbeat(seconds(heartbeat, "heartbeat")?)
            .with_request_timeout(timeout);
        let endpoint = if let Ok(info) = target.cast::<ServerInfo>() {
            let info = info.get().inner();
            config = config.with_host_addresses(info.host_addresses());
            info.control_endpoint()
        } else if let Ok(endpoint) = target.extract::<String>() {
            endpoint
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "Client() takes an endpoint \"tcp://host:port\" or a ServerInfo",
            ));
        };
        let client = py
            .detach(|| sk2_client::Client::connect_to(&endpoint, config))
            .map_err(client_error)?;
        let client = Arc::new(client);
        let waiting = Arc::clone(&client);
        let outcome = wait_interruptibly(py, Some(timeout), move |slice| {
            Ok(waiting.wait_connected(slice).ok())
        })?;
        if !matches!(outcome, Ok(Some(_))) {
            let endpoint = endpoint.clone();
            py.detach(move || drop(client));
            return Err(Unreachable::new_err(format!(
                "no answer from {endpoint} within {timeout:?}"
            )));
        }
        Ok(Self {
            inner: Mutex::new(Some(client)),
            endpoint,
        })
    }

    /// The control endpoint this client talks to.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's name, from its latest answer.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.inner()?.name().unwrap_or_default())
    }

    /// The server's sensors, from its latest answer (refreshed by every heartbeat).
    #[getter]
    fn sensors(&self) -> PyResult<Vec<Sensor>> {
        Ok(self
            .inner()?
            .me()
            .map(|me| Sensor::all_of(&me))
            .unwrap_or_default())
    }

    /// True while the server answers; False after a request timed out, until it answers again.
    #[getter]
    fn connected(&self) -> PyResult<bool> {
        Ok(self.inner()?.is_connected())
    }

    /// Sends `ping` and returns the round-trip time in seconds. Raises Timeout if the server does
    /// not answer in time, Unreachable if the client is not connected.
    fn ping(&self, py: Python<'_>) -> PyResult<f64> {
        let client = self.inner()?;
        let pinged = py.detach(move || client.ping());
        pinged.map(|rtt| rtt.as_secs_f64()).map_err(client_error)
    }

    /// Waits until the server answers (after a restart, say), for at most `timeout` seconds
    /// (forever if None). Raises Timeout if it does not.
    #[pyo3(signature = (timeout = None))]
    fn wait_connected(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        let client = self.inner()?;
        match wait_interruptibly(py, timeout, move |slice| {
            Ok(client.wait_connected(slice).ok())
        })? {
            Ok(Some(_)) => Ok(()),
            _ => Err(Timeout::new_err(format!(
                "{} did not answer within {timeout:?}",
                self.endpoint
            ))),
        }
    }

    /// Subscribes to a sensor's depth frames; iterate over the result, or call `next()`.
    ///
    /// `sensor_id`: the sensor (default: the server's first). `endpoint`: "depth_v2" (exact
    /// depth with sequence numbers and timestamps; the default) or "depth" (the original, lossy
    /// format that every server offers). `queue`: decoded frames kept while the application is
    /// busy; when full, the oldest is dropped and counted.
    #[pyo3(signature = (sensor_id = None, endpoint = "depth_v2", queue = 4))]
    fn subscribe(
        &self,
        py: Python<'_>,
        sensor_id: Option<String>,
        endpoint: &str,
        queue: usize,
    ) -> PyResult<Subscription> {
        let prefer_depth_v2 = match endpoint {
            ENDPOINT_DEPTH_V2 => true,
            ENDPOINT_DEPTH => false,
            other => {
                return Err(PyValueError::new_err(format!(
                    "endpoint must be \"depth_v2\" or \"depth\", got {other:?}"
                )))
            }
        };
        let client = self.inner()?;
        let sensor_id = match sensor_id {
            Some(id) => id,
            None => client
                .me()
                .and_then(|me| me.devices.first().map(|device| device.id.clone()))
                .ok_or_else(|| UnknownSensor::new_err("the server has no sensor"))?,
        };
        let config = SubscriptionConfig::default()
            .with_queue_len(queue)
            .with_prefer_depth_v2(prefer_depth_v2);
        let id = sensor_id.clone();
        let subscription = py
            .detach(move || client.subscribe_with(&id, config))
            .map_err(client_error)?;
        if prefer_depth_v2 && subscription.kind() != EndpointKind::DepthV2 {
            py.detach(move || drop(subscription));
            return Err(Sk2Error::new_err(format!(
                "sensor {sensor_id:?} offers no depth_v2 endpoint; subscribe(endpoint=\"depth\") \
                 reads the original format"
            )));
        }
        Ok(Subscription {
            inner: Mutex::new(Some(Arc::new(subscription))),
            sensor_id,
            endpoint: endpoint.to_owned(),
        })
    }

    /// Closes the connection. Subscriptions made from it keep working until closed.
    fn close(&self, py: Python<'_>) {
        close_released(py, &self.inner);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc_value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = match lock(&self.inner).as_ref() {
            None => "closed".to_owned(),
            Some(client) if client.is_connected() => {
                format!("connected to {:?}", client.name().unwrap_or_default())
            }
            Some(_) => "not connected".to_owned(),
        };
        format!("<Client {} {state}>", self.endpoint)
    }
}

/// One decoded depth frame.
#[pyclass(frozen, module = "streamkinect2", name = "Frame")]
pub(crate) struct Frame {
    /// Depth in millimetres (0 = no measurement): a `uint16` numpy array of shape (height, width)
    /// that owns its memory.
    #[pyo3(get)]
    depth: Py<PyArray2<u16>>,
    /// The sensor's frame counter, or None on the `depth` endpoint (which carries none).
    #[pyo3(get)]
    sequence: Option<u64>,
    /// When the server captured the frame, in ns since the Unix epoch (None on `depth`).
    #[pyo3(get)]
    capture_time_ns: Option<u64>,
    /// The device's own timestamp, in its own units (None on `depth`).
    #[pyo3(get)]
    device_timestamp: Option<u64>,
    /// How the frame travelled: "medhuf", "medans", "rvl", "raw" (`depth_v2`) or "sk2" (`depth`).
    #[pyo3(get)]
    codec: &'static str,
    /// The sensor that produced it.
    #[pyo3(get)]
    sensor_id: String,
}

#[pymethods]
impl Frame {
    /// When the server captured the frame, as a timezone-aware `datetime` (UTC), or None on the
    /// `depth` endpoint. Microsecond precision; `capture_time_ns` has it all.
    #[getter]
    fn capture_time<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(ns) = self.capture_time_ns else {
            return Ok(None);
        };
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        let at = datetime
            .getattr("datetime")?
            .call_method1("fromtimestamp", (ns / 1_000_000_000, utc))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("microsecond", (ns % 1_000_000_000) / 1_000)?;
        at.call_method("replace", (), Some(&kwargs)).map(Some)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let shape = self.depth.bind(py).shape().to_vec();
        format!(
            "<Frame sensor={} codec={} sequence={:?} shape={shape:?}>",
            self.sensor_id, self.codec, self.sequence
        )
    }
}

use numpy::PyUntypedArrayMethods;

/// A sensor's depth frames, decoded on a Rust thread (no GIL needed). Iterating blocks for each
/// next frame and stops once the subscription is closed; `next(timeout)` waits at most `timeout`
/// seconds. Both release the GIL and let Ctrl-C through.
///
/// The newest frame wins: when the application is slower than the sensor, frames are dropped
/// (`dropped`), never queued without bound. Use it as a context manager, or call `close()`.
#[pyclass(frozen, module = "streamkinect2", name = "Subscription")]
pub(crate) struct Subscription {
    inner: Mutex<Option<Arc<sk2_client::Subscription>>>,
    sensor_id: String,
    endpoint: String,
}

impl Subscription {
    fn inner(&self) -> Option<Arc<sk2_client::Subscription>> {
        lock(&self.inner).clone()
    }

    fn counters(&self) -> sk2_client::SubscriptionStats {
        self.inner().map(|s| s.stats()).unwrap_or_default()
    }

    /// The next frame within `timeout` (`Ok(None)` if none came), or `Err(())` once the
    /// subscription is closed or ended.
    fn wait(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Result<Option<Frame>, ()>> {
        let Some(subscription) = self.inner() else {
            return Ok(Err(()));
        };
        let kind = subscription.kind();
        let waited = wait_interruptibly(py, timeout, |slice| {
            if lock(&self.inner).is_none() {
                return Err(()); // closed by another thread
            }
            match subscription.frames().recv_timeout(slice) {
                Ok(frame) => Ok(Some(frame)),
                Err(RecvTimeoutError::Timeout) => Ok(None),
                Err(RecvTimeoutError::Disconnected) => Err(()),
            }
        })?;
        Ok(waited.map(|frame| {
            frame.map(|frame| {
                let header = frame.header;
                Frame {
                    depth: into_array(py, frame.depth).unbind(),
                    sequence: header.map(|h| h.sequence),
                    capture_time_ns: header.map(|h| h.capture_time_ns),
                    device_timestamp: header.map(|h| h.device_timestamp),
                    codec: match (kind, header) {
                        (_, Some(header)) => header.codec.name(),
                        _ => SK2_CODEC_NAME,
                    },
                    sensor_id: frame.device_id,
                }
            })
        }))
    }
}

#[pymethods]
impl Subscription {
    /// Waits for the next frame, for at most `timeout` seconds (forever if None). Raises Timeout
    /// if none comes in time, Sk2Error if the subscription is closed.
    #[pyo3(signature = (timeout = None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Frame> {
        let timeout = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        match self.wait(py, timeout)? {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(Timeout::new_err(format!(
                "no frame from sensor {:?} within {:?}",
                self.sensor_id,
                timeout.unwrap_or_default()
            ))),
            Err(()) => Err(Sk2Error::new_err("the subscription is closed")),
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Frame>> {
        Ok(self.wait(py, None)?.ok().flatten())
    }

    /// The sensor this subscription reads.
    #[getter]
    fn sensor_id(&self) -> &str {
        &self.sensor_id
    }

    /// The endpoint it reads: "depth_v2" or "depth".
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Messages received from the server.
    #[getter]
    fn received(&self) -> u64 {
        self.counters().received
    }

    /// Frames the sensor produced that never reached this subscription (from gaps in sequence
    /// numbers; always 0 on the `depth` endpoint, which has none).
    #[getter]
    fn lost(&self) -> u64 {
        self.counters().lost
    }

    /// Frames received but dropped because the application did not take them in time (decoded
    /// and queued, or skipped undecoded behind a newer one).
    #[getter]
    fn dropped(&self) -> u64 {
        let stats = self.counters();
        stats.dropped + stats.skipped
    }

    /// Every counter: received, decoded, dropped, skipped, decode_errors, lost, refused.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.counters();
        let dict = PyDict::new(py);
        dict.set_item("received", stats.received)?;
        dict.set_item("decoded", stats.decoded)?;
        dict.set_item("dropped", stats.dropped)?;
        dict.set_item("skipped", stats.skipped)?;
        dict.set_item("decode_errors", stats.decode_errors)?;
        dict.set_item("lost", stats.lost)?;
        dict.set_item("refused", stats.refused)?;
        Ok(dict)
    }

    /// Stops receiving and closes the socket. A thread blocked in `next()` returns within 50 ms.
    fn close(&self, py: Python<'_>) {
        close_released(py, &self.inner);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc_value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = if lock(&self.inner).is_some() {
            "open"
        } else {
            "closed"
        };
        format!(
            "<Subscription sensor={} endpoint={} {state}>",
            self.sensor_id, self.endpoint
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_class::<Sensor>()?;
    m.add_class::<Subscription>()?;
    m.add_class::<Frame>()?;
    Ok(())
}
