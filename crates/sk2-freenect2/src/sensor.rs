//! [`Freenect2Sensor`]: a Kinect v2 as an [`sk2_proto::Sensor`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{CapturedFrame, DepthFrame, FrameSink, Sensor, SensorError};

use crate::device::{Device, Freenect2, Freenect2Error, OpenOptions};
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

/// `(width, height)` of every Kinect v2 depth frame.
const KINECT_V2_SHAPE: (usize, usize) = (
    sk2_proto::KINECT_V2_WIDTH_PX,
    sk2_proto::KINECT_V2_HEIGHT_PX,
);

/// Counters of one [`Freenect2Sensor`], since it was created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Freenect2Stats {
    /// Frames handed to the sink.
    pub frames: u64,
    /// Frames the device numbered but that never reached the sink (dropped by libfreenect2,
    /// refused by the listener while the previous frame was being converted, or lost on USB).
    pub lost_frames: u64,
    /// Frames libfreenect2 delivered in an unexpected format or size (skipped), and failed waits.
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
            device: Some(device),
            running: None,
            counters: Arc::default(),
        }
    }

    /// The device's serial number.
    pub fn serial(&self) -> &str {
        &self.serial
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
        let thread = std::thread::Builder::new()
            .name(format!("freenect2-{}", self.serial))
            .spawn({
                let stop = Arc::clone(&stop);
                let counters = Arc::clone(&self.counters);
                move || {
                    let device = capture(device, sink, &stop, &counters);
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
        Ok(())
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

/// The capture thread: waits for frames, converts them, releases libfreenect2's buffer, then
/// calls the sink. Returns the device, stopped, when asked to stop.
fn capture(
    mut device: Device,
    mut sink: FrameSink,
    stop: &AtomicBool,
    counters: &Counters,
) -> Device {
    let mut tracker = SequenceTracker::new();
    let mut seen: u64 = 0;
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
        counters.frames.fetch_add(1, Ordering::Relaxed);
        counters
            .lost_frames
            .store(tracker.gaps(seen), Ordering::Relaxed);
        tracing::trace!(sequence = captured.sequence, "depth frame");
        sink(captured);
    }
    if let Err(error) = device.stop() {
        tracing::warn!(serial = %device.serial(), %error, "stopping the depth stream failed");
    }
    device
}
