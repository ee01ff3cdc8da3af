//! The binding driven end to end against the libfreenect2 stand-in (tests/fixtures/standin): a
//! C++ library with libfreenect2 v0.2's classes and signatures, whose fake devices produce
//! synthetic float frames on a driver thread and which counts every object alive.
//!
//! Run (CI does this in `.ci/run`):
//!
//! ```sh
//! export PKG_CONFIG_PATH=$(crates/sk2-freenect2/tests/fixtures/build-standin.sh | tail -n1)
//! cargo test -p sk2-freenect2 --features standin-tests
//! ```
//!
//! One module per topic: `opening` (enumerating and opening devices), `pipelines` (packet
//! pipelines that are missing, end the process or drop every frame), `held_frames` (the device's
//! frames lent by libfreenect2), `streams` (IR, colour passthrough and calibration), `sensor`
//! (the capture thread behind `Freenect2Sensor`) and `sensor_streams` (its IR and colour sinks
//! and calibration).
#![cfg(feature = "standin-tests")]
// The stand-in's test hooks are C functions, so calling them is unsafe, as in the crate itself.
#![allow(unsafe_code)]

mod held_frames;
mod opening;
mod pipelines;
mod sensor;
mod sensor_streams;
mod streams;

use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sk2_freenect2::{
    ColorStream, Device, Freenect2, Freenect2Sensor, HeldColorFrame, HeldFrame, OpenOptions,
    Pipeline,
};
use sk2_proto::{CapturedColorFrame, CapturedFrame, CapturedIrFrame, Sensor};

/// The stand-in's test hooks (tests/fixtures/standin/include/sk2_standin_control.h).
mod standin {
    use std::ffi::{c_char, CString};

    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct Counts {
        pub contexts_live: u64,
        pub devices_opened: u64,
        pub devices_closed: u64,
        pub devices_live: u64,
        pub pipelines_live: u64,
        pub listeners_live: u64,
        pub frames_live: u64,
        pub starts: u64,
        pub stops: u64,
        pub depth_frames_taken: u64,
        pub frames_refused: u64,
        pub max_on_new_frame_ns: u64,
        pub logger_level: i64,
        pub depth_frames_made: u64,
        pub frames_replaced: u64,
        pub ir_frames_taken: u64,
        pub color_frames_made: u64,
        pub color_frames_taken: u64,
    }

    extern "C" {
        fn sk2_standin_reset(
            serials_csv: *const c_char,
            frame_interval_us: u32,
            first_sequence: u32,
        );
        fn sk2_standin_counts(out: *mut Counts);
        fn sk2_standin_set_depth_size(width: usize, height: usize);
        fn sk2_standin_set_first_sequence(first_sequence: u32);
        fn sk2_standin_set_stalled(stalled: i32);
        fn sk2_standin_set_gpu(opengl_exits: i32, no_gpu: i32);
        fn sk2_standin_set_color_corrupt(mode: i32);
        fn sk2_standin_color_jpeg(sequence: u32, buf: *mut u8, len: usize) -> usize;
        fn sk2_standin_stuck_waits() -> u32;
        fn sk2_standin_events(buf: *mut c_char, len: usize) -> usize;
    }

    /// Which devices exist, how fast they produce frames and where their counter starts.
    pub fn reset(serials_csv: &str, frame_interval_us: u32, first_sequence: u32) {
        let serials = CString::new(serials_csv).expect("test serials have no NUL");
        // SAFETY: `serials` is a NUL-terminated string alive for the call.
        unsafe { sk2_standin_reset(serials.as_ptr(), frame_interval_us, first_sequence) }
    }

    /// The device frame number of the first frames of devices started from now on.
    pub fn set_first_sequence(first_sequence: u32) {
        // SAFETY: a plain value; no preconditions.
        unsafe { sk2_standin_set_first_sequence(first_sequence) }
    }

    /// The size of the depth frames of devices started from now on (until the next reset).
    pub fn set_depth_size(width: usize, height: usize) {
        // SAFETY: plain values; no preconditions.
        unsafe { sk2_standin_set_depth_size(width, height) }
    }

    /// Stops frames and makes waits ignore their timeout (or undoes it).
    pub fn set_stalled(stalled: bool) {
        // SAFETY: a plain value; no preconditions.
        unsafe { sk2_standin_set_stalled(i32::from(stalled)) }
    }

    /// Imitates a machine without a display (`opengl_exits`: building the OpenGL pipeline ends
    /// the process) or without an OpenCL platform (`no_gpu`: the OpenCL pipeline drops every
    /// frame). Reset turns both off.
    pub fn set_gpu(opengl_exits: bool, no_gpu: bool) {
        // SAFETY: plain values; no preconditions.
        unsafe { sk2_standin_set_gpu(i32::from(opengl_exits), i32::from(no_gpu)) }
    }

    /// How the stand-in's colour JPEGs are corrupted from now on.
    #[derive(Debug, Clone, Copy)]
    pub enum CorruptColor {
        /// Intact.
        No = 0,
        /// No SOI marker: not a JPEG at all.
        NoSoi = 1,
        /// An SOI marker and a segment cut short: no frame header to read.
        Truncated = 2,
    }

    pub fn set_color_corrupt(mode: CorruptColor) {
        // SAFETY: a plain value; no preconditions.
        unsafe { sk2_standin_set_color_corrupt(mode as i32) }
    }

    /// The JPEG a fake device sends as colour frame `sequence`.
    pub fn color_jpeg(sequence: u32) -> Vec<u8> {
        let mut jpeg = vec![0; 1 << 20];
        // SAFETY: `jpeg` is writable for its length; the stand-in writes at most that many bytes.
        let len = unsafe { sk2_standin_color_jpeg(sequence, jpeg.as_mut_ptr(), jpeg.len()) };
        assert!(len <= jpeg.len(), "colour JPEG larger than the test buffer");
        jpeg.truncate(len);
        jpeg
    }

    /// How many waits ignored their timeout and blocked (while stalled).
    pub fn stuck_waits() -> u32 {
        // SAFETY: reads an atomic counter; no preconditions.
        unsafe { sk2_standin_stuck_waits() }
    }

    pub fn counts() -> Counts {
        let mut counts = Counts::default();
        // SAFETY: `counts` is a valid, writable `struct sk2_standin_counts`.
        unsafe { sk2_standin_counts(&mut counts) };
        counts
    }

    /// The calls the shim made, oldest first, without the (many) "enumerate" events.
    pub fn events() -> Vec<String> {
        let mut buf = vec![0u8; 1 << 16];
        // SAFETY: `buf` is writable for `buf.len()` bytes; the stand-in writes at most that many.
        let len = unsafe { sk2_standin_events(buf.as_mut_ptr().cast(), buf.len()) };
        assert!(len < buf.len(), "event log larger than the test buffer");
        String::from_utf8_lossy(&buf[..len])
            .split(',')
            .filter(|event| !event.is_empty() && *event != "enumerate")
            .map(str::to_owned)
            .collect()
    }
}

/// The stand-in is one process-wide fake USB bus: tests take turns.
fn exclusive() -> MutexGuard<'static, ()> {
    static BUS: Mutex<()> = Mutex::new(());
    BUS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// 30 fps, like a Kinect v2.
const KINECT_INTERVAL_US: u32 = 33_333;

/// How long a test waits for a frame from a device that is streaming.
const FRAME_WAIT: Duration = Duration::from_secs(10);

/// Every object the shim created was freed.
fn assert_nothing_alive() {
    let counts = standin::counts();
    assert_eq!(
        (
            counts.contexts_live,
            counts.devices_live,
            counts.pipelines_live,
            counts.listeners_live,
            counts.frames_live
        ),
        (0, 0, 0, 0, 0),
        "leaked objects: {counts:?}"
    );
}

/// The default options, for the device with `serial`.
fn with_serial(serial: &str) -> OpenOptions {
    OpenOptions {
        serial: Some(serial.into()),
        ..OpenOptions::default()
    }
}

/// The default options, on `pipeline`.
fn with_pipeline(pipeline: Pipeline) -> OpenOptions {
    OpenOptions {
        pipeline,
        ..OpenOptions::default()
    }
}

/// A library context and its first device, opened with the default options (not started).
fn open_device() -> (Freenect2, Device) {
    let freenect2 = Freenect2::new().unwrap();
    let device = freenect2.open(&OpenOptions::default()).unwrap();
    (freenect2, device)
}

/// The next frame of a streaming device, within [`FRAME_WAIT`].
fn held_frame(device: &mut Device) -> HeldFrame<'_> {
    device.wait_frame(FRAME_WAIT).unwrap().expect("a frame")
}

/// The next frame of a streaming colour stream, within [`FRAME_WAIT`].
fn held_color_frame<'a>(stream: &'a mut ColorStream<'_>) -> HeldColorFrame<'a> {
    stream
        .wait_frame(FRAME_WAIT)
        .unwrap()
        .expect("a colour frame")
}

/// Closes the device, then the context, and checks that nothing is left alive.
fn close_all(device: Device, freenect2: Freenect2) {
    drop(device);
    drop(freenect2);
    assert_nothing_alive();
}

/// How long tests that are not about the start-up watchdog let a start wait for its first
/// frame: valgrind on a loaded machine can take longer than the default 5 s.
const PATIENT_FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(120);

/// How long tests that are not about stop's bound let a stop wait for the capture threads:
/// under valgrind, whose threads take turns on one core, the fake driver's threads can keep the
/// capture threads waiting for longer than the default 2 s.
const PATIENT_STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens a sensor whose start waits patiently for the first frame, and whose stop waits
/// patiently for its capture threads.
fn open_sensor(options: &OpenOptions) -> Freenect2Sensor {
    let mut sensor = Freenect2Sensor::open(options).unwrap();
    sensor.set_first_frame_timeout(PATIENT_FIRST_FRAME_TIMEOUT);
    sensor.set_stop_timeout(PATIENT_STOP_TIMEOUT);
    sensor
}

/// A sink that never blocks (as the Sensor contract requires) and a receiver for its frames.
fn channel_sink(capacity: usize) -> (sk2_proto::FrameSink, mpsc::Receiver<CapturedFrame>) {
    let (sender, receiver) = mpsc::sync_channel(capacity);
    let sink = Box::new(move |frame: CapturedFrame| {
        let _ = sender.try_send(frame);
    });
    (sink, receiver)
}

/// A colour sink that never blocks and a receiver for its frames.
fn color_channel_sink(
    capacity: usize,
) -> (sk2_proto::ColorSink, mpsc::Receiver<CapturedColorFrame>) {
    let (sender, receiver) = mpsc::sync_channel(capacity);
    let sink = Box::new(move |frame: CapturedColorFrame| {
        let _ = sender.try_send(frame);
    });
    (sink, receiver)
}

/// An IR sink that never blocks and a receiver for its frames.
fn ir_channel_sink(capacity: usize) -> (sk2_proto::IrSink, mpsc::Receiver<CapturedIrFrame>) {
    let (sender, receiver) = mpsc::sync_channel(capacity);
    let sink = Box::new(move |frame: CapturedIrFrame| {
        let _ = sender.try_send(frame);
    });
    (sink, receiver)
}

/// The receivers of [`start_all_streams`]'s sinks, one per stream.
struct StreamReceivers {
    depth: mpsc::Receiver<CapturedFrame>,
    ir: mpsc::Receiver<CapturedIrFrame>,
    color: mpsc::Receiver<CapturedColorFrame>,
}

/// Starts `sensor`'s depth, IR and colour streams, each into a channel sink of `capacity` frames
/// that never blocks; returns the channels.
fn start_all_streams(sensor: &mut Freenect2Sensor, capacity: usize) -> StreamReceivers {
    let (depth_sink, depth) = channel_sink(capacity);
    let (ir_sink, ir) = ir_channel_sink(capacity);
    let (color_sink, color) = color_channel_sink(capacity);
    sensor
        .start_streams(sk2_proto::StreamSinks {
            depth: depth_sink,
            ir: Some(ir_sink),
            color: Some(color_sink),
        })
        .unwrap();
    StreamReceivers { depth, ir, color }
}

/// Starts `sensor` into a channel sink of `capacity` frames and waits (up to [`FRAME_WAIT`]) for
/// the first frame, which it takes from the channel; returns the channel.
fn start_streaming(sensor: &mut Freenect2Sensor, capacity: usize) -> mpsc::Receiver<CapturedFrame> {
    let (sink, frames) = channel_sink(capacity);
    sensor.start(sink).unwrap();
    frames.recv_timeout(FRAME_WAIT).expect("a frame");
    frames
}

/// The u16 each of the stand-in's first pixels must become (its `synthetic_depth_mm` list):
/// NaN, +inf, -inf, -1, 0, -0, 0.25, 0.5, 1.49, 1.5, 4500.4, 65534.4, 65534.5, 65535, 65535.6,
/// 70000, 3e38, 1e-40.
const EXPECTED_SPECIAL_PIXELS: [u16; 18] = [
    0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 4500, 65534, 65535, 65535, 65535, 65535, 65535, 0,
];
