//! Safe wrappers over the shim: [`Freenect2`] (the library context), [`Device`] (one open Kinect
//! v2), [`HeldFrame`] (a depth frame and its IR frame borrowed from libfreenect2 until dropped)
//! and [`HeldColorFrame`] (the device's JPEG, likewise). [`Device::streams`] splits a device into
//! its [`DepthStream`] and [`ColorStream`], which two threads can wait on at once.
//!
//! Ownership across the boundary:
//! * A [`Device`] holds an `Arc` of its context, so the context (whose C++ destructor deletes
//!   every device still open) is freed only after the last device was closed.
//! * A [`HeldFrame`] mutably borrows its [`Device`] (or its [`DepthStream`]): the frame buffer
//!   cannot outlive the device, and no other device call (which could release or overwrite the
//!   frame) can happen while it is alive. Dropping it gives the buffer back to libfreenect2.
//!   [`HeldColorFrame`] and [`ColorStream`] likewise; the shim lets the colour calls run beside
//!   the depth calls, and nothing else can run while the streams borrow the device.
//! * Context-wide calls (enumerate, open, start, stop, close) go through one mutex per context,
//!   because libfreenect2's context is not thread-safe; waiting for a frame does not take it.

mod context;
mod error;
mod frames;

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use sk2_proto::{Calibration, ColorCameraParams, IrCameraParams};

use crate::ffi;
use crate::pipeline::Pipeline;

use context::Context;
pub use context::{
    Freenect2, OpenOptions, DEFAULT_MAX_DEPTH_M, DEFAULT_MIN_DEPTH_M, PIPELINE_PROBE_TIMEOUT,
};
use error::status_error;
pub use error::Freenect2Error;
pub use frames::{HeldColorFrame, HeldFrame, MAX_COLOR_JPEG_BYTES};

/// One open Kinect v2. Dropping it stops streaming and closes the device.
#[derive(Debug)]
pub struct Device {
    raw: NonNull<ffi::RawDevice>,
    serial: String,
    pipeline: Pipeline,
    color: bool,
    streaming: bool,
    /// Whether the colour stream runs (only while `streaming`).
    color_streaming: bool,
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

    /// Whether the device was opened with colour ([`OpenOptions::color`]).
    pub fn has_color(&self) -> bool {
        self.color
    }

    /// Whether the streams are running.
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Starts depth and IR, and colour if the device was opened with [`OpenOptions::color`].
    /// Starting a streaming device does nothing.
    pub fn start(&mut self) -> Result<(), Freenect2Error> {
        self.start_streams(self.color)
    }

    /// Starts depth and IR, and colour if `color` and the device was opened with colour.
    /// Starting a streaming device does nothing.
    pub fn start_streams(&mut self, color: bool) -> Result<(), Freenect2Error> {
        if self.streaming {
            return Ok(());
        }
        let color = color && self.color;
        let status = {
            let _calls = self.context.lock();
            // SAFETY: `raw` is a live device handle owned by `self`; the context lock is held.
            unsafe { ffi::sk2f2_start(self.raw.as_ptr(), i32::from(color)) }
        };
        match status {
            ffi::OK => {
                self.streaming = true;
                self.color_streaming = color;
                tracing::debug!(serial = %self.serial, color, "streams started");
                Ok(())
            }
            ffi::ERR_START => Err(Freenect2Error::StartFailed {
                serial: self.serial.clone(),
            }),
            status => Err(status_error("sk2f2_start", status)),
        }
    }

    /// The factory calibration the device reported when it was last started; `None` before
    /// the first start (libfreenect2 reads it from the device while starting).
    pub fn camera_params(&self) -> Option<Calibration> {
        let mut ir = ffi::RawIrParams::default();
        let mut color = ffi::RawColorParams::default();
        // SAFETY: `raw` is a live device handle; `ir` and `color` are valid places to write.
        // The shim only copies values it stored at start, which cannot run concurrently
        // (`start` takes `&mut self`).
        let status = unsafe { ffi::sk2f2_camera_params(self.raw.as_ptr(), &mut ir, &mut color) };
        if status != ffi::OK {
            return None;
        }
        let [mx_x3y0, mx_x0y3, mx_x2y1, mx_x1y2, mx_x2y0, mx_x0y2, mx_x1y1, mx_x1y0, mx_x0y1, mx_x0y0] =
            color.mx;
        let [my_x3y0, my_x0y3, my_x2y1, my_x1y2, my_x2y0, my_x0y2, my_x1y1, my_x1y0, my_x0y1, my_x0y0] =
            color.my;
        Some(Calibration {
            ir: IrCameraParams {
                fx: ir.fx,
                fy: ir.fy,
                cx: ir.cx,
                cy: ir.cy,
                k1: ir.k1,
                k2: ir.k2,
                k3: ir.k3,
                p1: ir.p1,
                p2: ir.p2,
            },
            color: ColorCameraParams {
                fx: color.fx,
                fy: color.fy,
                cx: color.cx,
                cy: color.cy,
                shift_d: color.shift_d,
                shift_m: color.shift_m,
                mx_x3y0,
                mx_x0y3,
                mx_x2y1,
                mx_x1y2,
                mx_x2y0,
                mx_x0y2,
                mx_x1y1,
                mx_x1y0,
                mx_x0y1,
                mx_x0y0,
                my_x3y0,
                my_x0y3,
                my_x2y1,
                my_x1y2,
                my_x2y0,
                my_x0y2,
                my_x1y1,
                my_x1y0,
                my_x0y1,
                my_x0y0,
            },
        })
    }

    /// Waits up to `timeout` for the next depth frame and its IR frame; `Ok(None)` on timeout.
    /// The frames are libfreenect2's buffers, lent until the [`HeldFrame`] is dropped.
    /// Meanwhile libfreenect2 keeps only the newest pair that arrives (it deletes the one
    /// before, which then shows as a gap in the device's frame counter) and the next wait
    /// returns it at once.
    pub fn wait_frame(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<HeldFrame<'_>>, Freenect2Error> {
        // SAFETY: `raw` is live for the borrow of `self`, which the frame takes over; no other
        // call on the device can run meanwhile (`&mut self`).
        unsafe { frames::wait_depth(self.raw, &self.serial, self.streaming, timeout) }
    }

    /// Splits a streaming device into its depth (with IR) and colour streams, for two threads
    /// to wait on at once. Both borrow the device: it cannot be stopped or closed meanwhile.
    pub fn streams(&mut self) -> (DepthStream<'_>, ColorStream<'_>) {
        (
            DepthStream {
                raw: self.raw,
                serial: &self.serial,
                streaming: self.streaming,
                _device: PhantomData,
            },
            ColorStream {
                raw: self.raw,
                serial: &self.serial,
                streaming: self.streaming && self.color_streaming,
                _device: PhantomData,
            },
        )
    }

    /// Stops the streams. Stopping a stopped device does nothing.
    pub fn stop(&mut self) -> Result<(), Freenect2Error> {
        if !self.streaming {
            return Ok(());
        }
        self.streaming = false;
        self.color_streaming = false;
        let _calls = self.context.lock();
        // SAFETY: `raw` is a live device handle owned by `self`; the context lock is held; no
        // frame is held (that would borrow `self`).
        let status = unsafe { ffi::sk2f2_stop(self.raw.as_ptr()) };
        tracing::debug!(serial = %self.serial, "streams stopped");
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

/// The depth and IR half of a streaming [`Device`] (see [`Device::streams`]).
#[derive(Debug)]
pub struct DepthStream<'device> {
    raw: NonNull<ffi::RawDevice>,
    serial: &'device str,
    streaming: bool,
    _device: PhantomData<&'device mut Device>,
}

// SAFETY: the shim allows the depth calls on one thread while the colour calls run on another;
// `DepthStream` is not `Sync`, its wait takes `&mut self`, and it borrows the device, so no other
// call on the device can run meanwhile.
unsafe impl Send for DepthStream<'_> {}

impl DepthStream<'_> {
    /// As [`Device::wait_frame`].
    pub fn wait_frame(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<HeldFrame<'_>>, Freenect2Error> {
        // SAFETY: `raw` is live while the device is borrowed; only this stream makes depth
        // calls (`&mut self`), and the shim lets them run beside the colour calls.
        unsafe { frames::wait_depth(self.raw, self.serial, self.streaming, timeout) }
    }
}

/// The colour half of a streaming [`Device`] (see [`Device::streams`]).
#[derive(Debug)]
pub struct ColorStream<'device> {
    raw: NonNull<ffi::RawDevice>,
    serial: &'device str,
    streaming: bool,
    _device: PhantomData<&'device mut Device>,
}

// SAFETY: as for `DepthStream`, with the colour calls.
unsafe impl Send for ColorStream<'_> {}

impl ColorStream<'_> {
    /// Waits up to `timeout` for the next colour frame, the device's JPEG; `Ok(None)` on
    /// timeout. Like [`Device::wait_frame`], the newest frame wins while one is held. An error
    /// if the colour stream is not running (opened or started without colour).
    pub fn wait_frame(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<HeldColorFrame<'_>>, Freenect2Error> {
        // SAFETY: `raw` is live while the device is borrowed; only this stream makes colour
        // calls (`&mut self`), and the shim lets them run beside the depth calls.
        unsafe { frames::wait_color(self.raw, self.serial, self.streaming, timeout) }
    }
}
