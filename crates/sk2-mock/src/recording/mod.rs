//! [`RecordingSensor`]: plays one sensor of an MCAP recording (written by `kinect-record`) at its
//! recorded pace, keeping its sequence numbers, gaps and timestamps.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_proto::{FrameSink, Sensor, SensorError};
use sk2_record::{ChannelInfo, ChannelKind, ReadError, RecordingReader};

use crate::pacing::wait_until;
use crate::replay::ReplayError;

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

/// What the scan at open found about one sensor's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSensor {
    /// The channel.
    pub channel: Arc<ChannelInfo>,
    /// Frames in the channel.
    pub frames: u64,
    /// `(width, height)` of its first frame.
    pub shape: (usize, usize),
    /// Sequence numbers of the first and last frame.
    pub sequences: (u64, u64),
    /// Capture times of the first and last frame, ns since the Unix epoch.
    pub capture_times_ns: (u64, u64),
}

impl RecordedSensor {
    /// How much a loop adds to sequence numbers so they keep increasing: the recorded range,
    /// gaps included, plus one.
    pub fn sequence_span(&self) -> u64 {
        self.sequences.1.saturating_sub(self.sequences.0) + 1
    }

    /// How much a loop adds to capture times: the recorded duration plus one mean frame period,
    /// so the first frame of a pass follows the last of the previous one as it would live.
    pub fn duration_span_ns(&self) -> u64 {
        let duration = self
            .capture_times_ns
            .1
            .saturating_sub(self.capture_times_ns.0);
        let period = duration / self.frames.saturating_sub(1).max(1);
        duration + period.max(1)
    }
}

/// Plays one sensor of an MCAP recording.
///
/// Each frame is delivered with the sequence number, device timestamp and capture time it was
/// recorded with, at the recorded pace (capture time differences divided by the rate): a client
/// sees the gaps and timing that were recorded. In a loop, pass `k` adds `k` times
/// [`RecordedSensor::sequence_span`] to sequence numbers and [`RecordedSensor::duration_span_ns`]
/// to capture times, so both keep increasing. Frames are decoded from the file as they are played,
/// one ahead, so a recording of any length takes the memory of a few frames.
#[derive(Debug)]
pub struct RecordingSensor {
    id: String,
    path: PathBuf,
    recorded: RecordedSensor,
    playback: PlaybackConfig,
    truncated: bool,
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
        let recording_error = |source| ReplayError::Recording {
            path: path.to_owned(),
            source,
        };
        let mut reader = RecordingReader::open(path).map_err(recording_error)?;
        let mut sensors: Vec<RecordedSensor> = Vec::new();
        let mut truncated = false;
        for message in reader.by_ref() {
            let message = match message {
                Ok(message) => message,
                Err(error) if error.is_truncation() => {
                    truncated = true;
                    break;
                }
                Err(error) => return Err(recording_error(error)),
            };
            if !message.channel.kind.is_depth() {
                continue;
            }
            let (sequence, capture_time_ns, shape) = match message.channel.kind {
                ChannelKind::DepthV2 => {
                    let header = message.depth_v2_header().map_err(recording_error)?;
                    let shape = (header.width as usize, header.height as usize);
                    (header.sequence, header.capture_time_ns, shape)
                }
                _ => {
                    let frame = message.decode().map_err(recording_error)?;
                    let shape = (frame.depth.width(), frame.depth.height());
                    (frame.sequence, frame.capture_time_ns, shape)
                }
            };
            match sensors
                .iter_mut()
                .find(|sensor| sensor.channel.id == message.channel.id)
            {
                Some(sensor) => {
                    if shape != sensor.shape {
                        return Err(ReplayError::MixedShapes {
                            path: path.to_owned(),
                            found: shape,
                            expected: sensor.shape,
                        });
                    }
                    if sequence <= sensor.sequences.1 {
                        return Err(ReplayError::SequenceNotIncreasing {
                            path: path.to_owned(),
                            topic: sensor.channel.topic.clone(),
                            sequence,
                            after: sensor.sequences.1,
                        });
                    }
                    sensor.frames += 1;
                    sensor.sequences.1 = sequence;
                    sensor.capture_times_ns.1 = capture_time_ns.max(sensor.capture_times_ns.1);
                }
                None => sensors.push(RecordedSensor {
                    channel: Arc::clone(&message.channel),
                    frames: 1,
                    shape,
                    sequences: (sequence, sequence),
                    capture_times_ns: (capture_time_ns, capture_time_ns),
                }),
            }
        }
        if sensors.is_empty() {
            let topics = reader
                .channels()
                .iter()
                .map(|channel| channel.topic.clone())
                .collect();
            return Err(ReplayError::NoDepthChannel {
                path: path.to_owned(),
                topics,
            });
        }
        Ok(sensors
            .into_iter()
            .map(|recorded| Self {
                id: recorded
                    .channel
                    .device_id
                    .clone()
                    .unwrap_or_else(sk2_proto::id::random_hex_id),
                path: path.to_owned(),
                recorded,
                playback,
                truncated,
                player: None,
            })
            .collect())
    }

    /// What the scan found about this sensor's channel.
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
        if self.player.is_some() {
            return Err(SensorError::AlreadyStarted(self.id.clone()));
        }
        let name = format!("recording-{}", &self.id[..self.id.len().min(8)]);
        let player = Player::spawn(
            name,
            self.path.clone(),
            self.recorded.clone(),
            self.playback,
            sink,
        )
        .map_err(|error| {
            SensorError::Unavailable(format!("cannot start the replay thread: {error}"))
        })?;
        self.player = Some(player);
        Ok(())
    }

    fn stop(&mut self) {
        // Dropping the player stops and joins its thread.
        self.player.take();
    }
}

/// The thread that reads, paces and delivers frames. Dropping it stops it at once, even mid-wait.
#[derive(Debug)]
struct Player {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Player {
    fn spawn(
        name: String,
        path: PathBuf,
        recorded: RecordedSensor,
        playback: PlaybackConfig,
        mut sink: FrameSink,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            // Set when the first frame is ready: opening the file and decoding that frame must
            // not make every frame late.
            let mut start = None;
            for pass in 0u64.. {
                let passed = play_pass(
                    &path, &recorded, playback, pass, &mut start, &stopped, &mut sink,
                );
                if !passed || !playback.looping {
                    return;
                }
            }
        })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic in the sink has been reported by the panic hook already.
            let _ = thread.join();
        }
    }
}

/// Plays the channel once, as pass `pass` of a loop started at `start` (set at the first frame).
/// Returns `false` when it was stopped or the file cannot be read any more (the scan at open
/// read it, so it changed).
fn play_pass(
    path: &Path,
    recorded: &RecordedSensor,
    playback: PlaybackConfig,
    pass: u64,
    start: &mut Option<Instant>,
    stopped: &mpsc::Receiver<()>,
    sink: &mut FrameSink,
) -> bool {
    let Ok(reader) = RecordingReader::open(path) else {
        return false;
    };
    let time_offset_ns = pass.saturating_mul(recorded.duration_span_ns());
    let sequence_offset = pass.saturating_mul(recorded.sequence_span());
    for message in reader {
        let message = match message {
            Ok(message) => message,
            // The scan at open saw the same end: the pass is over.
            Err(ReadError::Truncated { .. }) => return true,
            Err(_) => return false,
        };
        if message.channel.id != recorded.channel.id {
            continue;
        }
        // Decoded before the wait, so decoding time does not shift the frame.
        let Ok(mut frame) = message.decode() else {
            continue;
        };
        let since_first_ns = frame
            .capture_time_ns
            .saturating_sub(recorded.capture_times_ns.0)
            .saturating_add(time_offset_ns);
        let start = *start.get_or_insert_with(Instant::now);
        let due = start + Duration::from_secs_f64(since_first_ns as f64 / 1e9 / playback.rate);
        if !wait_until(due, stopped) {
            return false;
        }
        frame.sequence = frame.sequence.saturating_add(sequence_offset);
        frame.capture_time_ns = frame.capture_time_ns.saturating_add(time_offset_ns);
        sink(frame);
    }
    true
}

#[cfg(test)]
mod tests;
