//! [`Freenect2Sensor`]: a Kinect v2 as an [`sk2_proto::Sensor`]: depth, IR and colour, and
//! the device's calibration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_proto::{Calibration, FrameSink, Sensor, SensorError, StreamDemand, StreamSinks, Streams};

use crate::capture::{capture, Counters, Run};
use crate::device::{Device, Freenect2, Freenect2Error, OpenOptions};
use crate::pipeline::Pipeline;
use crate::sequence::sensor_id;

/// How long [`Sensor::stop`] waits for the capture thread. It normally returns within
/// [`crate::POLL_INTERVAL`] plus one frame's conversion and libfreenect2's `stop()`; only a
/// libfreenect2 built without C++11 threading (whose waits ignore their timeout) that delivers
/// no more frames (a Kinect unplugged while streaming) keeps it longer. Then `stop` gives up,
/// leaves the thread and the device behind (closed if frames ever resume) and returns, so that a
/// server can still shut down. [`Freenect2Sensor::set_stop_timeout`] changes it per sensor.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`Sensor::start`] waits for the first depth frame before it gives up with an error.
/// A Kinect v2 delivers its first frame well within a second of `startStreams`; none within this
/// time means a pipeline without its GPU (libfreenect2's OpenCL and CUDA pipelines then drop
/// every packet silently), a device on a USB 2 port or without power, or a bad cable.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// IR frames handed to the IR sink (one per depth frame while an IR sink is given).
    pub ir_frames: u64,
    /// Colour frames handed to the colour sink.
    pub color_frames: u64,
    /// Gaps in the device's colour frame counter, counted like `lost_frames`.
    pub lost_color_frames: u64,
    /// Frames of any stream libfreenect2 delivered in an unexpected format or size (skipped,
    /// not counted as lost), and failed waits.
    pub errors: u64,
}

#[derive(Debug)]
struct Running {
    stop: Arc<AtomicBool>,
    /// The capture thread sends the device back here when it ends.
    returned: mpsc::Receiver<Device>,
    thread: JoinHandle<()>,
}

/// A Kinect v2 streaming depth, IR and colour through libfreenect2.
///
/// The device is opened when the sensor is made (so "no device" is reported at once, not when
/// the server starts) and closed when the sensor is dropped. Depth frames are 512 x 424 `u16`
/// millimetres and IR frames 512 x 424 `u16` amplitudes, converted by the rules in
/// [`crate::convert`]; colour frames are the device's own JPEGs, passed through undecoded.
///
/// The calibration ([`Sensor::calibration`]) is the device's factory calibration, which
/// libfreenect2 reads from the device only when streams start: making the sensor starts and
/// stops the device once to read it.
#[derive(Debug)]
pub struct Freenect2Sensor {
    id: String,
    serial: String,
    pipeline: Pipeline,
    streams: Streams,
    calibration: Option<Calibration>,
    first_frame_timeout: Duration,
    stop_timeout: Duration,
    /// Whether IR and colour are wanted (from the server); `None`: always.
    demand: Option<StreamDemand>,
    /// The device while stopped; the capture thread owns it while running.
    device: Option<Device>,
    running: Option<Running>,
    counters: Arc<Counters>,
}

impl Freenect2Sensor {
    /// Opens a device as [`Freenect2::open`] does, on a context of its own, and reads its
    /// calibration (see [`Freenect2Sensor::new`]).
    pub fn open(options: &OpenOptions) -> Result<Self, Freenect2Error> {
        let freenect2 = Freenect2::new()?;
        Self::new(freenect2.open(options)?)
    }

    /// Wraps a device opened with [`Freenect2::open`]. A device that was never started is
    /// started (depth only) and stopped once, because libfreenect2 reads the calibration from
    /// the device only then; an error if it refuses to start.
    pub fn new(mut device: Device) -> Result<Self, Freenect2Error> {
        if device.camera_params().is_none() && !device.is_streaming() {
            device.start_streams(false)?;
            device.stop()?;
        }
        let calibration = device.camera_params().filter(|calibration| {
            let finite = calibration.check_finite();
            if let Err(error) = &finite {
                tracing::warn!(serial = %device.serial(), %error, "the device reported an unusable calibration; serving none");
            }
            finite.is_ok()
        });
        let streams = if device.has_color() {
            Streams::ALL
        } else {
            Streams::DEPTH_ONLY.with_ir()
        };
        Ok(Self {
            id: sensor_id(device.serial()),
            serial: device.serial().to_owned(),
            pipeline: device.pipeline(),
            streams,
            calibration,
            first_frame_timeout: FIRST_FRAME_TIMEOUT,
            stop_timeout: STOP_TIMEOUT,
            demand: None,
            device: Some(device),
            running: None,
            counters: Arc::default(),
        })
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

    /// Sets how long [`Sensor::stop`] waits for the capture threads before it leaves them
    /// behind (default [`STOP_TIMEOUT`]).
    pub fn set_stop_timeout(&mut self, timeout: Duration) {
        self.stop_timeout = timeout;
    }

    /// Counters since the sensor was made.
    pub fn stats(&self) -> Freenect2Stats {
        Freenect2Stats {
            frames: self.counters.frames.load(Ordering::Relaxed),
            lost_frames: self.counters.lost_frames.load(Ordering::Relaxed),
            ir_frames: self.counters.ir_frames.load(Ordering::Relaxed),
            color_frames: self.counters.color_frames.load(Ordering::Relaxed),
            lost_color_frames: self.counters.lost_color_frames.load(Ordering::Relaxed),
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

    fn streams(&self) -> Streams {
        self.streams
    }

    fn calibration(&self) -> Option<Calibration> {
        self.calibration
    }

    /// While IR is not wanted, its conversion is skipped; while colour is not wanted, each JPEG
    /// is given back to libfreenect2 without being copied (the device's colour stream keeps
    /// running: libfreenect2 cannot start it alone while depth runs). Frames skipped so are not
    /// counted as lost, and the colour sequence keeps counting the device's frames.
    fn set_demand(&mut self, demand: StreamDemand) {
        self.demand = Some(demand);
    }

    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError> {
        self.start_streams(StreamSinks::depth_only(sink))
    }

    /// Starts depth with IR, and colour on the device only when a colour sink is given (it costs
    /// USB bandwidth). IR costs nothing on the device (it comes with every depth frame) and is
    /// converted only when an IR sink is given.
    fn start_streams(&mut self, sinks: StreamSinks) -> Result<(), SensorError> {
        if self.running.is_some() {
            return Err(SensorError::AlreadyStarted(self.id.clone()));
        }
        let mut device = self.device.take().ok_or_else(|| {
            SensorError::Unavailable(format!(
                "Kinect v2 {} was closed after its capture thread failed",
                self.serial
            ))
        })?;
        let color_sink = sinks.color.filter(|_| self.streams.color());
        let demand = self.demand.clone();
        if let Err(error) = device.start_streams(color_sink.is_some()) {
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
                    let run = Run {
                        stop: &stop,
                        counters: &counters,
                        first_frame: first_frame_tx,
                        demand,
                    };
                    let device = capture(device, sinks.depth, sinks.ir, color_sink, run);
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
        match running.returned.recv_timeout(self.stop_timeout) {
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
                    timeout = ?self.stop_timeout,
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

#[cfg(test)]
mod tests {
    use super::*;
    use sk2_proto::{CapturedColorFrame, CapturedFrame, CapturedIrFrame};

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
    #[ignore = "needs a Kinect v2 attached (docs/freenect2.md, section 7)"]
    fn a_real_kinect_streams_depth_ir_and_colour_with_its_calibration() {
        let pipeline = std::env::var("SK2_FREENECT2_PIPELINE")
            .map_or(Ok(Pipeline::Cpu), |name| name.parse())
            .expect("SK2_FREENECT2_PIPELINE is cpu, opengl, opencl or cuda");
        let mut sensor = Freenect2Sensor::open(&OpenOptions {
            pipeline,
            ..OpenOptions::default()
        })
        .expect("a Kinect v2");
        let calibration = sensor.calibration().expect("the device's calibration");
        assert!(
            calibration.ir.fx > 300.0 && calibration.color.fx > 900.0,
            "{calibration:?}"
        );
        let (sender, frames) = mpsc::sync_channel(256);
        let (ir_sender, ir_frames) = mpsc::sync_channel(256);
        let (color_sender, color_frames) = mpsc::sync_channel(256);
        sensor
            .start_streams(StreamSinks {
                depth: Box::new(move |frame| {
                    let _ = sender.try_send(frame);
                }),
                ir: Some(Box::new(move |frame: CapturedIrFrame| {
                    let _ = ir_sender.try_send(frame.sequence);
                })),
                color: Some(Box::new(move |frame: CapturedColorFrame| {
                    let _ = color_sender.try_send((frame.jpeg.width(), frame.jpeg.height()));
                })),
            })
            .expect("depth frames");
        std::thread::sleep(Duration::from_secs(3));
        sensor.stop();
        let frames: Vec<CapturedFrame> = frames.try_iter().collect();
        let ir_frames: Vec<u64> = ir_frames.try_iter().collect();
        let color_frames: Vec<(usize, usize)> = color_frames.try_iter().collect();
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
        assert!(
            ir_frames.len() + 2 >= frames.len(),
            "one IR frame per depth frame"
        );
        // The colour camera halves its rate in dim light (15 fps).
        assert!(color_frames.len() >= 30, "colour: {stats:?}");
        assert!(color_frames.iter().all(|&shape| shape == (1920, 1080)));
    }
}
