//! [`Freenect2`], the library context: lists Kinect v2 devices, builds packet pipelines in a
//! child process where they may end the process, and opens devices with [`OpenOptions`].

use std::ffi::{c_char, CString};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::error::{status_error, Freenect2Error};
use super::Device;
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
    /// Whether to stream colour too (the device's JPEG, passed through undecoded). Colour takes
    /// USB bandwidth besides depth; without it only depth and IR run.
    pub color: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            serial: None,
            pipeline: Pipeline::Cpu,
            min_depth_m: DEFAULT_MIN_DEPTH_M,
            max_depth_m: DEFAULT_MAX_DEPTH_M,
            color: true,
        }
    }
}

/// The shim's context handle, freed when the last [`Freenect2`] or [`Device`] using it goes.
#[derive(Debug)]
pub(super) struct Context {
    raw: NonNull<ffi::RawContext>,
    /// Serialises context-wide calls (libfreenect2's `Freenect2` is not thread-safe) and holds
    /// the serials of the devices open through this context.
    calls: Mutex<ContextState>,
}

#[derive(Debug, Default)]
pub(super) struct ContextState {
    pub(super) open_serials: Vec<String>,
}

// SAFETY: the shim's context is a plain heap object not tied to the thread that made it, and
// every call on it goes through `calls`, so moving or sharing the wrapper across threads is sound.
unsafe impl Send for Context {}
// SAFETY: as above: shared access only ever reaches the C++ object under `calls`.
unsafe impl Sync for Context {}

impl Context {
    pub(super) fn lock(&self) -> MutexGuard<'_, ContextState> {
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
            color: options.color,
            streaming: false,
            color_streaming: false,
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
