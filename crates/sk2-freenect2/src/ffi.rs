//! Hand-written declarations of `shim/sk2_freenect2_shim.h`; keep the two in step.
//!
//! Only [`crate::device`] calls these. All handles are opaque: Rust never looks inside them.

use std::ffi::c_char;
use std::marker::{PhantomData, PhantomPinned};

/// `sk2f2_context`: owns a `libfreenect2::Freenect2`.
#[repr(C)]
pub(crate) struct RawContext {
    _data: [u8; 0],
    // Opaque C++ object: not Send, not Sync, not Unpin until a wrapper says otherwise.
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `sk2f2_device`: owns a `Freenect2Device` and its listener.
#[repr(C)]
pub(crate) struct RawDevice {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `struct sk2f2_frame`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFrame {
    pub(crate) data: *const u8,
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) bytes_per_pixel: usize,
    pub(crate) format: i32,
    pub(crate) timestamp: u32,
    pub(crate) sequence: u32,
    pub(crate) status: u32,
}

impl RawFrame {
    pub(crate) const EMPTY: RawFrame = RawFrame {
        data: std::ptr::null(),
        width: 0,
        height: 0,
        bytes_per_pixel: 0,
        format: 0,
        timestamp: 0,
        sequence: 0,
        status: 0,
    };
}

/// `struct sk2f2_ir_params`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawIrParams {
    pub(crate) fx: f32,
    pub(crate) fy: f32,
    pub(crate) cx: f32,
    pub(crate) cy: f32,
    pub(crate) k1: f32,
    pub(crate) k2: f32,
    pub(crate) k3: f32,
    pub(crate) p1: f32,
    pub(crate) p2: f32,
}

/// `struct sk2f2_color_params`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawColorParams {
    pub(crate) fx: f32,
    pub(crate) fy: f32,
    pub(crate) cx: f32,
    pub(crate) cy: f32,
    pub(crate) shift_d: f32,
    pub(crate) shift_m: f32,
    pub(crate) mx: [f32; 10],
    pub(crate) my: [f32; 10],
}

/// `libfreenect2::Frame::Raw`: a byte string, its length in `bytes_per_pixel` (colour: JPEG).
pub(crate) const FORMAT_RAW: i32 = 1;
/// `libfreenect2::Frame::Float`: one native-endian `f32` per pixel.
pub(crate) const FORMAT_FLOAT: i32 = 2;

pub(crate) const PIPELINE_CPU: i32 = 0;
pub(crate) const PIPELINE_OPENGL: i32 = 1;
pub(crate) const PIPELINE_OPENCL: i32 = 2;
pub(crate) const PIPELINE_CUDA: i32 = 3;

pub(crate) const OK: i32 = 0;
pub(crate) const ERR_ARG: i32 = -1;
pub(crate) const ERR_EXCEPTION: i32 = -2;
pub(crate) const ERR_UNAVAILABLE: i32 = -3;
pub(crate) const ERR_OPEN: i32 = -4;
pub(crate) const ERR_START: i32 = -5;
pub(crate) const ERR_SYSTEM: i32 = -7;
// -6 (SK2F2_ERR_STATE) and any other status are reported as Freenect2Error::Shim.

pub(crate) const PROBE_EXITED: i32 = 1;
pub(crate) const PROBE_SIGNALED: i32 = 2;
pub(crate) const PROBE_TIMEOUT: i32 = 3;

extern "C" {
    pub(crate) fn sk2f2_pipeline_available(pipeline: i32) -> i32;
    pub(crate) fn sk2f2_probe_pipeline(
        pipeline: i32,
        timeout_ms: i32,
        output: *mut c_char,
        len: usize,
        status: *mut i32,
    ) -> i32;
    pub(crate) fn sk2f2_context_new() -> *mut RawContext;
    pub(crate) fn sk2f2_context_free(ctx: *mut RawContext);
    pub(crate) fn sk2f2_enumerate(ctx: *mut RawContext) -> i32;
    pub(crate) fn sk2f2_serial(
        ctx: *mut RawContext,
        index: i32,
        buf: *mut c_char,
        len: usize,
    ) -> i64;
    pub(crate) fn sk2f2_open(
        ctx: *mut RawContext,
        serial: *const c_char,
        pipeline: i32,
        min_depth_m: f32,
        max_depth_m: f32,
        out: *mut *mut RawDevice,
    ) -> i32;
    pub(crate) fn sk2f2_start(dev: *mut RawDevice, color: i32) -> i32;
    pub(crate) fn sk2f2_camera_params(
        dev: *mut RawDevice,
        ir: *mut RawIrParams,
        color: *mut RawColorParams,
    ) -> i32;
    pub(crate) fn sk2f2_wait_depth(
        dev: *mut RawDevice,
        timeout_ms: i32,
        depth: *mut RawFrame,
        ir: *mut RawFrame,
    ) -> i32;
    pub(crate) fn sk2f2_release_frame(dev: *mut RawDevice) -> i32;
    pub(crate) fn sk2f2_wait_color(dev: *mut RawDevice, timeout_ms: i32, out: *mut RawFrame)
        -> i32;
    pub(crate) fn sk2f2_release_color(dev: *mut RawDevice) -> i32;
    pub(crate) fn sk2f2_stop(dev: *mut RawDevice) -> i32;
    pub(crate) fn sk2f2_close(dev: *mut RawDevice);
}
