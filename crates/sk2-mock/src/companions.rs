//! Infrared and colour frames that travel with depth frames: a depth sink wrapped so that, after
//! each depth frame is handed on, the frames of the same instant follow on their own sinks.
//!
//! Depth goes first, so the extra work (rendering IR, cloning a JPEG) never delays it; each
//! extra frame carries the depth frame's sequence number and timestamps.

use sk2_proto::{
    CapturedColorFrame, CapturedFrame, CapturedIrFrame, ColorSink, FrameSink, IrFrame, IrSink,
    JpegImage,
};

/// An IR sink whose frames [`with_ir`] renders and delivers only while `wanted()`.
pub(crate) fn wanted_only(ir: IrSink, wanted: impl Fn() -> bool + Send + 'static) -> WantedIr {
    WantedIr {
        sink: ir,
        wanted: Box::new(wanted),
    }
}

/// An IR sink and whether its frames are wanted now.
pub(crate) struct WantedIr {
    sink: IrSink,
    wanted: Box<dyn Fn() -> bool + Send>,
}

impl From<IrSink> for WantedIr {
    fn from(sink: IrSink) -> Self {
        wanted_only(sink, || true)
    }
}

/// `depth`, then the IR frame `ir_of(sequence)` to `ir` (rendered only when wanted).
pub(crate) fn with_ir(
    depth: FrameSink,
    ir: impl Into<WantedIr>,
    ir_of: impl Fn(u64) -> IrFrame + Send + 'static,
) -> FrameSink {
    let WantedIr {
        sink: mut ir,
        wanted,
    } = ir.into();
    followed_by(
        depth,
        wanted,
        move |(sequence, device_timestamp, capture_time_ns)| {
            ir(CapturedIrFrame {
                ir: ir_of(sequence),
                sequence,
                device_timestamp,
                capture_time_ns,
            });
        },
    )
}

/// `depth`, then the colour frame `color_of(sequence)` to `color`.
pub(crate) fn with_color(
    depth: FrameSink,
    mut color: ColorSink,
    color_of: impl Fn(u64) -> JpegImage + Send + 'static,
) -> FrameSink {
    followed_by(
        depth,
        || true,
        move |(sequence, device_timestamp, capture_time_ns)| {
            color(CapturedColorFrame {
                jpeg: color_of(sequence),
                sequence,
                device_timestamp,
                capture_time_ns,
            });
        },
    )
}

/// `depth`, then, while `wanted()`, `follow` with the depth frame's
/// `(sequence, device_timestamp, capture_time_ns)`: the wrapping [`with_ir`] and [`with_color`]
/// share.
fn followed_by(
    mut depth: FrameSink,
    wanted: impl Fn() -> bool + Send + 'static,
    mut follow: impl FnMut((u64, u64, u64)) + Send + 'static,
) -> FrameSink {
    Box::new(move |frame: CapturedFrame| {
        let stamp = (
            frame.sequence,
            frame.device_timestamp,
            frame.capture_time_ns,
        );
        depth(frame);
        if wanted() {
            follow(stamp);
        }
    })
}
