//! `Subscription` and `Frame`: a sensor's depth frames, decoded on a Rust thread.
//!
//! The Rust subscription lives behind an `Arc` in a frozen Python class, so a thread blocked in
//! `Subscription.next()` (GIL released) and another calling `close()` never fight over a borrow:
//! `close()` takes the object out, and the waiter notices within [`WAIT_SLICE`](crate::blocking::WAIT_SLICE).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use numpy::{PyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::blocking::{close_released, lock, seconds, wait_interruptibly, Closeable};
use crate::codecs::into_array;
use crate::errors::{Sk2Error, Timeout};

/// Endpoint name of the original, lossy depth format.
pub(crate) const ENDPOINT_DEPTH: &str = "depth";
/// Codec name reported for frames of the original `depth` endpoint.
const SK2_CODEC_NAME: &str = "sk2";

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

/// A sensor's depth frames, decoded on a Rust thread (no GIL needed). Iterating blocks for each
/// next frame and stops once the subscription is closed; `next(timeout)` waits at most `timeout`
/// seconds. Both release the GIL and let Ctrl-C through.
///
/// The newest frame wins: when the application is slower than the sensor, frames are dropped
/// (`dropped`), never queued without bound. Use it as a context manager, or call `close()`.
#[pyclass(frozen, extends = Closeable, module = "streamkinect2", name = "Subscription")]
pub(crate) struct Subscription {
    inner: Mutex<Option<Arc<sk2_client::Subscription>>>,
    sensor_id: String,
    endpoint: String,
}

impl Subscription {
    pub(crate) fn new(
        subscription: sk2_client::Subscription,
        sensor_id: String,
        endpoint: &str,
    ) -> Self {
        Self {
            inner: Mutex::new(Some(Arc::new(subscription))),
            sensor_id,
            endpoint: endpoint.to_owned(),
        }
    }

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
    m.add_class::<Subscription>()?;
    m.add_class::<Frame>()?;
    Ok(())
}
