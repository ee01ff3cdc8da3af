//! [`RecordingSensor`]: plays one sensor of an MCAP recording (written by `kinect-record`) at its
//! recorded pace, keeping its sequence numbers, gaps and timestamps, with its infrared, colour and
//! calibration when they were recorded.

mod player;
mod scan;

use std::path::{Path, PathBuf};

use sk2_proto::calibration::Calibration;
use sk2_proto::sensor::{StreamDemand, StreamSinks, Streams};
use sk2_proto::{FrameSink, Sensor, SensorError};

use crate::replay::ReplayError;
use player::{Player, Playing};
pub use scan::RecordedSensor;

/// How a recording is played.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaybackConfig {
    /// Speed against the recorded pace: 2.0 plays twice as fast. Must be positive and finite.
    pub rate: f64,
    /// Start again from the first frame after the last one, forever.
    pub looping: bool,
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self {
            rate: 1.0,
            looping: false,
        }
    }
}

/// Plays one sensor of an MCAP recording.
///
/// Each frame is delivered with the sequence number, device timestamp and capture time it was
/// recorded with, at the recorded pace (capture time differences divided by the rate): a client
/// sees the gaps and timing that were recorded. In a loop, pass `k` adds `k` times
/// [`RecordedSensor::sequence_span`] to sequence numbers (the colour span to colour frames) and
/// [`RecordedSensor::duration_span_ns`] to capture times, so both keep increasing. Infrared and
/// colour play beside depth when the recording holds them for this sensor, and the calibration
/// is the one the recorded `me` gave it. Frames are decoded from the file as they are played, one
/// ahead, so a recording of any length takes the memory of a few frames.
#[derive(Debug)]
pub struct RecordingSensor {
    id: String,
    path: PathBuf,
    recorded: RecordedSensor,
    playback: PlaybackConfig,
    truncated: bool,
    calibration: Option<Calibration>,
    demand: Option<StreamDemand>,
    player: Option<Player>,
}

impl RecordingSensor {
    /// Scans the recording at `path` and returns a sensor for each recorded depth channel
    /// (`depth_v2` or `foxglove.RawImage`), in channel order. The id of each is the recorded
    /// sensor id (a random one if the channel has none).
    ///
    /// A file that ends mid-record (its recorder was killed) is played up to its last complete
    /// frame; [`RecordingSensor::truncated`] says so. Any other damage is an error.
    pub fn open_all(
        path: impl AsRef<Path>,
        playback: PlaybackConfig,
    ) -> Result<Vec<Self>, ReplayError> {
        let path = path.as_ref();
        if !(playback.rate.is_finite() && playback.rate > 0.0) {
            return Err(ReplayError::BadRate(playback.rate));
        }
        let scan = scan::scan(path)?;
        Ok(scan
            .sensors
            .into_iter()
            .map(|recorded| {
                let id = recorded
                    .channel
                    .device_id
                    .clone()
                    .unwrap_or_else(sk2_proto::id::random_hex_id);
                Self {
                    calibration: scan::calibration_of(scan.me.as_ref(), &id),
                    id,
                    path: path.to_owned(),
                    recorded,
                    playback,
                    truncated: scan.truncated,
                    demand: None,
                    player: None,
                }
            })
            .collect())
    }

    /// What the scan found about this sensor's channels.
    pub fn recorded(&self) -> &RecordedSensor {
        &self.recorded
    }

    /// Whether the file ends mid-record (not closed by its recorder): it plays up to its last
    /// complete frame.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl Sensor for RecordingSensor {
    fn id(&self) -> &str {
        &self.id
    }

    fn shape(&self) -> (usize, usize) {
        self.recorded.shape
    }

    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError> {
        self.start_streams(StreamSinks::depth_only(sink))
    }

    fn stop(&mut self) {
        // Dropping the player stops and joins its thread.
        self.player.take();
    }

    fn streams(&self) -> Streams {
        Streams::new(
            self.recorded.ir_channel.is_some(),
            self.recorded.color.is_some(),
        )
    }

    fn start_streams(&mut self, sinks: StreamSinks) -> Result<(), SensorError> {
        if self.player.is_some() {
            return Err(SensorError::AlreadyStarted(self.id.clone()));
        }
        let name = format!("recording-{}", &self.id[..self.id.len().min(8)]);
        let playing = Playing {
            path: self.path.clone(),
            recorded: self.recorded.clone(),
            playback: self.playback,
            sinks,
            demand: self.demand.clone(),
        };
        let player = Player::spawn(name, playing).map_err(|error| {
            SensorError::Unavailable(format!("cannot start the replay thread: {error}"))
        })?;
        self.player = Some(player);
        Ok(())
    }

    fn set_demand(&mut self, demand: StreamDemand) {
        self.demand = Some(demand);
    }

    fn calibration(&self) -> Option<Calibration> {
        self.calibration
    }
}

#[cfg(test)]
mod tests;
