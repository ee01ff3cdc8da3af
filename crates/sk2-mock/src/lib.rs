//! Simulated depth sensors for streamkinect2: no hardware needed for tests, demos and benchmarks.
//!
//! * [`MockKinect`]: the original's mock picture (a wall and a sphere that swings left and right,
//!   the nearer of the two per pixel, as the original draws it) in [`MockMode::Plain`], or, in
//!   [`MockMode::Realistic`], a room with sensor-like noise that grows with distance, holes of `0`
//!   and far values up to 8000 mm, so codecs and the lossy 12-bit path are exercised honestly.
//! * [`ReplaySensor`]: plays a directory of recorded `.u16` frames in a loop, with the infrared
//!   (`.ir.u16`) and colour (`.jpg`) frames beside them when there are.
//! * [`RecordingSensor`]: plays a sensor of an MCAP recording made by `kinect-record`, at its
//!   recorded pace (or faster, or in a loop), with its recorded sequence numbers and gaps, and
//!   its recorded infrared, colour and calibration when the recording has them.
//!
//! Both implement [`sk2_proto::Sensor`]: each runs one capture thread that produces frames at a
//! chosen rate (or as fast as it can) and hands them to the sink. The sink is called on that thread
//! and must return at once; the sensor never waits for a consumer.
//!
//! The mock offers all three streams of a Kinect v2 and its typical calibration: infrared
//! amplitudes lit by the sensor's own light, and a 1920 x 1080 colour picture of the same scene
//! under a room lamp, JPEG-encoded once per frame on its own thread (so colour never delays
//! depth). Both follow the depth scene: the same sphere or ball, wall, floor and doorway.
//!
//! Mock frames are pure functions of `(config, sequence)`: [`MockKinect::frame`] gives the exact
//! frame a running mock delivers with that sequence number, so tests can check every pixel.
//!
//! ```
//! use sk2_mock::{MockConfig, MockKinect};
//! use sk2_proto::Sensor;
//!
//! let mock = MockKinect::new(MockConfig::default());
//! assert_eq!(mock.id().len(), 32);
//! let first = mock.frame(0);
//! assert_eq!((first.width(), first.height()), (512, 424));
//! ```

mod appearance;
mod capture;
mod companions;
mod config;
mod mock;
mod pacing;
mod recording;
mod replay;
mod scene;

pub use config::{MockConfig, MockMode, ParseMockModeError, DEFAULT_FPS, DEFAULT_JPEG_QUALITY};
pub use mock::MockKinect;
pub use recording::{PlaybackConfig, RecordedSensor, RecordingSensor};
pub use replay::{ReplayError, ReplaySensor, COLOR_FILE_SUFFIX, IR_FILE_SUFFIX, MAX_REPLAY_BYTES};
