//! The contract between a depth source and the server.
//!
//! A [`Sensor`] is anything that produces depth frames: the mock, a replay of recorded frames, a
//! real Kinect v2 through libfreenect2. The server owns sensors through this trait and never knows
//! which kind it has. A sensor runs its own capture thread (or the driver's) and hands each frame
//! to a [`FrameSink`]; the sink must return at once, so a slow consumer can never stall the sensor.
//! (The server's sink tries a bounded channel and counts a drop when it is full.)
//!
//! Depth is the one stream every sensor has. A sensor may offer more ([`Sensor::streams`]):
//! infrared amplitudes and colour JPEGs. The server then starts it with [`Sensor::start_streams`]
//! and one sink per stream ([`StreamSinks`]); each sink feeds its own bounded queue, so a slow
//! colour path never delays depth. A sensor that only makes depth implements [`Sensor::start`]
//! and inherits the rest.

use crate::calibration::Calibration;
use crate::color::JpegImage;
use crate::frame::{DepthFrame, IrFrame};

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

/// One infrared amplitude frame as captured.
#[derive(Debug, Clone)]
pub struct CapturedIrFrame {
    /// The amplitude image; the same shape as the sensor's depth frames ([`Sensor::shape`]).
    pub ir: IrFrame,
    /// The `sequence` of the depth frame from the same exposure (a Kinect v2 measures both at
    /// once), so a client pairs IR and depth by it.
    pub sequence: u64,
    /// The device's own timestamp, as for depth.
    pub device_timestamp: u64,
    /// When the host received the frame, in nanoseconds since the Unix epoch.
    pub capture_time_ns: u64,
}

/// One colour frame as captured: a JPEG, either the device's own or encoded by the sensor.
#[derive(Debug, Clone)]
pub struct CapturedColorFrame {
    /// The JPEG file and its size.
    pub jpeg: JpegImage,
    /// Counts colour frames from 0, +1 per colour frame the sensor produced (independent of the
    /// depth sequence: colour has its own camera and rate).
    pub sequence: u64,
    /// The device's own timestamp of the colour frame, in the device's units.
    pub device_timestamp: u64,
    /// When the host received the frame, in nanoseconds since the Unix epoch.
    pub capture_time_ns: u64,
}

/// Where a sensor delivers frames. Must not block: it is called on the capture thread.
pub type FrameSink = Box<dyn FnMut(CapturedFrame) + Send + 'static>;
/// Where a sensor delivers infrared frames. Must not block.
pub type IrSink = Box<dyn FnMut(CapturedIrFrame) + Send + 'static>;
/// Where a sensor delivers colour frames. Must not block. It may be called from another thread
/// than the depth sink (a Kinect v2 delivers colour on its own thread).
pub type ColorSink = Box<dyn FnMut(CapturedColorFrame) + Send + 'static>;

/// The streams a sensor offers besides depth, which every sensor has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Streams {
    ir: bool,
    color: bool,
}

impl Streams {
    /// Depth only: what [`Sensor::streams`] says unless a sensor overrides it.
    pub const DEPTH_ONLY: Streams = Streams {
        ir: false,
        color: false,
    };
    /// Depth, infrared and colour: a whole Kinect v2.
    pub const ALL: Streams = Streams {
        ir: true,
        color: true,
    };

    /// These streams and infrared.
    pub const fn with_ir(self) -> Streams {
        Streams { ir: true, ..self }
    }

    /// These streams and colour.
    pub const fn with_color(self) -> Streams {
        Streams {
            color: true,
            ..self
        }
    }

    /// Whether infrared frames are offered.
    pub const fn ir(self) -> bool {
        self.ir
    }

    /// Whether colour frames are offered.
    pub const fn color(self) -> bool {
        self.color
    }
}

/// Whether anyone wants each extra stream right now: the server sets it from its subscribers and
/// hands a clone to the sensor ([`Sensor::set_demand`]). A sensor may skip the work of a stream
/// nobody wants (the mock skips drawing and JPEG-encoding colour); it must still deliver frames
/// as usual when wanted. Cheap to clone and to read (two shared atomic flags).
#[derive(Debug, Clone, Default)]
pub struct StreamDemand {
    ir: std::sync::Arc<std::sync::atomic::AtomicBool>,
    color: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StreamDemand {
    /// Whether infrared frames are wanted now.
    pub fn ir(&self) -> bool {
        self.ir.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether colour frames are wanted now.
    pub fn color(&self) -> bool {
        self.color.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Says whether infrared frames are wanted (seen by every clone).
    pub fn set_ir(&self, wanted: bool) {
        self.ir.store(wanted, std::sync::atomic::Ordering::Release);
    }

    /// Says whether colour frames are wanted (seen by every clone).
    pub fn set_color(&self, wanted: bool) {
        self.color
            .store(wanted, std::sync::atomic::Ordering::Release);
    }
}

/// One sink per stream, handed to [`Sensor::start_streams`]. `None` means nobody wants that
/// stream: the sensor should not spend time producing it (a mock skips its JPEG encoding).
pub struct StreamSinks {
    /// Depth frames; always wanted.
    pub depth: FrameSink,
    /// Infrared frames, if wanted and offered.
    pub ir: Option<IrSink>,
    /// Colour frames, if wanted and offered.
    pub color: Option<ColorSink>,
}

impl StreamSinks {
    /// Only depth.
    pub fn depth_only(depth: FrameSink) -> Self {
        Self {
            depth,
            ir: None,
            color: None,
        }
    }
}

impl std::fmt::Debug for StreamSinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSinks")
            .field("ir", &self.ir.is_some())
            .field("color", &self.color.is_some())
            .finish_non_exhaustive()
    }
}

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

    /// Starts capturing depth only; every frame goes to `sink` until [`Sensor::stop`].
    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError>;

    /// Stops capturing and drops the sinks. Returns once no more frames will be delivered on any
    /// stream. Stopping a stopped sensor does nothing.
    fn stop(&mut self);

    /// The streams this sensor can deliver besides depth. Depth only unless overridden.
    fn streams(&self) -> Streams {
        Streams::DEPTH_ONLY
    }

    /// Starts capturing every stream that has a sink: depth to `sinks.depth`, and infrared and
    /// colour to theirs when present. A sensor ignores sinks for streams it does not offer.
    ///
    /// The default starts depth only, through [`Sensor::start`]. A sensor that offers more
    /// overrides this, and usually implements `start` as
    /// `self.start_streams(StreamSinks::depth_only(sink))`.
    fn start_streams(&mut self, sinks: StreamSinks) -> Result<(), SensorError> {
        self.start(sinks.depth)
    }

    /// Tells the sensor where to see whether its extra streams are wanted; the server calls it
    /// before [`Sensor::start_streams`]. A sensor that never got one produces every stream it
    /// has a sink for. Ignored unless overridden.
    fn set_demand(&mut self, demand: StreamDemand) {
        let _ = demand;
    }

    /// The device's calibration, if it knows one (`None` unless overridden). Fixed while the
    /// sensor exists: the server reads it once, when the sensor is added.
    fn calibration(&self) -> Option<Calibration> {
        None
    }
}

/// Nanoseconds since the Unix epoch now, from the system clock (0 if the clock is before 1970).
pub fn unix_time_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        })
}
