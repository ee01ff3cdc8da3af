//! [`Freenect2Sensor`]: a Kinect v2 as an [`sk2_proto::Sensor`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{CapturedFrame, DepthFrame, FrameSink, Sensor, SensorError};

use crate::device::{Device, Freenect2, Freenect2Error, OpenOptions};
use crate::pipeline::Pipeline;
use crate::sequence::{sensor_id, SequenceTracker};

/// How long the capture thread waits for a frame before checking whether it must stop: the
/// upper bound on how long [`Sensor::stop`] waits (plus one frame's conversion). At 30 fps a
/// frame is due every 33 ms, so 100 ms never times out while streaming yet stops promptly.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long [`Sensor::stop`] waits for the capture thread. It normally returns within
/// [`POLL_INTERVAL`] plus one frame's conversion and libfreenect2's `stop()`; only a
/// libfreenect2 built without C++11 threading (whose waits ignore their timeout) that delivers
/// no more frames (a Kinect unplugged while streaming) keeps it longer. Then `stop` gives up,
/// leaves the thread and the device behind (closed if frames ever resume) and returns, so that a
/// server can still shut down.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`Sensor::start`] waits for the first depth frame before it gives up with an error.
/// A Kinect v2 delivers its first frame well within a second of `startStreams`; none within this
/// time means a pipeline without its GPU (libfreenect2's OpenCL and CUDA pipelines then drop
/// every packet silently), a device on a USB 2 port or without power, or a bad cable.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// `(width, height)` of every Kinect v2 depth frame.
const KINECT_V2_SHAPE: (usize, usize) = (
    sk2_proto::KINECT_V2_WIDTH_PX,
    sk2_proto::KINECT_V2_HEIGHT_PX,
);

/// Counters of one [`Freenect2Sensor`], since it was created (over all its starts).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Freenect2Stats {
    /// Frames handed to the sink.
    pub frames: u64,
    /// Frames the device numbered between the first and the last frame handed to the sink of
    /// each run (start to stop) that never reached it: the gaps in the device's frame counter.
    /// They were replaced in libfreenect2's one-frame mailbox by a newer frame before the
    /// capture thread took them (it was converting the frame before, or was not scheduled),
    /// dropped by libfreenect2 (its decoder was busy), or lost on USB; they cannot be told
    /// apart here. Frames before the first of a run or after its last are not counted.
    pub lost_frames: u64,
    /// Frames libfreenect2 delivered in an unexpected format or size (skipped, not counted in
    /// `lost_frames`), and failed waits.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    frames: AtomicU64,
    lost_frames: AtomicU64,
    errors: AtomicU64,
}

#[derive(Debug)]
struct Running {
    stop: Arc<AtomicBool>,
    /// The capture thread sends the device back here when it ends.
    returned: mpsc::Receiver<Device>,
    thread: JoinHandle<()>,
}

/// A Kinect v2 streaming depth through libfreenect2.
///
/// The device is opened when the sensor is made (so "no device" is reported at once, not when
/// the server starts) and closed when the sensor is dropped. Frames are 512 x 424 `u16`
/// millimetres converted by the rule in [`crate::convert`].
#[derive(Debug)]
pub struct Freenect2Sensor {
    id: String,
    serial: String,
    pipeline: Pipeline,
    first_frame_timeout: Duration,
    /// The device while stopped; the capture thread owns it while running.
    device: Option<Device>,
    running: Option<Running>,
    counters: Arc<Counters>,
}

impl Freenect2Sensor {
    /// Opens a device as [`Freenect2::open`] does, on a context of its own.
    pub fn open(options: &OpenOptions) -> Result<Self, Freenect2Error> {
        let freenect2 = Freenect2::new()?;
        Ok(Self::new(freenect2.open(options)?))
    }

    /// Wraps a device opened with [`Freenect2::open`].
    pub fn new(device: Device) -> Self {
        Self {
            id: sensor_id(device.serial()),
            serial: device.serial().to_owned(),
            pipeline: device.pipeline(),
            first_frame_timeout: FIRST_FRAME_TIMEOUT,
            device: Some(device),
            running: None,
            counters: Arc::default(),
        }
    }

    /// The device's serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Sets how long [`Sensor::start`] waits for the first frame (default
    /// [`FIRST_FRAME_TIMEOUT`]).
    pub fn set_first_frame_timeout(&mut self, timeout: Duration) {
        self.first_frame_timeout = timeout;
    }

    /// Counters since the sensor was made.
    pub fn stats(&self) -> Freenect2Stats {
        Freenect2Stats {
            frames: self.counters.frames.load(Ordering::Relaxed),
            lost_frames: self.counters.lost_frames.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
        }
    }
}

impl Sensor for Freenect2Sensor {
    fn id(&self) -> &str {
        &self.id
    }

    fn shape(&self) -> (usize, usize) {
        (
            sk2_proto::KINECT_V2_WIDTH_PX,
            sk2_proto::KINECT_V2_HEIGHT_PX,
        )
    }

    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError> {
        if self.running.is_some() {
            return Err(SensorError::AlreadyStarted(self.id.clone()));
        }
        let mut device = self.device.take().ok_or_else(|| {
            SensorError::Unavailable(format!(
                "Kinect v2 {} was closed after its capture thread failed",
                self.serial
            ))
        })?;
        if let Err(error) = device.start() {
            self.device = Some(device);
            return Err(SensorError::Unavailable(error.to_string()));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (give_back, returned) = mpsc::sync_channel(1);
        let (first_frame_tx, first_frame) = mpsc::sync_channel(1);
        let errors_before = self.counters.errors.load(Ordering::Relaxed);
        let thread = std::thread::Builder::new()
            .name(format!("freenect2-{}", self.serial))
            .spawn({
                let stop = Arc::clone(&stop);
                let counters = Arc::clone(&self.counters);
                move || {
                    let device = capture(device, sink, &stop, &counters, first_frame_tx);
                    // If stop() gave up waiting, nobody takes it: dropping it closes the device.
                    let _ = give_back.send(device);
                }
            })
            .map_err(|error| {
                // The closure (and with it the device) is dropped, which closes the device.
                SensorError::Unavailable(format!("cannot start the capture thread: {error}"))
            })?;
        self.running = Some(Running {
            stop,
            returned,
            thread,
        });
        // The watchdog: libfreenect2 reports neither a pipeline that decodes nothing nor a
        // device that sends nothing; both would leave a server that runs and serves nothing.
        let started = Instant::now();
        match first_frame.recv_timeout(self.first_frame_timeout) {
            Ok(()) => {
                tracing::debug!(serial = %self.serial, after = ?started.elapsed(), "first depth frame");
                Ok(())
            }
            Err(_) => {
                self.stop();
                let skipped = self.counters.errors.load(Ordering::Relaxed) - errors_before;
                Err(SensorError::Unavailable(no_frame_message(
                    &self.serial,
                    self.pipeline,
                    self.first_frame_timeout,
                    skipped,
                )))
            }
        }
    }

    fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.store(true, Ordering::Relaxed);
        match running.returned.recv_timeout(STOP_TIMEOUT) {
            Ok(device) => {
                // The thread has nothing left to do but exit.
                let _ = running.thread.join();
                self.device = Some(device);
            }
            // The sink panicked on the capture thread; unwinding dropped (closed) the device.
            Err(RecvTimeoutError::Disconnected) => {
                let _ = running.thread.join();
                tracing::warn!(serial = %self.serial, "capture thread panicked; device closed");
            }
            Err(RecvTimeoutError::Timeout) => {
                // Detach: the thread never calls the sink again (it checks the stop flag first).
                drop(running.thread);
                tracing::warn!(
                    serial = %self.serial,
                    timeout = ?STOP_TIMEOUT,
                    "libfreenect2 did not return from waiting for a frame; leaving the device behind \
                     (build libfreenect2 with -DENABLE_CXX11=ON, docs/freenect2.md)"
                );
            }
        }
    }
}

impl Drop for Freenect2Sensor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The error of a start that saw no usable depth frame within `waited`.
fn no_frame_message(serial: &str, pipeline: Pipeline, waited: Duration, skipped: u64) -> String {
    let waited = format!("{:.1}", waited.as_secs_f64());
    if skipped > 0 {
        return format!(
            "Kinect v2 {serial} sent no usable depth frame within {waited} s of starting: \
             {skipped} frames or waits failed (see the warnings above)"
        );
    }
    let likely = match pipeline {
        Pipeline::Cpu => "is it on a USB 3 port (not USB 2), with its own power supply and a \
                          good cable? see docs/freenect2.md"
            .to_owned(),
        gpu => format!(
            "libfreenect2's {gpu} pipeline drops every frame when it finds no working \
             {} (its log above says why); try --pipeline cpu",
            match gpu {
                Pipeline::OpenCl => "OpenCL platform or device",
                Pipeline::Cuda => "CUDA device",
                _ => "GPU",
            }
        ),
    };
    format!(
        "no depth frame from Kinect v2 {serial} within {waited} s of starting on the {pipeline} \
         packet pipeline: {likely}"
    )
}

/// The capture thread: waits for frames, converts them, releases libfreenect2's buffer, then
/// calls the sink. Signals `first_frame` once, before the first frame goes to the sink. Returns
/// the device, stopped, when asked to stop.
fn capture(
    mut device: Device,
    mut sink: FrameSink,
    stop: &AtomicBool,
    counters: &Counters,
    first_frame: mpsc::SyncSender<()>,
) -> Device {
    let mut tracker = SequenceTracker::new();
    let mut seen: u64 = 0;
    let mut counted_gaps: u64 = 0;
    let serial = device.serial().to_owned();
    while !stop.load(Ordering::Relaxed) {
        let captured = match device.wait_frame(POLL_INTERVAL) {
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
                    tracker.next(frame.device_sequence(), frame.device_timestamp());
                let depth: DepthFrame = frame.to_depth_frame();
                // `frame` is dropped here: libfreenect2 gets its buffer back before the sink runs.
                CapturedFrame {
                    depth,
                    sequence,
                    device_timestamp,
                    capture_time_ns,
                }
            }
            Err(error) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%serial, %error, "no depth frame");
                // Do not spin on a persistent failure.
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
        };
        if stop.load(Ordering::Relaxed) {
            // stop() may have given up waiting and returned: the sink must not run any more.
            break;
        }
        seen += 1;
        if seen == 1 {
            let _ = first_frame.try_send(());
        }
        counters.frames.fetch_add(1, Ordering::Relaxed);
        // Gaps only grow within a run (the tracker's sequence steps by at least one per frame);
        // adding the growth keeps the earlier runs' losses in the total.
        let gaps = tracker.gaps(seen);
        counters
            .lost_frames
            .fetch_add(gaps - counted_gaps, Ordering::Relaxed);
        counted_gaps = gaps;
        tracing::trace!(sequence = captured.sequence, "depth frame");
        sink(captured);
    }

    if let Err(error) = device.stop() {
        tracing::warn!(serial = %device.serial(), %error, "stopping the depth stream failed");
    }
    device
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_message_names_the_pipeline_and_what_to_try() {
        let cpu = no_frame_message("0039", Pipeline::Cpu, Duration::from_secs(5), 0);
        assert_eq!(
            cpu,
            "no depth frame from Kinect v2 0039 within 5.0 s of starting on the cpu packet \
             pipeline: is it on a USB 3 port (not USB 2), with its own power supply and a good \
             cable? see docs/freenect2.md"
        );
        let cuda = no_frame_message("0039", Pipeline::Cuda, Duration::from_secs(5), 0);
        assert!(
            cuda.contains("cuda packet pipeline") && cuda.contains("no working CUDA device"),
            "{cuda}"
        );
        assert!(cuda.ends_with("try --pipeline cpu"), "{cuda}");
        let skipped = no_frame_message("0039", Pipeline::OpenCl, Duration::from_millis(1500), 7);
        assert_eq!(
            skipped,
            "Kinect v2 0039 sent no usable depth frame within 1.5 s of starting: 7 frames or \
             waits failed (see the warnings above)"
        );
    }

    /// The whole path on real hardware: run with a Kinect v2 attached and libfreenect2 found by
    /// pkg-config, `cargo test -p sk2-freenect2 --features ffi -- --ignored --nocapture`
    /// (`SK2_FREENECT2_PIPELINE=opencl` etc. tries another pipeline). The stand-in has no
    /// device, so this fails against it.
    #[test]
    #[ignore = "needs a Kinect v2 attached (docs/freenect2.md, section 6)"]
    fn a_real_kinect_streams_plausible_depth_at_30_fps() {
        let pipeline = std::env::var("SK2_FREENECT2_PIPELINE")
            .map_or(Ok(Pipeline::Cpu), |name| name.parse())
            .expect("SK2_FREENECT2_PIPELINE is cpu, opengl, opencl or cuda");
        let mut sensor = Freenect2Sensor::open(&OpenOptions {
            pipeline,
            ..OpenOptions::default()
        })
        .expect("a Kinect v2");
        let (sender, frames) = mpsc::sync_channel(256);
        sensor
            .start(Box::new(move |frame| {
                let _ = sender.try_send(frame);
            }))
            .expect("depth frames");
        std::thread::sleep(Duration::from_secs(3));
        sensor.stop();
        let frames: Vec<CapturedFrame> = frames.try_iter().collect();
        let stats = sensor.stats();
        let valid = frames
            .iter()
            .map(|frame| {
                let pixels = frame.depth.depth_mm();
                pixels
                    .iter()
                    .filter(|&&mm| (500..=8000).contains(&mm))
                    .count() as f64
                    / pixels.len() as f64
            })
            .fold(0.0_f64, f64::max);
        println!(
            "Kinect v2 {} ({pipeline}): {} frames in 3 s, {stats:?}, best frame {:.0}% of pixels \
             in 0.5-8 m",
            sensor.serial(),
            frames.len(),
            valid * 100.0
        );
        assert!(frames.len() >= 60, "30 fps expected: {stats:?}");
        assert!(frames
            .windows(2)
            .all(|pair| pair[0].sequence < pair[1].sequence));
        assert!(valid > 0.2, "hardly any depth in range: point it at a room");
    }
}
