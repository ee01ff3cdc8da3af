//! Frames lent by libfreenect2: [`HeldFrame`] (depth and the IR of the same packet) and
//! [`HeldColorFrame`] (the device's JPEG), each given back when dropped, and the waits that
//! check them before anyone looks at their bytes.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use sk2_proto::frame::MAX_FRAME_PIXELS;
use sk2_proto::DepthFrame;

use super::error::status_error;
use super::Freenect2Error;
use crate::convert::{depth_mm_from_ne_f32_bytes, ir_from_ne_f32_bytes};
use crate::ffi;

/// The largest colour frame accepted: libfreenect2's colour packet parser assembles each JPEG in
/// a 2 MiB buffer, so no genuine frame is larger (a Kinect v2 JPEG is typically 100-400 kB).
pub const MAX_COLOR_JPEG_BYTES: usize = 2 * 1024 * 1024;

/// A depth frame and the IR frame of the same packet, lent by libfreenect2; given back when
/// dropped.
#[derive(Debug)]
pub struct HeldFrame<'device> {
    raw_device: NonNull<ffi::RawDevice>,
    serial: &'device str,
    depth: ffi::RawFrame,
    ir: ffi::RawFrame,
    _device: PhantomData<&'device mut ()>,
}

impl HeldFrame<'_> {
    /// Width in pixels (512 for a Kinect v2).
    pub fn width(&self) -> usize {
        self.depth.width
    }

    /// Height in pixels (424 for a Kinect v2).
    pub fn height(&self) -> usize {
        self.depth.height
    }

    /// The device's frame counter (the IR frame has the same).
    pub fn device_sequence(&self) -> u32 {
        self.depth.sequence
    }

    /// The device's timestamp, in ticks of 0.125 ms.
    pub fn device_timestamp(&self) -> u32 {
        self.depth.timestamp
    }

    /// libfreenect2's status word: 0 if the frame is fine.
    pub fn status(&self) -> u32 {
        self.depth.status
    }

    /// The raw depth pixels: `width * height` native-endian `f32` millimetres.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: wait_depth checked the frame (see float_bytes).
        unsafe { float_bytes(&self.depth) }
    }

    /// The IR frame's own device frame counter. Usually the depth frame's; one more when the
    /// next packet's IR frame replaced this one's in libfreenect2's listener between the
    /// depth frame's arrival and the wait (its `SyncMultiFrameListener` keeps the newest frame
    /// of each type, and a packet's IR frame is delivered just before its depth frame).
    pub fn ir_device_sequence(&self) -> u32 {
        self.ir.sequence
    }

    /// The IR frame's own device timestamp (see [`HeldFrame::ir_device_sequence`]).
    pub fn ir_device_timestamp(&self) -> u32 {
        self.ir.timestamp
    }

    /// `(width, height)` of the IR frame (512 x 424 for a Kinect v2).
    pub fn ir_shape(&self) -> (usize, usize) {
        (self.ir.width, self.ir.height)
    }

    /// The raw IR pixels: native-endian `f32` amplitudes, `0.0..=65535.0`.
    pub fn ir_bytes(&self) -> &[u8] {
        // SAFETY: wait_depth checked the frame (see float_bytes).
        unsafe { float_bytes(&self.ir) }
    }

    /// Converts the depth pixels to millimetres into `out` (see [`crate::convert`]).
    pub fn convert_into(&self, out: &mut Vec<u16>) {
        depth_mm_from_ne_f32_bytes(self.bytes(), out);
    }

    /// Converts the IR pixels to `u16` amplitudes into `out` ([`crate::convert::ir_from_f32`]).
    pub fn convert_ir_into(&self, out: &mut Vec<u16>) {
        ir_from_ne_f32_bytes(self.ir_bytes(), out);
    }

    /// The frame as a [`DepthFrame`] of `u16` millimetres (see [`crate::convert`]).
    pub fn to_depth_frame(&self) -> DepthFrame {
        let mut depth_mm = Vec::new();
        self.convert_into(&mut depth_mm);
        // Cannot fail: wait_depth checked the shape is within 1..=MAX_FRAME_PIXELS and the
        // buffer holds exactly width * height pixels.
        DepthFrame::new(self.depth.width, self.depth.height, depth_mm)
            .expect("shape checked by wait_depth")
    }
}

impl Drop for HeldFrame<'_> {
    fn drop(&mut self) {
        // SAFETY: the device handle is live (borrowed) and holds exactly this pair.
        let status = unsafe { ffi::sk2f2_release_frame(self.raw_device.as_ptr()) };
        if status != ffi::OK {
            tracing::warn!(status, serial = %self.serial, "releasing a depth frame failed");
        }
    }
}

/// A colour frame lent by libfreenect2: the JPEG the Kinect sent, undecoded. Given back when
/// dropped.
#[derive(Debug)]
pub struct HeldColorFrame<'device> {
    raw_device: NonNull<ffi::RawDevice>,
    serial: &'device str,
    raw: ffi::RawFrame,
    _device: PhantomData<&'device mut ()>,
}

impl HeldColorFrame<'_> {
    /// The device's colour frame counter (independent of the depth counter).
    pub fn device_sequence(&self) -> u32 {
        self.raw.sequence
    }

    /// The device's timestamp, in ticks of 0.125 ms (the same clock as depth).
    pub fn device_timestamp(&self) -> u32 {
        self.raw.timestamp
    }

    /// libfreenect2's status word: 0 if the frame is fine.
    pub fn status(&self) -> u32 {
        self.raw.status
    }

    /// The JPEG (1920 x 1080 on a Kinect v2), from its SOI marker to its EOI marker.
    pub fn jpeg(&self) -> &[u8] {
        // SAFETY: wait_color checked that `data` is non-null and the length is within
        // 1..=MAX_COLOR_JPEG_BYTES; libfreenect2 allocated at least that much room
        // (DumpRgbPacketProcessor: 1920 * 1080 * 4 bytes) and owns the buffer until we release
        // it, which happens only when `self` is dropped.
        unsafe { std::slice::from_raw_parts(self.raw.data, self.raw.bytes_per_pixel) }
    }
}

impl Drop for HeldColorFrame<'_> {
    fn drop(&mut self) {
        // SAFETY: the device handle is live (borrowed) and holds exactly this frame.
        let status = unsafe { ffi::sk2f2_release_color(self.raw_device.as_ptr()) };
        if status != ffi::OK {
            tracing::warn!(status, serial = %self.serial, "releasing a colour frame failed");
        }
    }
}

/// The bytes of a checked float frame.
///
/// # Safety
/// `frame` was checked by [`plausible_float`] and is still held.
unsafe fn float_bytes(frame: &ffi::RawFrame) -> &[u8] {
    // Cannot overflow: plausible_float checked width * height <= MAX_FRAME_PIXELS.
    let len = frame.width * frame.height * 4;
    // SAFETY: `data` is non-null and the frame is width x height pixels of 4 bytes
    // (plausible_float); libfreenect2 owns the buffer until it is released, which happens only
    // when the HeldFrame is dropped, and the driver never writes a frame it handed to the
    // listener. u8 needs no alignment.
    unsafe { std::slice::from_raw_parts(frame.data, len) }
}

/// Whether `frame` is what libfreenect2 documents for depth and IR: 4-byte floats, a shape
/// within the protocol's limits.
fn plausible_float(frame: &ffi::RawFrame) -> bool {
    let pixels = frame.width.checked_mul(frame.height);
    frame.format == ffi::FORMAT_FLOAT
        && frame.bytes_per_pixel == 4
        && !frame.data.is_null()
        && matches!(pixels, Some(n) if n > 0 && n <= MAX_FRAME_PIXELS)
}

fn bad_frame(stream: &'static str, frame: &ffi::RawFrame) -> Freenect2Error {
    Freenect2Error::BadFrame {
        stream,
        width: frame.width,
        height: frame.height,
        bytes_per_pixel: frame.bytes_per_pixel,
        format: frame.format,
    }
}

fn timeout_ms(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
}

/// Waits for a depth and IR pair.
///
/// # Safety
/// `raw` is a live device handle, borrowed for `'a` by the caller, and no other depth call on it
/// runs meanwhile.
pub(super) unsafe fn wait_depth<'a>(
    raw: NonNull<ffi::RawDevice>,
    serial: &'a str,
    streaming: bool,
    timeout: Duration,
) -> Result<Option<HeldFrame<'a>>, Freenect2Error> {
    if !streaming {
        return Err(Freenect2Error::NotStreaming {
            serial: serial.to_owned(),
        });
    }
    let mut depth = ffi::RawFrame::EMPTY;
    let mut ir = ffi::RawFrame::EMPTY;
    // SAFETY: by this function's contract; no pair is held (a HeldFrame borrows the caller
    // mutably, so none can be alive here); `depth` and `ir` are valid places to write.
    let status =
        unsafe { ffi::sk2f2_wait_depth(raw.as_ptr(), timeout_ms(timeout), &mut depth, &mut ir) };
    match status {
        0 => return Ok(None),
        1 => {}
        status => return Err(status_error("sk2f2_wait_depth", status)),
    }
    let frame = HeldFrame {
        raw_device: raw,
        serial,
        depth,
        ir,
        _device: PhantomData,
    };
    // Validate before anyone can look at the bytes; on error the pair is released by Drop.
    if !plausible_float(&frame.depth) {
        return Err(bad_frame("depth", &frame.depth));
    }
    if !plausible_float(&frame.ir) {
        return Err(bad_frame("IR", &frame.ir));
    }
    Ok(Some(frame))
}

/// Waits for a colour frame.
///
/// # Safety
/// `raw` is a live device handle, borrowed for `'a` by the caller, and no other colour call on
/// it runs meanwhile.
pub(super) unsafe fn wait_color<'a>(
    raw: NonNull<ffi::RawDevice>,
    serial: &'a str,
    streaming: bool,
    timeout: Duration,
) -> Result<Option<HeldColorFrame<'a>>, Freenect2Error> {
    if !streaming {
        return Err(Freenect2Error::NotStreaming {
            serial: serial.to_owned(),
        });
    }
    let mut out = ffi::RawFrame::EMPTY;
    // SAFETY: by this function's contract; no colour frame is held (a HeldColorFrame borrows
    // the caller mutably); `out` is a valid place to write.
    let status = unsafe { ffi::sk2f2_wait_color(raw.as_ptr(), timeout_ms(timeout), &mut out) };
    match status {
        0 => return Ok(None),
        1 => {}
        status => return Err(status_error("sk2f2_wait_color", status)),
    }
    let frame = HeldColorFrame {
        raw_device: raw,
        serial,
        raw: out,
        _device: PhantomData,
    };
    let plausible = frame.raw.format == ffi::FORMAT_RAW
        && (frame.raw.width, frame.raw.height) == (1, 1)
        && !frame.raw.data.is_null()
        && (2..=MAX_COLOR_JPEG_BYTES).contains(&frame.raw.bytes_per_pixel);
    if !plausible {
        return Err(bad_frame("colour", &frame.raw));
    }
    // A JPEG starts with its SOI marker; anything else is not the device's JPEG.
    if frame.jpeg()[..2] != [0xff, 0xd8] {
        return Err(bad_frame("colour", &frame.raw));
    }
    Ok(Some(frame))
}
