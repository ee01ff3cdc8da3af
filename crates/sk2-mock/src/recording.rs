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
mod tests {
    use super::*;
    use crate::{MockConfig, MockKinect};
    use sk2_proto::depth_v2::{self, Codec};
    use sk2_proto::CapturedFrame;
    use sk2_record::{RecordFormat, RecordingWriter};

    const FIRST_CAPTURE_NS: u64 = 1_700_000_000_000_000_000;
    const PERIOD_NS: u64 = 33_333_333;

    /// A temporary file removed on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(name: &str) -> Self {
            let unique = format!("sk2-mock-{}-{name}.mcap", std::process::id());
            Self(std::env::temp_dir().join(unique))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn recorded_frame(mock: &MockKinect, sequence: u64) -> CapturedFrame {
        CapturedFrame {
            depth: mock.frame(sequence),
            sequence,
            device_timestamp: sequence * 8,
            capture_time_ns: FIRST_CAPTURE_NS + sequence * PERIOD_NS,
        }
    }

    /// Records the mock's frames with these sequence numbers (gaps are drops), ending a chunk
    /// every 5 frames as a recorder does every second.
    fn record(path: &Path, sequences: &[u64]) -> MockKinect {
        let mock = MockKinect::new(MockConfig::default());
        let file = std::fs::File::create(path).unwrap();
        let mut writer = RecordingWriter::new(file, RecordFormat::DepthV2).unwrap();
        let channel = writer.add_sensor("test", "recorded-sensor").unwrap();
        for &sequence in sequences {
            let message = depth_v2::encode(&recorded_frame(&mock, sequence), Codec::MedHuf);
            writer.write_depth_v2(channel, &message, 0).unwrap();
            if sequence % 5 == 4 {
                writer.flush().unwrap();
            }
        }
        writer.finish().unwrap();
        mock
    }

    fn play(sensor: &mut RecordingSensor, frames: usize) -> Vec<CapturedFrame> {
        let (sender, receiver) = mpsc::channel();
        sensor
            .start(Box::new(move |frame| {
                let _ = sender.send(frame);
            }))
            .unwrap();
        let played = receiver.iter().take(frames).collect::<Vec<_>>();
        sensor.stop();
        played
    }

    #[test]
    fn a_recording_plays_with_its_sequence_numbers_gaps_and_times() {
        let path = TempPath::new("gaps");
        let sequences = [10, 11, 12, 15, 16];
        let mock = record(&path.0, &sequences);
        let playback = PlaybackConfig {
            rate: 8.0,
            looping: false,
        };
        let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
        assert_eq!(sensors.len(), 1);
        let sensor = &mut sensors[0];
        assert_eq!(sensor.id(), "recorded-sensor");
        assert_eq!(sensor.shape(), (512, 424));
        assert_eq!(sensor.recorded().sequences, (10, 16));
        assert!(!sensor.truncated());
        let played = play(sensor, sequences.len());
        for (frame, &sequence) in played.iter().zip(&sequences) {
            let recorded = recorded_frame(&mock, sequence);
            assert_eq!(frame.sequence, sequence);
            assert_eq!(frame.capture_time_ns, recorded.capture_time_ns);
            assert_eq!(frame.device_timestamp, recorded.device_timestamp);
            assert_eq!(frame.depth, recorded.depth);
        }
    }

    #[test]
    fn a_loop_keeps_sequence_numbers_and_times_increasing() {
        let path = TempPath::new("loop");
        let mock = record(&path.0, &[10, 11, 12, 15, 16]);
        let playback = PlaybackConfig {
            rate: 16.0,
            looping: true,
        };
        let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
        let played = play(&mut sensors[0], 12);
        let sequences: Vec<u64> = played.iter().map(|frame| frame.sequence).collect();
        // The span is 16 - 10 + 1 = 7: the second pass starts at 17, the third at 24.
        assert_eq!(sequences, [10, 11, 12, 15, 16, 17, 18, 19, 22, 23, 24, 25]);
        assert!(played
            .windows(2)
            .all(|pair| pair[0].capture_time_ns < pair[1].capture_time_ns));
        assert_eq!(played[5].depth, mock.frame(10));
        // One mean period after the last frame of the first pass (6 periods over 4 intervals).
        let span = sensors[0].recorded().duration_span_ns();
        assert_eq!(span, 6 * PERIOD_NS + 6 * PERIOD_NS / 4);
        assert_eq!(played[5].capture_time_ns, played[0].capture_time_ns + span);
    }

    #[test]
    fn files_that_cannot_be_played_say_why() {
        let path = TempPath::new("foreign");
        std::fs::write(&path.0, b"not a recording").unwrap();
        let error = RecordingSensor::open_all(&path.0, PlaybackConfig::default()).unwrap_err();
        assert!(error.to_string().contains("not an MCAP file"), "{error}");

        let empty = TempPath::new("empty");
        let writer = RecordingWriter::new(
            std::fs::File::create(&empty.0).unwrap(),
            RecordFormat::DepthV2,
        )
        .unwrap();
        writer.finish().unwrap();
        let error = RecordingSensor::open_all(&empty.0, PlaybackConfig::default()).unwrap_err();
        assert!(
            matches!(error, ReplayError::NoDepthChannel { .. }),
            "{error}"
        );

        let bad_rate = PlaybackConfig {
            rate: 0.0,
            looping: false,
        };
        let error = RecordingSensor::open_all(&empty.0, bad_rate).unwrap_err();
        assert!(matches!(error, ReplayError::BadRate(_)));
    }

    #[test]
    fn a_truncated_recording_plays_its_complete_frames() {
        let path = TempPath::new("cut");
        let mock = record(&path.0, &(0..30).collect::<Vec<_>>());
        let bytes = std::fs::read(&path.0).unwrap();
        // Cut in the middle of the file: some chunks complete, the rest lost.
        std::fs::write(&path.0, &bytes[..bytes.len() / 2]).unwrap();
        let playback = PlaybackConfig {
            rate: 16.0,
            looping: false,
        };
        let mut sensors = RecordingSensor::open_all(&path.0, playback).unwrap();
        assert!(sensors[0].truncated());
        let frames = sensors[0].recorded().frames as usize;
        assert!((5..30).contains(&frames), "{frames} frames survive");
        let played = play(&mut sensors[0], frames);
        assert_eq!(played.last().unwrap().depth, mock.frame(frames as u64 - 1));
    }
}
