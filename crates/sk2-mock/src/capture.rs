//! The capture thread shared by every sensor of this crate: paces frames and feeds the sink.

use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{CapturedFrame, DepthFrame, FrameSink, SensorError};

/// A running capture thread. Dropping the stop sender wakes it at once, even mid-wait.
#[derive(Debug)]
pub(crate) struct Capture {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// Starts a thread calling `tick(sequence)` once per `period` (as fast as possible when
    /// `None`), with sequence numbers 0, 1, 2, ...
    ///
    /// When the thread falls behind (slow `tick`, busy machine) it does not burst to catch up:
    /// a real camera skips frames rather than delivering them late and fast.
    pub(crate) fn spawn(
        name: String,
        period: Option<Duration>,
        mut tick: impl FnMut(u64) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let mut next = Instant::now();
            for sequence in 0u64.. {
                let wait = period.map_or(Duration::ZERO, |_| {
                    next.saturating_duration_since(Instant::now())
                });
                let stop_now = if wait.is_zero() {
                    matches!(stopped.try_recv(), Err(TryRecvError::Disconnected))
                } else {
                    matches!(
                        stopped.recv_timeout(wait),
                        Err(RecvTimeoutError::Disconnected)
                    )
                };
                if stop_now {
                    return;
                }
                if let Some(period) = period {
                    let now = Instant::now();
                    next += period;
                    if next + period < now {
                        next = now;
                    }
                }
                tick(sequence);
            }
        })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it; no frame is delivered after this returns.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic in `produce` or the sink has already been reported by the panic hook;
            // there is nothing more to do with it here.
            let _ = thread.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The body of every `Sensor::start` in this crate: refuses a second start, then runs `produce`
/// on a capture thread named `<kind>-<first 8 chars of the id>`, kept in `slot`. Stopping is
/// `slot.take()`: dropping a [`Capture`] stops and joins its thread.
pub(crate) fn start_in(
    slot: &mut Option<Capture>,
    kind: &str,
    id: &str,
    period: Option<Duration>,
    sink: FrameSink,
    produce: impl FnMut(u64) -> DepthFrame + Send + 'static,
) -> Result<(), SensorError> {
    if slot.is_some() {
        return Err(SensorError::AlreadyStarted(id.to_owned()));
    }
    let capture = Capture::spawn(thread_name(kind, id), period, depth_tick(sink, produce))
        .map_err(|error| {
            SensorError::Unavailable(format!("cannot start capture thread: {error}"))
        })?;
    *slot = Some(capture);
    Ok(())
}

/// A capture thread's name: `<kind>-<first 8 chars of the sensor id>`.
pub(crate) fn thread_name(kind: &str, id: &str) -> String {
    format!("{kind}-{}", &id[..id.len().min(8)])
}

/// The tick of a depth capture: `produce(sequence)`, stamped and handed to `sink`.
fn depth_tick(
    mut sink: FrameSink,
    mut produce: impl FnMut(u64) -> DepthFrame + Send + 'static,
) -> impl FnMut(u64) + Send + 'static {
    move |sequence| {
        let depth = produce(sequence);
        let capture_time_ns = unix_time_ns();
        sink(CapturedFrame {
            depth,
            sequence,
            // These sensors have no device clock; the trait says to use the host time then.
            device_timestamp: capture_time_ns,
            capture_time_ns,
        });
    }
}

/// The period of a frame rate; `None` (unthrottled) for a rate that is not a positive finite number.
pub(crate) fn period_of(fps: Option<f64>) -> Option<Duration> {
    fps.filter(|fps| fps.is_finite() && *fps > 0.0)
        .map(|fps| Duration::from_secs_f64(1.0 / fps))
}
