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

mod context;
mod error;

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use sk2_proto::frame::MAX_FRAME_PIXELS;
use sk2_proto::DepthFrame;

use crate::convert::depth_mm_from_ne_f32_bytes;
use crate::ffi;
use crate::pipeline::Pipeline;

use context::Context;
pub use context::{
    Freenect2, OpenOptions, DEFAULT_MAX_DEPTH_M, DEFAULT_MIN_DEPTH_M, PIPELINE_PROBE_TIMEOUT,
};
use error::status_error;
pub use error::Freenect2Error;

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
