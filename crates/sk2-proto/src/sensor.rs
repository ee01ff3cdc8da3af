//! The contract between a depth source and the server.
//!
//! A [`Sensor`] is anything that produces depth frames: the mock, a replay of recorded frames, a
//! real Kinect v2 through libfreenect2. The server owns sensors through this trait and never knows
//! which kind it has. A sensor runs its own capture thread (or the driver's) and hands each frame
//! to a [`FrameSink`]; the sink must return at once, so a slow consumer can never stall the sensor.
//! (The server's sink tries a bounded channel and counts a drop when it is full.)

use crate::frame::DepthFrame;

/// One frame as captured, with the facts the original protocol never carried.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    /// The depth image.
    pub depth: DepthFrame,
    /// Counts up by one per frame the sensor produced since it started, from 0, so a reader can
    /// see drops as gaps.
    pub sequence: u64,
    /// The device's own timestamp, in the device's units (libfreenect2: ticks of 0.125 ms); for
    /// sensors without one, the same as `capture_time_ns`.
    pub device_timestamp: u64,
    /// When the host received the frame, in nanoseconds since the Unix epoch.
    pub capture_time_ns: u64,
}

/// Where a sensor delivers frames. Must not block: it is called on the capture thread.
pub type FrameSink = Box<dyn FnMut(CapturedFrame) + Send + 'static>;

/// Why a sensor could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SensorError {
    /// The sensor is already running.
    #[error("sensor {0} is already started")]
    AlreadyStarted(String),
    /// The device is missing or refused to start.
    #[error("sensor unavailable: {0}")]
    Unavailable(String),
}

/// A depth source the server can stream.
pub trait Sensor: Send {
    /// A unique, stable id (the original uses 32 lowercase hex characters).
    fn id(&self) -> &str;

    /// `(width, height)` in pixels of every frame this sensor produces.
    fn shape(&self) -> (usize, usize);

    /// Starts capturing; every frame goes to `sink` until [`Sensor::stop`].
    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError>;

    /// Stops capturing and drops the sink. Returns once no more frames will be delivered.
    /// Stopping a stopped sensor does nothing.
    fn stop(&mut self);
}

/// Nanoseconds since the Unix epoch now, from the system clock (0 if the clock is before 1970).
pub fn unix_time_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        })
}
