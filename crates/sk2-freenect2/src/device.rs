//! Safe wrappers over the shim: [`Freenect2`] (the library context), [`Device`] (one open Kinect
//! v2) and [`HeldFrame`] (a depth frame borrowed from libfreenect2 until dropped).
//!
//! Ownership across the boundary:
//! * A [`Device`] holds an `Arc` of its context, so the context (whose C++ destructor deletes
//!   every device still open) is freed only after the last device was closed.
//! * A [`HeldFrame`] mutably borrows its [`Device`]: the frame buffer cannot outlive the device,
//!   and no other device call (which could release or overwrite the frame) can happen while it
//!   is alive. Dropping it gives the buffer back to libfreenect2.
//! * Context-wide calls (enumerate, open, start, stop, close) go through one mutex per context,
//!   because libfreenect2's context is not thread-safe; waiting for a frame does not take it.

use std::ffi::{c_char, CString};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sk2_proto::frame::MAX_FRAME_PIXELS;
use sk2_proto::DepthFrame;

use crate::convert::depth_mm_from_ne_f32_bytes;
use crate::ffi;
use crate::pipeline::Pipeline;

/// Nearest depth kept, in metres: libfreenect2's own default; the Kinect v2 cannot measure nearer.
pub const DEFAULT_MIN_DEPTH_M: f32 = 0.5;
/// Farthest depth kept, in metres. libfreenect2 defaults to 4.5 m and zeroes everything beyond;
/// the Kinect v2 measures to about 8 m and the `depth_v2` endpoint carries such values
/// losslessly, so the whole range is kept. Set 4.5 for libfreenect2's behaviour.
pub const DEFAULT_MAX_DEPTH_M: f32 = 8.0;

/// How long the child process of [`Freenect2::probe_pipeline`] may take to build the pipeline
/// (OpenGL: start GLFW, create a hidden window, compile shaders) before it counts as hung.
pub const PIPELINE_PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// How much of the probe child's output (libfreenect2's log lines) is kept for the error.
const PROBE_OUTPUT_LEN: usize = 4096;

/// Room for a serial number; Kinect v2 serials are 12 digits. Longer ones are fetched again with
/// a buffer of the right size, so this is only the common case.
const SERIAL_BUF_LEN: usize = 64;

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
    /// libfreenect2 delivered a frame that is not a float depth image.
    #[error(
        "unexpected depth frame from libfreenect2: {width}x{height}, {bytes_per_pixel} bytes per \
         pixel, format {format}"
    )]
    BadFrame {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Bytes per pixel (4 expected).
        bytes_per_pixel: usize,
        /// `libfreenect2::Frame::Format` (2, Float, expected).
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
fn status_error(call: &'static str, status: i32) -> Freenect2Error {
    match status {
        ffi::ERR_EXCEPTION => Freenect2Error::Exception(call),
        _ => Freenect2Error::Shim { call, status },
    }
}

/// How to open a device.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOptions {
    /// The device's serial number; `None` opens the first device libfreenect2 lists.
    pub serial: Option<String>,
    /// Where libfreenect2 decodes depth.
    pub pipeline: Pipeline,
    /// Nearest depth kept, metres; nearer pixels become 0.
    pub min_depth_m: f32,
    /// Farthest depth kept, metres; farther pixels become 0.
    pub max_depth_m: f32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            serial: None,
            pipeline: Pipeline::Cpu,
            min_depth_m: DEFAULT_MIN_DEPTH_M,
            max_depth_m: DEFAULT_MAX_DEPTH_M,
        }
    }
}

/// The shim's context handle, freed when the last [`Freenect2`] or [`Device`] using it goes.
#[derive(Debug)]
struct Context {
    raw: NonNull<ffi::RawContext>,
    /// Serialises context-wide calls (libfreenect2's `Freenect2` is not thread-safe) and holds
    /// the serials of the devices open through this context.
    calls: Mutex<ContextState>,
}

#[derive(Debug, Default)]
struct ContextState {
    open_serials: Vec<String>,
}

// SAFETY: the shim's context is a plain heap object not tied to the thread that made it, and
// every call on it goes through `calls`, so moving or sharing the wrapper across threads is sound.
unsafe impl Send for Context {}
// SAFETY: as above: shared access only ever reaches the C++ object under `calls`.
unsafe impl Sync for Context {}

impl Context {
    fn lock(&self) -> MutexGuard<'_, ContextState> {
        // A panic while holding the lock leaves no Rust state half-updated: keep going.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: `raw` came from sk2f2_context_new and is freed exactly once, here. Every
        // Device holds an Arc of this Context, so none is still open.
        unsafe { ffi::sk2f2_context_free(self.raw.as_ptr()) };
    }
}

/// The libfreenect2 library context: lists and opens Kinect v2 devices.
#[derive(Debug, Clone)]
pub struct Freenect2 {
    context: Arc<Context>,
}

impl Freenect2 {
    /// Initialises libfreenect2 (and libusb under it).
    pub fn new() -> Result<Self, Freenect2Error> {
        // SAFETY: no preconditions; the result is an owned handle or NULL.
        let raw = unsafe { ffi::sk2f2_context_new() };
        let raw = NonNull::new(raw).ok_or(Freenect2Error::Init)?;
        Ok(Self {
            context: Arc::new(Context {
                raw,
                calls: Mutex::new(ContextState::default()),
            }),
        })
    }

    /// Whether this libfreenect2 was built with `pipeline`.
    pub fn pipeline_available(pipeline: Pipeline) -> bool {
        // SAFETY: a pure query with no preconditions.
        unsafe { ffi::sk2f2_pipeline_available(pipeline_id(pipeline)) == 1 }
    }

    /// Builds `pipeline` in a child process (`fork`) and reports whether it could be built
    /// there, so that a pipeline that would end the process fails with an error instead.
    /// [`Freenect2::open`] does this itself for the pipelines that need it
    /// ([`Pipeline::may_exit_process`]). Blocks until the child ends, at most
    /// [`PIPELINE_PROBE_TIMEOUT`] (then the child is killed and this is an error).
    ///
    /// Only libfreenect2 runs in the child, which ends with `_exit`; the caller's other threads
    /// are not copied. Unix only.
    pub fn probe_pipeline(pipeline: Pipeline) -> Result<(), Freenect2Error> {
        let timeout_ms = i32::try_from(PIPELINE_PROBE_TIMEOUT.as_millis()).unwrap_or(i32::MAX);
        let mut output = vec![0u8; PROBE_OUTPUT_LEN];
        let mut status: i32 = 0;
        // SAFETY: `output` is writable for its length, `status` is a valid i32; the shim writes
        // at most `output.len()` bytes including the NUL.
        let result = unsafe {
            ffi::sk2f2_probe_pipeline(
                pipeline_id(pipeline),
                timeout_ms,
                output.as_mut_ptr().cast::<c_char>(),
                output.len(),
                &mut status,
            )
        };
        let printed = output.iter().position(|&byte| byte == 0).unwrap_or(0);
        let log = last_line(&String::from_utf8_lossy(&output[..printed]));
        let outcome = match result {
            ffi::OK => {
                tracing::debug!(%pipeline, "packet pipeline probe succeeded");
                return Ok(());
            }
            ffi::ERR_UNAVAILABLE => return Err(Freenect2Error::PipelineUnavailable(pipeline)),
            ffi::PROBE_EXITED => {
                format!("ended the process while building it (exit status {status})")
            }
            ffi::PROBE_SIGNALED => {
                format!("crashed while building it (signal {status})")
            }
            ffi::PROBE_TIMEOUT => format!(
                "did not finish building it within {} s",
                PIPELINE_PROBE_TIMEOUT.as_secs()
            ),
            ffi::ERR_SYSTEM => {
                let error = std::io::Error::from_raw_os_error(status);
                format!("could not be tried in a child process ({error})")
            }
            status => return Err(status_error("sk2f2_probe_pipeline", status)),
        };
        Err(Freenect2Error::PipelineFailed {
            pipeline,
            outcome,
            log,
        })
    }

    /// Scans USB and returns the serial numbers of the attached Kinect v2 devices.
    pub fn serials(&self) -> Result<Vec<String>, Freenect2Error> {
        let _calls = self.context.lock();
        self.serials_locked()
    }

    /// Scans USB and returns how many Kinect v2 devices are attached.
    pub fn device_count(&self) -> Result<usize, Freenect2Error> {
        self.serials().map(|serials| serials.len())
    }

    /// Opens a device: the one with `options.serial`, or the first one.
    pub fn open(&self, options: &OpenOptions) -> Result<Device, Freenect2Error> {
        let (min_m, max_m) = (options.min_depth_m, options.max_depth_m);
        if !(min_m.is_finite() && max_m.is_finite() && min_m >= 0.0 && min_m < max_m) {
            return Err(Freenect2Error::BadDepthRange { min_m, max_m });
        }
        if !Self::pipeline_available(options.pipeline) {
            return Err(Freenect2Error::PipelineUnavailable(options.pipeline));
        }
        if options.pipeline.may_exit_process() {
            Self::probe_pipeline(options.pipeline)?;
        }
        if let Some(serial) = &options.serial {
            if serial.contains('\0') {
                return Err(Freenect2Error::InvalidSerial(serial.clone()));
            }
        }

        let mut state = self.context.lock();
        let available = self.serials_locked()?;
        let serial = match &options.serial {
            None => available.first().cloned().ok_or(Freenect2Error::NoDevice)?,
            Some(_) if available.is_empty() => return Err(Freenect2Error::NoDevice),
            Some(serial) if !available.contains(serial) => {
                return Err(Freenect2Error::SerialNotFound {
                    serial: serial.clone(),
                    available,
                })
            }
            Some(serial) => serial.clone(),
        };
        if state.open_serials.contains(&serial) {
            return Err(Freenect2Error::AlreadyOpen { serial });
        }
        // Serials come from libfreenect2 or were checked above: no NUL inside.
        let serial_c = CString::new(serial.as_str())
            .map_err(|_| Freenect2Error::InvalidSerial(serial.clone()))?;

        let mut raw: *mut ffi::RawDevice = std::ptr::null_mut();
        // SAFETY: the context is live and locked; `serial_c` is a NUL-terminated string that
        // outlives the call; `raw` is a valid place for the shim to store the new handle.
        let status = unsafe {
            ffi::sk2f2_open(
                self.context.raw.as_ptr(),
                serial_c.as_ptr(),
                pipeline_id(options.pipeline),
                min_m,
                max_m,
                &mut raw,
            )
        };
        match status {
            ffi::OK => {}
            ffi::ERR_OPEN => return Err(Freenect2Error::OpenFailed { serial }),
            ffi::ERR_UNAVAILABLE => {
                return Err(Freenect2Error::PipelineUnavailable(options.pipeline))
            }
            status => return Err(status_error("sk2f2_open", status)),
        }
        let raw = NonNull::new(raw).ok_or(Freenect2Error::Shim {
            call: "sk2f2_open",
            status: ffi::ERR_ARG,
        })?;
        state.open_serials.push(serial.clone());
        tracing::info!(serial = %serial, pipeline = %options.pipeline, "opened Kinect v2");
        Ok(Device {
            raw,
            serial,
            pipeline: options.pipeline,
            streaming: false,
            context: Arc::clone(&self.context),
        })
    }

    /// [`Freenect2::serials`] with the context lock already held by the caller.
    fn serials_locked(&self) -> Result<Vec<String>, Freenect2Error> {
        // SAFETY: the context is live and the caller holds its lock.
        let count = unsafe { ffi::sk2f2_enumerate(self.context.raw.as_ptr()) };
        if count < 0 {
            return Err(status_error("sk2f2_enumerate", count));
        }
        (0..count).map(|index| self.serial_locked(index)).collect()
    }

    /// The serial of device `index` of the last enumeration; the caller holds the lock.
    fn serial_locked(&self, index: i32) -> Result<String, Freenect2Error> {
        let mut buf = vec![0u8; SERIAL_BUF_LEN];
        loop {
            // SAFETY: the context is live and locked; `buf` is writable for `buf.len()` bytes and
            // the shim writes at most that many (including the NUL).
            let len = unsafe {
                ffi::sk2f2_serial(
                    self.context.raw.as_ptr(),
                    index,
                    buf.as_mut_ptr().cast::<c_char>(),
                    buf.len(),
                )
            };
            let len = usize::try_from(len).map_err(|_| {
                status_error("sk2f2_serial", i32::try_from(len).unwrap_or(ffi::ERR_ARG))
            })?;
            if len < buf.len() {
                return Ok(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
            buf = vec![0u8; len + 1];
        }
    }
}

/// The last non-empty line of `text`, trimmed, without control characters, at most 200 chars.
fn last_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).rfind(|line| !line.is_empty())?;
    Some(line.chars().filter(|c| !c.is_control()).take(200).collect())
}

fn pipeline_id(pipeline: Pipeline) -> i32 {
    match pipeline {
        Pipeline::Cpu => ffi::PIPELINE_CPU,
        Pipeline::OpenGl => ffi::PIPELINE_OPENGL,
        Pipeline::OpenCl => ffi::PIPELINE_OPENCL,
        Pipeline::Cuda => ffi::PIPELINE_CUDA,
    }
}

/// One open Kinect v2. Dropping it stops streaming and closes the device.
#[derive(Debug)]
pub struct Device {
    raw: NonNull<ffi::RawDevice>,
    serial: String,
    pipeline: Pipeline,
    streaming: bool,
    // Declared last and dropped after `Drop::drop` closed the device: keeps the context alive.
    context: Arc<Context>,
}

// SAFETY: the device handle is a heap object not tied to the opening thread (libfreenect2 runs
// its own USB and decoding threads); `Device` is not `Sync` and every method takes `&mut self`,
// so one thread at a time uses it.
unsafe impl Send for Device {}

impl Device {
    /// The device's serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The packet pipeline it was opened with.
    pub fn pipeline(&self) -> Pipeline {
        self.pipeline
    }

    /// Whether the depth stream is running.
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Starts the depth stream (colour stays off). Starting a streaming device does nothing.
    pub fn start(&mut self) -> Result<(), Freenect2Error> {
        if self.streaming {
            return Ok(());
        }
        let status = {
            let _calls = self.context.lock();
            // SAFETY: `raw` is a live device handle owned by `self`; the context lock is held.
            unsafe { ffi::sk2f2_start_depth(self.raw.as_ptr()) }
        };
        match status {
            ffi::OK => {
                self.streaming = true;
                tracing::debug!(serial = %self.serial, "depth stream started");
                Ok(())
            }
            ffi::ERR_START => Err(Freenect2Error::StartFailed {
                serial: self.serial.clone(),
            }),
            status => Err(status_error("sk2f2_start_depth", status)),
        }
    }

    /// Waits up to `timeout` for the next depth frame; `Ok(None)` on timeout. The frame is
    /// libfreenect2's buffer, lent until the [`HeldFrame`] is dropped. Meanwhile libfreenect2
    /// keeps only the newest frame that arrives (it deletes the one before, which then shows as
    /// a gap in the device's frame counter) and the next wait returns it at once.
    pub fn wait_frame(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<HeldFrame<'_>>, Freenect2Error> {
        if !self.streaming {
            return Err(Freenect2Error::NotStreaming {
                serial: self.serial.clone(),
            });
        }
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut raw_frame = ffi::RawFrame::EMPTY;
        // SAFETY: `raw` is a live device handle used by this thread only (`&mut self`), no frame
        // is held (a HeldFrame borrows `self` mutably, so none can be alive here), and
        // `raw_frame` is a valid place to write the frame description.
        let status =
            unsafe { ffi::sk2f2_wait_depth(self.raw.as_ptr(), timeout_ms, &mut raw_frame) };
        match status {
            0 => return Ok(None),
            1 => {}
            status => return Err(status_error("sk2f2_wait_depth", status)),
        }
        let frame = HeldFrame {
            device: self,
            raw: raw_frame,
        };
        // Validate before anyone can look at the bytes; on error the frame is released by Drop.
        let pixels = frame.raw.width.checked_mul(frame.raw.height);
        let plausible = frame.raw.format == ffi::FORMAT_FLOAT
            && frame.raw.bytes_per_pixel == 4
            && !frame.raw.data.is_null()
            && matches!(pixels, Some(n) if n > 0 && n <= MAX_FRAME_PIXELS);
        if !plausible {
            return Err(Freenect2Error::BadFrame {
                width: frame.raw.width,
                height: frame.raw.height,
                bytes_per_pixel: frame.raw.bytes_per_pixel,
                format: frame.raw.format,
            });
        }
        Ok(Some(frame))
    }

    /// Stops the depth stream. Stopping a stopped device does nothing.
    pub fn stop(&mut self) -> Result<(), Freenect2Error> {
        if !self.streaming {
            return Ok(());
        }
        self.streaming = false;
        let _calls = self.context.lock();
        // SAFETY: `raw` is a live device handle owned by `self`; the context lock is held; no
        // frame is held (that would borrow `self`).
        let status = unsafe { ffi::sk2f2_stop(self.raw.as_ptr()) };
        tracing::debug!(serial = %self.serial, "depth stream stopped");
        match status {
            ffi::OK => Ok(()),
            status => Err(status_error("sk2f2_stop", status)),
        }
    }

    /// Stops and closes the device (the same as dropping it).
    pub fn close(self) {}
}

impl Drop for Device {
    fn drop(&mut self) {
        let mut state = self.context.lock();
        // SAFETY: `raw` is owned by `self` and freed exactly once, here; its context is still
        // alive because `self.context` is dropped only after this function returns.
        unsafe { ffi::sk2f2_close(self.raw.as_ptr()) };
        state.open_serials.retain(|serial| *serial != self.serial);
        tracing::info!(serial = %self.serial, "closed Kinect v2");
    }
}

/// A depth frame lent by libfreenect2; given back when dropped.
#[derive(Debug)]
pub struct HeldFrame<'device> {
    device: &'device mut Device,
    raw: ffi::RawFrame,
}

impl HeldFrame<'_> {
    /// Width in pixels (512 for a Kinect v2).
    pub fn width(&self) -> usize {
        self.raw.width
    }

    /// Height in pixels (424 for a Kinect v2).
    pub fn height(&self) -> usize {
        self.raw.height
    }

    /// The device's frame counter.
    pub fn device_sequence(&self) -> u32 {
        self.raw.sequence
    }

    /// The device's timestamp, in ticks of 0.125 ms.
    pub fn device_timestamp(&self) -> u32 {
        self.raw.timestamp
    }

    /// libfreenect2's status word: 0 if the frame is fine.
    pub fn status(&self) -> u32 {
        self.raw.status
    }

    /// The raw pixels: `width * height` native-endian `f32` millimetres.
    pub fn bytes(&self) -> &[u8] {
        // Cannot overflow: wait_frame checked width * height <= MAX_FRAME_PIXELS.
        let len = self.raw.width * self.raw.height * 4;
        // SAFETY: wait_frame checked that `data` is non-null and that the frame is
        // width x height pixels of 4 bytes; libfreenect2 owns the buffer until we release it,
        // which happens only when `self` is dropped (so not during this borrow), and the driver
        // never writes a frame it handed to the listener. u8 needs no alignment.
        unsafe { std::slice::from_raw_parts(self.raw.data, len) }
    }

    /// Converts the pixels to millimetres into `out` (see [`crate::convert`] for the rule).
    pub fn convert_into(&self, out: &mut Vec<u16>) {
        depth_mm_from_ne_f32_bytes(self.bytes(), out);
    }

    /// The frame as a [`DepthFrame`] of `u16` millimetres (see [`crate::convert`]).
    pub fn to_depth_frame(&self) -> DepthFrame {
        let mut depth_mm = Vec::new();
        self.convert_into(&mut depth_mm);
        // Cannot fail: wait_frame checked the shape is within 1..=MAX_FRAME_PIXELS and the
        // buffer holds exactly width * height pixels.
        DepthFrame::new(self.raw.width, self.raw.height, depth_mm)
            .expect("shape checked by wait_frame")
    }
}

impl Drop for HeldFrame<'_> {
    fn drop(&mut self) {
        // SAFETY: the device handle is live (borrowed) and holds exactly this frame.
        let status = unsafe { ffi::sk2f2_release_frame(self.device.raw.as_ptr()) };
        if status != ffi::OK {
            tracing::warn!(status, serial = %self.device.serial, "releasing a depth frame failed");
        }
    }
}
