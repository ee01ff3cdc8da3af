//! The depth codecs for Python users with their own transport (pyzmq, files, ROS):
//! `depth_v2` messages (header + lossless payload) and the original `depth` format.
//!
//! Decoders take `bytes` (or any buffer), release the GIL while they work and hand the decoded
//! `Vec<u16>` to numpy as the array's memory (no copy). Every decoder is the bounds-checked one
//! the client uses: corrupt bytes raise `ProtocolError`, never crash.

use numpy::{PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};
use sk2_proto::depth_v2::{self, Codec, FrameHeader as RustHeader};
use sk2_proto::sk2::{self, Sk2Error};
use sk2_proto::{CapturedFrame, DepthFrame, FrameError};

use crate::errors::{value_error, ProtocolError};

/// The 44-byte header of a `depth_v2` message: how the frame was encoded and when it was taken.
#[pyclass(frozen, get_all, module = "streamkinect2", name = "FrameHeader")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// Codec of the payload: "raw", "rvl", "medans" or "medhuf".
    codec: &'static str,
    /// Pixels per row.
    width: u32,
    /// Rows.
    height: u32,
    /// The sensor's frame counter (+1 per frame it produced; a gap means frames were lost).
    sequence: u64,
    /// The device's own timestamp, in the device's units.
    device_timestamp: u64,
    /// Host time of capture, in nanoseconds since the Unix epoch.
    capture_time_ns: u64,
    /// Bytes of payload after the header.
    payload_len: u32,
}

impl From<RustHeader> for FrameHeader {
    fn from(header: RustHeader) -> Self {
        Self {
            codec: header.codec.name(),
            width: header.width,
            height: header.height,
            sequence: header.sequence,
            device_timestamp: header.device_timestamp,
            capture_time_ns: header.capture_time_ns,
            payload_len: header.payload_len,
        }
    }
}

#[pymethods]
impl FrameHeader {
    fn __repr__(&self) -> String {
        format!(
            "FrameHeader(codec={:?}, width={}, height={}, sequence={}, device_timestamp={}, \
             capture_time_ns={}, payload_len={})",
            self.codec,
            self.width,
            self.height,
            self.sequence,
            self.device_timestamp,
            self.capture_time_ns,
            self.payload_len
        )
    }

    fn __eq__(&self, other: &Self) -> bool {
        self == other
    }
}

/// Bytes of a message: `bytes` without a copy; `bytearray` and `memoryview` (a pyzmq frame's
/// buffer) copied once.
enum Message<'py> {
    Borrowed(Bound<'py, PyBytes>),
    Copied(Vec<u8>),
}

impl Message<'_> {
    fn extract<'py>(data: &Bound<'py, PyAny>) -> PyResult<Message<'py>> {
        if let Ok(bytes) = data.cast::<PyBytes>() {
            return Ok(Message::Borrowed(bytes.clone()));
        }
        // The buffer protocol is outside the stable ABI before Python 3.11: bytes(x) copies.
        if data.is_instance_of::<PyByteArray>() || data.is_instance_of::<PyMemoryView>() {
            let copied = data.py().get_type::<PyBytes>().call1((data,))?;
            return Ok(Message::Copied(
                copied.cast::<PyBytes>()?.as_bytes().to_vec(),
            ));
        }
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "expected bytes, bytearray or memoryview, got {}",
            data.get_type()
                .name()
                .map(|name| name.to_string())
                .unwrap_or_default()
        )))
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Message::Borrowed(bytes) => bytes.as_bytes(),
            Message::Copied(bytes) => bytes,
        }
    }
}

/// Decodes one `depth_v2` message into `(depth, header)`: `depth` is a `uint16` numpy array of
/// shape (height, width) in millimetres (0 = no measurement) that owns its memory.
///
/// Raises ProtocolError if the bytes are not a valid message (the check happens before anything
/// is allocated, so hostile headers cannot make it allocate much).
#[pyfunction]
pub(crate) fn decode_depth_v2<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyArray2<u16>>, FrameHeader)> {
    let message = Message::extract(data)?;
    let bytes = message.as_slice();
    let decoded = py.detach(|| depth_v2::decode(bytes));
    let (header, depth) = decoded.map_err(|error| ProtocolError::new_err(error.to_string()))?;
    Ok((into_array(py, depth), header.into()))
}

/// Encodes a 2-D `uint16` array (millimetres) as one `depth_v2` message.
///
/// `codec` is "medhuf" (the default: lossless, fast), "medans" (smallest), "rvl" or "raw".
/// `sequence`, `device_timestamp` and `capture_time_ns` go into the header as given.
#[pyfunction]
#[pyo3(signature = (depth, codec = "medhuf", sequence = 0, device_timestamp = 0, capture_time_ns = 0))]
pub(crate) fn encode_depth_v2<'py>(
    py: Python<'py>,
    depth: PyReadonlyArray2<'py, u16>,
    codec: &str,
    sequence: u64,
    device_timestamp: u64,
    capture_time_ns: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let codec: Codec = codec.parse().map_err(value_error)?;
    let frame = CapturedFrame {
        depth: frame_of(&depth)?,
        sequence,
        device_timestamp,
        capture_time_ns,
    };
    let message = py.detach(|| depth_v2::encode(&frame, codec));
    Ok(PyBytes::new(py, &message))
}

/// Decodes one message of the original `depth` endpoint (12-bit packing + LZ4, as the 2014
/// streamkinect2 sent it). The format carries no shape: `shape` is (height, width), by default
/// the Kinect v2's (424, 512). Depths of 4096 mm and more come back with their top bits lost,
/// as in the original format.
///
/// Raises ProtocolError if the bytes are not a valid message for this shape.
#[pyfunction]
#[pyo3(signature = (data, shape = (sk2_proto::KINECT_V2_HEIGHT_PX, sk2_proto::KINECT_V2_WIDTH_PX)))]
pub(crate) fn decode_sk2<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    shape: (usize, usize),
) -> PyResult<Bound<'py, PyArray2<u16>>> {
    let (height, width) = shape;
    let message = Message::extract(data)?;
    let bytes = message.as_slice();
    let decoded = py.detach(|| sk2::decode(bytes, width, height));
    match decoded {
        Ok(depth) => Ok(into_array(py, depth)),
        // The caller's shape, not the message, is wrong.
        Err(error @ (Sk2Error::OddWidth(_) | Sk2Error::Shape(_))) => Err(value_error(error)),
        Err(error) => Err(ProtocolError::new_err(error.to_string())),
    }
}

/// Encodes a 2-D `uint16` array (millimetres, even width) in the original `depth` format.
/// Lossy, as the original: bits 12..15 of every pixel are dropped.
#[pyfunction]
pub(crate) fn encode_sk2<'py>(
    py: Python<'py>,
    depth: PyReadonlyArray2<'py, u16>,
) -> PyResult<Bound<'py, PyBytes>> {
    let frame = frame_of(&depth)?;
    let message = py.detach(|| sk2::encode(&frame)).map_err(value_error)?;
    Ok(PyBytes::new(py, &message))
}

/// A decoded frame as a (height, width) numpy array that takes over the frame's buffer.
pub(crate) fn into_array(py: Python<'_>, depth: DepthFrame) -> Bound<'_, PyArray2<u16>> {
    PyArray2::from_owned_array(py, depth.into_array())
}

/// Copies a numpy array into a frame, under the GIL: the encoder then works on memory no other
/// Python thread can change while the GIL is released.
pub(crate) fn frame_of(depth: &PyReadonlyArray2<'_, u16>) -> PyResult<DepthFrame> {
    let [height, width] = [depth.shape()[0], depth.shape()[1]];
    // `as_slice` also accepts Fortran order (contiguous, but column-major): row-major only.
    let pixels = match depth.as_slice() {
        Ok(contiguous) if depth.is_c_contiguous() => contiguous.to_vec(),
        // Strided or Fortran-ordered: gathered in row-major order.
        _ => depth.as_array().iter().copied().collect(),
    };
    DepthFrame::new(width, height, pixels).map_err(|error: FrameError| value_error(error))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FrameHeader>()?;
    m.add_function(wrap_pyfunction!(decode_depth_v2, m)?)?;
    m.add_function(wrap_pyfunction!(encode_depth_v2, m)?)?;
    m.add_function(wrap_pyfunction!(decode_sk2, m)?)?;
    m.add_function(wrap_pyfunction!(encode_sk2, m)?)?;
    Ok(())
}
