//! The capture threads behind [`crate::Freenect2Sensor`]: one for depth and IR (one wait gives
//! both frames of a packet), and, when colour is wanted, a second one for the colour JPEGs. Each
//! takes a frame, converts or copies it, gives libfreenect2 its buffer back, and only then calls
//! its sink, which by the [`sk2_proto::Sensor`] contract never blocks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{
    CapturedColorFrame, CapturedFrame, CapturedIrFrame, ColorSink, FrameSink, IrFrame, IrSink,
    JpegImage, StreamDemand,
};

use crate::device::{ColorStream, DepthStream, Device, HeldFrame};
use crate::sequence::SequenceTracker;

/// How long the capture thread waits for a frame before checking whether it must stop: the
/// upper bound on how long stopping a [`crate::Freenect2Sensor`] waits (plus one frame's
/// conversion). At 30 fps a frame is due every 33 ms, so 100 ms never times out while
/// streaming yet stops promptly.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// `(width, height)` of every Kinect v2 depth and IR frame.
const KINECT_V2_SHAPE: (usize, usize) = (
    sk2_proto::KINECT_V2_WIDTH_PX,
    sk2_proto::KINECT_V2_HEIGHT_PX,
);

/// The largest difference between the device counters of the IR and depth frames of one wait
/// taken as "the next packet's IR frame" (see [`HeldFrame::ir_device_sequence`]); anything
/// else (a counter reset) pairs the IR frame with its depth frame's numbers.
const MAX_IR_DEPTH_SKEW: i64 = 2;

/// Counters shared by the capture threads and [`crate::Freenect2Sensor::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) frames: AtomicU64,
    pub(crate) lost_frames: AtomicU64,
    pub(crate) ir_frames: AtomicU64,
    pub(crate) color_frames: AtomicU64,
    pub(crate) lost_color_frames: AtomicU64,
    pub(crate) errors: AtomicU64,
}

/// Gap accounting of one stream within one run.
#[derive(Debug, Default)]
struct Losses {
    tracker: SequenceTracker,
    seen: u64,
    counted_gaps: u64,
}

impl Losses {
    /// Takes the next frame's device counters; returns `(sequence, device_timestamp)`.
    fn number(&mut self, device_sequence: u32, device_timestamp: u32) -> (u64, u64) {
        self.tracker.next(device_sequence, device_timestamp)
    }

    /// Counts the frame numbered last as delivered, and adds the growth of the gaps to `lost`.
    /// Gaps only grow within a run (the sequence steps by at least one per frame); adding the
    /// growth keeps the earlier runs' losses in the total. Returns the frames delivered in
    /// this run.
    fn delivered(&mut self, lost: &AtomicU64) -> u64 {
        self.seen += 1;
        let gaps = self.tracker.gaps(self.seen);
        lost.fetch_add(gaps - self.counted_gaps, Ordering::Relaxed);
        self.counted_gaps = gaps;
        self.seen
    }
}

/// The sinks and flags of one run.
pub(crate) struct Run<'a> {
    pub(crate) stop: &'a AtomicBool,
    pub(crate) counters: &'a Counters,
    pub(crate) first_frame: mpsc::SyncSender<()>,
    /// Whether IR and colour are wanted now; `None`: always.
    pub(crate) demand: Option<StreamDemand>,
}

impl Run<'_> {
    fn ir_wanted(&self) -> bool {
        self.demand.as_ref().map_or(true, StreamDemand::ir)
    }

    fn color_wanted(&self) -> bool {
        self.demand.as_ref().map_or(true, StreamDemand::color)
    }
}

/// Runs the streams of one start until `run.stop`: depth and IR on this thread, colour (when
/// `color` is given and the device streams it) on a second, scoped thread. Stops the device and
/// returns it.
pub(crate) fn capture(
    mut device: Device,
    depth_sink: FrameSink,
    ir_sink: Option<IrSink>,
    color_sink: Option<ColorSink>,
    run: Run<'_>,
) -> Device {
    let serial = device.serial().to_owned();
    {
        let (depth, color) = device.streams();
        std::thread::scope(|scope| {
            if let Some(color_sink) = color_sink {
                let spawned = std::thread::Builder::new()
                    .name(format!("freenect2-rgb-{serial}"))
                    .spawn_scoped(scope, || capture_color(color, color_sink, &run, &serial));
                if let Err(error) = spawned {
                    run.counters.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%serial, %error, "cannot start the colour capture thread; no colour");
                }
            }
            capture_depth(depth, depth_sink, ir_sink, &run, &serial);
        });
    }
    if let Err(error) = device.stop() {
        tracing::warn!(%serial, %error, "stopping the streams failed");
    }
    device
}

/// The depth and IR loop. Signals `first_frame` once, before the first frame goes to the sink.
fn capture_depth(
    mut stream: DepthStream<'_>,
    mut depth_sink: FrameSink,
    mut ir_sink: Option<IrSink>,
    run: &Run<'_>,
    serial: &str,
) {
    let counters = run.counters;
    let mut losses = Losses::default();
    let mut ir_amplitude = Vec::new();
    while !run.stop.load(Ordering::Relaxed) {
        let (captured, ir) = match stream.wait_frame(POLL_INTERVAL) {
            Ok(None) => continue,
            Ok(Some(frame)) if (frame.width(), frame.height()) != KINECT_V2_SHAPE => {
                // Sensor::shape promises 512 x 424 to the server; never break that promise.
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%serial, width = frame.width(), height = frame.height(), "depth frame of an unexpected size skipped");
                continue;
            }
            Ok(Some(frame)) => {
                let capture_time_ns = unix_time_ns();
                let (sequence, device_timestamp) =
                    losses.number(frame.device_sequence(), frame.device_timestamp());
                let ir = match &ir_sink {
                    Some(_) if run.ir_wanted() => ir_frame(
                        &frame,
                        sequence,
                        device_timestamp,
                        capture_time_ns,
                        &mut ir_amplitude,
                        serial,
                        counters,
                    ),
                    _ => None,
                };
                let depth = frame.to_depth_frame();
                // `frame` is dropped here: libfreenect2 gets its buffers back before the sinks run.
                let captured = CapturedFrame {
                    depth,
                    sequence,
                    device_timestamp,
                    capture_time_ns,
                };
                (captured, ir)
            }
            Err(error) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%serial, %error, "no depth frame");
                // Do not spin on a persistent failure.
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
        };
        if run.stop.load(Ordering::Relaxed) {
            // stop() may have given up waiting and returned: the sinks must not run any more.
            break;
        }
        if losses.delivered(&counters.lost_frames) == 1 {
            let _ = run.first_frame.try_send(());
        }
        counters.frames.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(sequence = captured.sequence, "depth frame");
        depth_sink(captured);
        if let (Some(sink), Some(ir)) = (ir_sink.as_mut(), ir) {
            counters.ir_frames.fetch_add(1, Ordering::Relaxed);
            sink(ir);
        }
    }
}

/// The IR frame of `frame`, numbered like its depth frame (`sequence`, `device_timestamp`)
/// shifted by the difference of the device's counters, so that a client pairs IR and depth of
/// one exposure by `sequence` even when the listener paired the next packet's IR frame.
fn ir_frame(
    frame: &HeldFrame<'_>,
    sequence: u64,
    device_timestamp: u64,
    capture_time_ns: u64,
    amplitude: &mut Vec<u16>,
    serial: &str,
    counters: &Counters,
) -> Option<CapturedIrFrame> {
    if frame.ir_shape() != KINECT_V2_SHAPE {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        let (width, height) = frame.ir_shape();
        tracing::warn!(%serial, width, height, "IR frame of an unexpected size skipped");
        return None;
    }
    // Signed differences of wrapping u32 counters.
    let skew = i64::from(
        frame
            .ir_device_sequence()
            .wrapping_sub(frame.device_sequence()) as i32,
    );
    let (sequence, device_timestamp) = if (0..=MAX_IR_DEPTH_SKEW).contains(&skew) {
        let ticks = i64::from(
            frame
                .ir_device_timestamp()
                .wrapping_sub(frame.device_timestamp()) as i32,
        );
        (
            sequence + skew.unsigned_abs(),
            device_timestamp.saturating_add_signed(ticks),
        )
    } else {
        (sequence, device_timestamp)
    };
    frame.convert_ir_into(amplitude);
    let (width, height) = KINECT_V2_SHAPE;
    // Cannot fail: the shape is 512 x 424 and convert_ir_into made one value per pixel.
    let ir = IrFrame::new(width, height, std::mem::take(amplitude)).expect("IR shape checked");
    Some(CapturedIrFrame {
        ir,
        sequence,
        device_timestamp,
        capture_time_ns,
    })
}

/// The colour loop: copies each JPEG out of libfreenect2's buffer, gives the buffer back, then
/// calls the sink.
fn capture_color(mut stream: ColorStream<'_>, mut sink: ColorSink, run: &Run<'_>, serial: &str) {
    let counters = run.counters;
    let mut losses = Losses::default();
    while !run.stop.load(Ordering::Relaxed) {
        let captured = match stream.wait_frame(POLL_INTERVAL) {
            Ok(None) => continue,
            Ok(Some(frame)) => {
                let capture_time_ns = unix_time_ns();
                let (sequence, device_timestamp) =
                    losses.number(frame.device_sequence(), frame.device_timestamp());
                if !run.color_wanted() {
                    // Nobody watches colour: give the buffer back at once, without the copy.
                    // Numbered and accounted, so that skipped frames are not counted as lost
                    // and the sequence keeps counting the device's frames.
                    drop(frame);
                    losses.delivered(&counters.lost_color_frames);
                    continue;
                }
                let jpeg = JpegImage::new(frame.jpeg().to_vec());
                // `frame` is dropped here: libfreenect2 gets its buffer back before the sink runs.
                drop(frame);
                match jpeg {
                    Ok(jpeg) => CapturedColorFrame {
                        jpeg,
                        sequence,
                        device_timestamp,
                        capture_time_ns,
                    },
                    Err(error) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%serial, %error, "colour frame without a readable JPEG header skipped");
                        continue;
                    }
                }
            }
            Err(error) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%serial, %error, "no colour frame");
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
        };
        if run.stop.load(Ordering::Relaxed) {
            break;
        }
        losses.delivered(&counters.lost_color_frames);
        counters.color_frames.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(sequence = captured.sequence, "colour frame");
        sink(captured);
    }
}
