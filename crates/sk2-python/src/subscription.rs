//! `Subscription` and the frames it delivers: a sensor's depth (`Frame`), infrared (`IrFrame`)
//! or colour (`ColorFrame`, or `JpegFrame` undecoded), each decoded on a Rust thread.
//!
//! One Python class for every stream: the Rust handles differ only in what their queue carries,
//! so [`Stream`] holds whichever one it is and [`Received`] what it gave, and the Python objects
//! are made from it once the GIL is held again.
//!
//! The Rust subscription lives behind an `Arc` in a frozen Python class, so a thread blocked in
//! `Subscription.next()` (GIL released) and another calling `close()` never fight over a borrow:
//! `close()` takes the object out, and the waiter notices within [`WAIT_SLICE`](crate::blocking::WAIT_SLICE).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use numpy::{PyArray2, PyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};
use pyo3::PyClass;
use sk2_client::{
    ColorJpegSubscription, ColorSubscription, EndpointKind, IrSubscription, ReceivedColorFrame,
    ReceivedColorJpeg, ReceivedFrame, ReceivedIrFrame, SubscriptionStats,
};
use sk2_proto::depth_v2::StreamHeader;

use crate::blocking::{close_released, lock, seconds, wait_interruptibly, Closeable};
use crate::codecs::into_array;
use crate::errors::{Sk2Error, Timeout};

/// Endpoint name of the original, lossy depth format.
pub(crate) const ENDPOINT_DEPTH: &str = "depth";
/// Codec name reported for frames of the original `depth` endpoint.
const SK2_CODEC_NAME: &str = "sk2";

/// One decoded depth frame.
#[pyclass(frozen, get_all, module = "streamkinect2", name = "Frame")]
pub(crate) struct Frame {
    /// Depth in millimetres (0 = no measurement): a `uint16` numpy array of shape (height, width)
    /// that owns its memory.
    depth: Py<PyArray2<u16>>,
    /// The sensor's frame counter, or None on the `depth` endpoint (which carries none).
    sequence: Option<u64>,
    /// When the server captured the frame, in ns since the Unix epoch (None on `depth`).
    capture_time_ns: Option<u64>,
    /// The device's own timestamp, in its own units (None on `depth`).
    device_timestamp: Option<u64>,
    /// How the frame travelled: "medhuf", "medans", "rvl", "raw" (`depth_v2`) or "sk2" (`depth`).
    codec: &'static str,
    /// The sensor that produced it.
    sensor_id: String,
}

#[pymethods]
impl Frame {
    /// When the server captured the frame, as a timezone-aware `datetime` (UTC), or None on the
    /// `depth` endpoint. Microsecond precision; `capture_time_ns` has it all.
    #[getter]
    fn capture_time<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.capture_time_ns
            .map(|ns| utc_datetime(py, ns))
            .transpose()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let shape = self.depth.bind(py).shape().to_vec();
        format!(
            "<Frame sensor={} codec={} sequence={:?} shape={shape:?}>",
            self.sensor_id, self.codec, self.sequence
        )
    }
}

/// `ns` since the Unix epoch as an aware `datetime` (UTC), to the microsecond (its precision).
fn utc_datetime(py: Python<'_>, ns: u64) -> PyResult<Bound<'_, PyAny>> {
    let datetime = py.import("datetime")?;
    let utc = datetime.getattr("timezone")?.getattr("utc")?;
    let at = datetime
        .getattr("datetime")?
        .call_method1("fromtimestamp", (ns / 1_000_000_000, utc))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("microsecond", (ns % 1_000_000_000) / 1_000)?;
    at.call_method("replace", (), Some(&kwargs))
}

/// What `IrFrame`, `ColorFrame` and `JpegFrame` share, from their message header: the sensor,
/// the frame counter and the capture times. A private base class, as [`Closeable`] is for the
/// objects that hold a thread: PyO3 shares getters between classes only through a base.
/// (`Frame` is not one of them: on the `depth` endpoint its counter and times are None.)
#[pyclass(
    subclass,
    frozen,
    get_all,
    module = "streamkinect2",
    name = "_CapturedFrame"
)]
pub(crate) struct CapturedFrame {
    /// The frame counter of the stream's header (its meaning is the subclass's).
    sequence: u64,
    /// When the server captured the frame, in ns since the Unix epoch.
    capture_time_ns: u64,
    /// The device's own timestamp, in its own units.
    device_timestamp: u64,
    /// The sensor that produced it.
    sensor_id: String,
}

impl CapturedFrame {
    fn new<C>(header: &StreamHeader<C>, sensor_id: String) -> Self {
        Self {
            sequence: header.sequence,
            capture_time_ns: header.capture_time_ns,
            device_timestamp: header.device_timestamp,
            sensor_id,
        }
    }

    /// A new Python object of a class derived from `CapturedFrame`.
    fn with<T>(self, py: Python<'_>, frame: T) -> PyResult<Py<PyAny>>
    where
        T: PyClass<BaseType = CapturedFrame>,
    {
        Ok(Py::new(py, PyClassInitializer::from(self).add_subclass(frame))?.into_any())
    }
}

#[pymethods]
impl CapturedFrame {
    /// When the server captured the frame, as a timezone-aware `datetime` (UTC).
    #[getter]
    fn capture_time<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        utc_datetime(py, self.capture_time_ns)
    }
}

/// One decoded infrared frame (`ir_v2`). Its `sequence` is the sequence number of the depth
/// frame of the same exposure: pair IR and depth by it.
#[pyclass(frozen, get_all, extends = CapturedFrame, module = "streamkinect2", name = "IrFrame")]
pub(crate) struct IrFrame {
    /// Amplitude of the sensor's own modulated light (unitless; brighter is larger, spanning a
    /// few hundred to tens of thousands): a `uint16` numpy array of shape (height, width) that
    /// owns its memory.
    ir: Py<PyArray2<u16>>,
    /// How the frame travelled: "medhuf", "medans", "rvl" or "raw".
    codec: &'static str,
}

#[pymethods]
impl IrFrame {
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let (frame, captured) = (slf.get(), slf.as_super().get());
        let shape = frame.ir.bind(slf.py()).shape().to_vec();
        format!(
            "<IrFrame sensor={} codec={} sequence={} shape={shape:?}>",
            captured.sensor_id, frame.codec, captured.sequence
        )
    }
}

/// One colour frame, decoded to RGB. Its `sequence` is the colour camera's own frame counter
/// (not the depth camera's).
#[pyclass(frozen, get_all, extends = CapturedFrame, module = "streamkinect2", name = "ColorFrame")]
pub(crate) struct ColorFrame {
    /// The image: a `uint8` numpy array of shape (height, width, 3), RGB, row 0 at the top
    /// ((1080, 1920, 3) from a Kinect v2); it owns its memory.
    rgb: Py<PyArray3<u8>>,
}

#[pymethods]
impl ColorFrame {
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let captured = slf.as_super().get();
        let shape = slf.get().rgb.bind(slf.py()).shape().to_vec();
        format!(
            "<ColorFrame sensor={} sequence={} shape={shape:?}>",
            captured.sensor_id, captured.sequence
        )
    }
}

/// One colour frame as the server sent it: a JPEG file, its size checked against the message
/// header, not decoded. Save `jpeg` as a `.jpg`, or pass it on. Its `sequence` is the colour
/// camera's own frame counter.
#[pyclass(frozen, get_all, extends = CapturedFrame, module = "streamkinect2", name = "JpegFrame")]
pub(crate) struct JpegFrame {
    /// The JPEG file (starts with FF D8).
    jpeg: Py<PyBytes>,
    /// Image width in pixels, from the header (equal to the JPEG's own).
    width: u32,
    /// Image height in pixels.
    height: u32,
}

#[pymethods]
impl JpegFrame {
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let (frame, captured) = (slf.get(), slf.as_super().get());
        format!(
            "<JpegFrame sensor={} sequence={} {}x{} {} bytes>",
            captured.sensor_id,
            captured.sequence,
            frame.width,
            frame.height,
            frame.jpeg.bind(slf.py()).as_bytes().len()
        )
    }
}

/// The Rust subscription behind a Python `Subscription`: one of the client's four kinds.
pub(crate) enum Stream {
    /// `depth_v2` or `depth`.
    Depth(sk2_client::Subscription),
    /// `ir_v2`.
    Ir(IrSubscription),
    /// `color`, decoded to RGB.
    Color(ColorSubscription),
    /// `color`, the JPEG as sent.
    ColorJpeg(ColorJpegSubscription),
}

/// What a [`Stream`] gave, before it becomes a Python object.
enum Received {
    Depth(ReceivedFrame, EndpointKind),
    Ir(ReceivedIrFrame),
    Color(ReceivedColorFrame),
    ColorJpeg(ReceivedColorJpeg),
}

impl Stream {
    fn stats(&self) -> SubscriptionStats {
        match self {
            Stream::Depth(s) => s.stats(),
            Stream::Ir(s) => s.stats(),
            Stream::Color(s) => s.stats(),
            Stream::ColorJpeg(s) => s.stats(),
        }
    }

    /// The next frame within `timeout` (`Ok(None)` if none came), or `Err(())` once the
    /// subscription's thread has ended.
    fn recv_timeout(&self, timeout: Duration) -> Result<Option<Received>, ()> {
        match self {
            Stream::Depth(s) => {
                let kind = s.kind();
                take(s.frames(), timeout, |frame| Received::Depth(frame, kind))
            }
            Stream::Ir(s) => take(s.frames(), timeout, Received::Ir),
            Stream::Color(s) => take(s.frames(), timeout, Received::Color),
            Stream::ColorJpeg(s) => take(s.frames(), timeout, Received::ColorJpeg),
        }
    }
}

fn take<T>(
    queue: &Receiver<T>,
    timeout: Duration,
    wrap: impl FnOnce(T) -> Received,
) -> Result<Option<Received>, ()> {
    match queue.recv_timeout(timeout) {
        Ok(frame) => Ok(Some(wrap(frame))),
        Err(RecvTimeoutError::Timeout) => Ok(None),
        Err(RecvTimeoutError::Disconnected) => Err(()),
    }
}

impl Received {
    /// The Python frame object; the decoded pixels become the numpy array's memory (no copy).
    fn into_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let object = match self {
            Received::Depth(frame, kind) => {
                let header = frame.header;
                Py::new(
                    py,
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
                    },
                )?
                .into_any()
            }
            Received::Ir(frame) => CapturedFrame::new(&frame.header, frame.device_id).with(
                py,
                IrFrame {
                    ir: PyArray2::from_owned_array(py, frame.ir.into_array()).unbind(),
                    codec: frame.header.codec.name(),
                },
            )?,
            Received::Color(frame) => CapturedFrame::new(&frame.header, frame.device_id).with(
                py,
                ColorFrame {
                    rgb: PyArray3::from_owned_array(py, frame.rgb).unbind(),
                },
            )?,
            Received::ColorJpeg(frame) => CapturedFrame::new(&frame.header, frame.device_id).with(
                py,
                JpegFrame {
                    jpeg: PyBytes::new(py, &frame.jpeg).unbind(),
                    width: frame.header.width,
                    height: frame.header.height,
                },
            )?,
        };
        Ok(object)
    }
}

/// A sensor's frames of one stream (depth, infrared or colour), decoded on a Rust thread (no GIL
/// needed). Iterating blocks for each next frame and stops once the subscription is closed;
/// `next(timeout)` waits at most `timeout` seconds. Both release the GIL and let Ctrl-C through.
///
/// The newest frame wins: when the application is slower than the sensor, frames are dropped
/// (`dropped`), never queued without bound. Use it as a context manager, or call `close()`.
#[pyclass(frozen, extends = Closeable, module = "streamkinect2", name = "Subscription")]
pub(crate) struct Subscription {
    inner: Mutex<Option<Arc<Stream>>>,
    sensor_id: String,
    endpoint: String,
}

impl Subscription {
    pub(crate) fn new(stream: Stream, sensor_id: String, endpoint: &str) -> Self {
        Self {
            inner: Mutex::new(Some(Arc::new(stream))),
            sensor_id,
            endpoint: endpoint.to_owned(),
        }
    }

    fn inner(&self) -> Option<Arc<Stream>> {
        lock(&self.inner).clone()
    }

    fn counters(&self) -> SubscriptionStats {
        self.inner().map(|s| s.stats()).unwrap_or_default()
    }

    /// The next frame within `timeout` (`Ok(None)` if none came), or `Err(())` once the
    /// subscription is closed or ended.
    fn wait(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Result<Option<Py<PyAny>>, ()>> {
        let Some(stream) = self.inner() else {
            return Ok(Err(()));
        };
        let waited = wait_interruptibly(py, timeout, |slice| {
            if lock(&self.inner).is_none() {
                return Err(()); // closed by another thread
            }
            stream.recv_timeout(slice)
        })?;
        // The stream's last reference may be this one (closed meanwhile): its thread is joined
        // without the GIL.
        py.detach(move || drop(stream));
        match waited {
            Ok(Some(received)) => received.into_python(py).map(|frame| Ok(Some(frame))),
            Ok(None) => Ok(Ok(None)),
            Err(()) => Ok(Err(())),
        }
    }
}

#[pymethods]
impl Subscription {
    /// Waits for the next frame, for at most `timeout` seconds (forever if None). Raises Timeout
    /// if none comes in time, Sk2Error if the subscription is closed.
    #[pyo3(signature = (timeout = None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
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

    /// `Subscription[IrFrame]` in annotations, as the type stubs declare it (a generic alias).
    #[classmethod]
    fn __class_getitem__<'py>(
        cls: &Bound<'py, PyType>,
        item: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        py.import("types")?
            .getattr("GenericAlias")?
            .call1((cls, item))
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.wait(py, None)?.ok().flatten())
    }

    /// The sensor this subscription reads.
    #[getter]
    fn sensor_id(&self) -> &str {
        &self.sensor_id
    }

    /// The endpoint it reads: "depth_v2", "depth", "ir_v2" or "color".
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
    m.add_class::<CapturedFrame>()?;
    m.add_class::<IrFrame>()?;
    m.add_class::<ColorFrame>()?;
    m.add_class::<JpegFrame>()?;
    Ok(())
}
