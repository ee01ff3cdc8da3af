//! Kinect v2 depth, IR and colour frames and the device's calibration through
//! [libfreenect2](https://github.com/OpenKinect/libfreenect2), as an [`sk2_proto::Sensor`].
//! Colour is the device's own JPEG, passed through undecoded: the shim combines the chosen
//! packet pipeline (depth and IR) with libfreenect2's `DumpPacketPipeline` (colour), see
//! `docs/freenect2.md`.
//!
//! libfreenect2 is C++ with no C API, so a small `extern "C"` shim (`shim/`, compiled with the
//! `cc` crate) wraps the dozen calls this crate needs, and `ffi` declares them by hand (no
//! bindgen, so no libclang). The exact libfreenect2 API relied on is listed in
//! `docs/freenect2.md`.
//!
//! # Features
//!
//! The binding needs libfreenect2 and a C++ compiler, which most machines lack, so it is behind
//! the feature `ffi` (the root package turns it on with its feature `freenect2`). Without it the
//! crate is only its pure parts: [`convert`] (the float-to-`u16` rules for depth and IR), [`SequenceTracker`],
//! [`sensor_id`] and [`Pipeline`]. They are always compiled so that the default
//! `cargo test --workspace` checks them. (Leaving the crate out of `default-members` instead
//! would not help: `cargo test --workspace` builds every member.)
//!
//! # Threads
//!
//! libfreenect2 decodes depth on its own thread and hands each frame to a listener. This crate
//! uses libfreenect2's `SyncMultiFrameListener` (one for depth with IR, one for colour), a
//! one-slot mailbox that never makes the driver wait: a frame that arrives while an older one is still unread replaces it (the older one is
//! deleted), also while the capture thread holds the frame it took last (with C++11 threading
//! the timed wait does not mark it as held). `Freenect2Sensor` runs one capture thread per device
//! that takes each frame, converts it, releases libfreenect2's buffer *before* calling the sink,
//! and passes the converted frame to the sink (which by the [`sk2_proto::Sensor`] contract never
//! blocks: the server's sink is a bounded channel that drops when full). So the capture thread
//! always gets the newest frame, and frames lost anywhere (replaced in the mailbox, dropped by
//! libfreenect2, lost on USB) show up as gaps in [`sk2_proto::CapturedFrame::sequence`], which
//! follows the device's own counter, and in [`Freenect2Stats::lost_frames`]. Colour, when a
//! colour sink is given, has a capture thread of its own that works the same way, so a slow
//! colour consumer never delays depth.
//!
//! # Failures libfreenect2 does not report
//!
//! Two pipeline failures never reach the caller as errors in libfreenect2 itself, so this crate
//! detects them: the OpenGL pipeline's constructor calls `exit(-1)` where it cannot create its
//! window, so [`Freenect2::open`] first builds it in a child process
//! ([`Freenect2::probe_pipeline`]); and the OpenCL and CUDA pipelines without a platform or GPU
//! open the device and then drop every packet, so [`Freenect2Sensor`]'s `start` waits up to
//! [`FIRST_FRAME_TIMEOUT`] for the first frame and fails with an error naming the pipeline.
//!
//! ```no_run
//! # #[cfg(feature = "ffi")] {
//! use sk2_freenect2::{Freenect2Sensor, OpenOptions, Pipeline};
//! use sk2_proto::Sensor;
//!
//! let mut sensor = Freenect2Sensor::open(&OpenOptions { pipeline: Pipeline::Cpu, ..OpenOptions::default() })?;
//! sensor.start(Box::new(|frame| println!("frame {} at {}", frame.sequence, frame.device_timestamp)))?;
//! std::thread::sleep(std::time::Duration::from_secs(1));
//! sensor.stop();
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// The workspace denies unsafe code; this crate is the one place that must call C++, so it
// allows it. Every unsafe block is small and carries a SAFETY comment; only `ffi` declares
// foreign functions and only `device` calls them.
#![cfg_attr(feature = "ffi", allow(unsafe_code))]
// Without `ffi` the binding's items (`Freenect2`, `Freenect2Sensor`, ...) are not compiled, so the
// crate documentation's links to them cannot resolve; `cargo doc --features ffi` resolves them all.
#![cfg_attr(not(feature = "ffi"), allow(rustdoc::broken_intra_doc_links))]

pub mod convert;
mod pipeline;
mod sequence;

#[cfg(feature = "ffi")]
mod capture;
#[cfg(feature = "ffi")]
mod device;
#[cfg(feature = "ffi")]
mod ffi;
#[cfg(feature = "ffi")]
mod sensor;

pub use pipeline::{ParsePipelineError, Pipeline};
pub use sequence::{sensor_id, SequenceTracker};

#[cfg(feature = "ffi")]
pub use capture::POLL_INTERVAL;
#[cfg(feature = "ffi")]
pub use device::{
    ColorStream, DepthStream, Device, Freenect2, Freenect2Error, HeldColorFrame, HeldFrame,
    OpenOptions, DEFAULT_MAX_DEPTH_M, DEFAULT_MIN_DEPTH_M, MAX_COLOR_JPEG_BYTES,
    PIPELINE_PROBE_TIMEOUT,
};
#[cfg(feature = "ffi")]
pub use sensor::{Freenect2Sensor, Freenect2Stats, FIRST_FRAME_TIMEOUT, STOP_TIMEOUT};
