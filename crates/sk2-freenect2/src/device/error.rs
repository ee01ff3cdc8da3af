//! [`Freenect2Error`]: why a libfreenect2 call failed, and the shim's status codes mapped to it.

use crate::ffi;
use crate::pipeline::Pipeline;

/// Why a libfreenect2 call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Freenect2Error {
    /// libfreenect2 could not create its context (it initialises libusb there).
    #[error("libfreenect2 could not initialise (libusb unavailable?)")]
    Init,
    /// No Kinect v2 is attached (or none is visible to this user).
    #[error(
        "no Kinect v2 found: libfreenect2 sees no device (is it plugged into a USB 3 port and \
         powered, and are libfreenect2's udev rules installed? see docs/freenect2.md)"
    )]
    NoDevice,
    /// Devices are attached, but none has the serial asked for.
    #[error("no Kinect v2 with serial {serial:?}; attached: {}", .available.join(", "))]
    SerialNotFound {
        /// The serial asked for.
        serial: String,
        /// The serials of the attached devices.
        available: Vec<String>,
    },
    /// This libfreenect2 was built without the pipeline asked for.
    #[error("this libfreenect2 was built without the {0} packet pipeline (try --pipeline cpu)")]
    PipelineUnavailable(Pipeline),
    /// The pipeline cannot be built on this machine: building it in a child process ended that
    /// process (libfreenect2's OpenGL pipeline calls `exit(-1)` when it cannot create its window:
    /// no display, or no OpenGL 3.1).
    #[error(
        "the {pipeline} packet pipeline cannot start on this machine: libfreenect2 {outcome}{} \
         (try --pipeline cpu; docs/freenect2.md)",
        .log.as_ref().map(|line| format!(": {line}")).unwrap_or_default()
    )]
    PipelineFailed {
        /// The pipeline.
        pipeline: Pipeline,
        /// What happened to the child, e.g. "ended the process with exit status 255".
        outcome: String,
        /// The last line libfreenect2 printed before, if any.
        log: Option<String>,
    },
    /// The depth range is not `0 <= min < max`, finite.
    #[error("bad depth range {min_m} m .. {max_m} m (need 0 <= min < max)")]
    BadDepthRange {
        /// Nearest depth, metres.
        min_m: f32,
        /// Farthest depth, metres.
        max_m: f32,
    },
    /// The device is already open through this context (libfreenect2 would hand out the same
    /// device object twice, and closing both would free it twice).
    #[error("Kinect v2 {serial} is already open")]
    AlreadyOpen {
        /// The device's serial.
        serial: String,
    },
    /// A serial number cannot contain a NUL byte.
    #[error("serial number {0:?} contains a NUL byte")]
    InvalidSerial(String),
    /// libfreenect2 found the device but could not open it.
    #[error(
        "libfreenect2 could not open Kinect v2 {serial} (in use by another program, or no \
         permission on its USB device?)"
    )]
    OpenFailed {
        /// The device's serial.
        serial: String,
    },
    /// The device refused to start streaming.
    #[error("Kinect v2 {serial} refused to start streaming")]
    StartFailed {
        /// The device's serial.
        serial: String,
    },
    /// A frame was requested from a device that is not streaming.
    #[error("Kinect v2 {serial} is not streaming")]
    NotStreaming {
        /// The device's serial.
        serial: String,
    },
    /// libfreenect2 delivered a frame that is not what it documents: depth and IR must be
    /// float images, colour the device's JPEG (a Raw frame of at most
    /// [`crate::MAX_COLOR_JPEG_BYTES`] starting with the JPEG SOI marker).
    #[error(
        "unexpected {stream} frame from libfreenect2: {width}x{height}, {bytes_per_pixel} bytes \
         per pixel, format {format}"
    )]
    BadFrame {
        /// Which stream: "depth", "IR" or "colour".
        stream: &'static str,
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Bytes per pixel (4 expected; for colour, the JPEG's length).
        bytes_per_pixel: usize,
        /// `libfreenect2::Frame::Format` (2, Float, for depth and IR; 1, Raw, for colour).
        format: i32,
    },
    /// libfreenect2 threw a C++ exception (caught in the shim).
    #[error("libfreenect2 threw a C++ exception in {0}")]
    Exception(&'static str),
    /// The shim reported a status this crate does not expect (a bug here or in the shim).
    #[error("{call} failed with shim status {status}")]
    Shim {
        /// The shim function.
        call: &'static str,
        /// Its status code.
        status: i32,
    },
}

/// Maps a negative shim status to an error.
pub(super) fn status_error(call: &'static str, status: i32) -> Freenect2Error {
    match status {
        ffi::ERR_EXCEPTION => Freenect2Error::Exception(call),
        _ => Freenect2Error::Shim { call, status },
    }
}
