//! The scan [`RecordingSensor::open_all`](super::RecordingSensor::open_all) makes before playing:
//! one [`RecordedSensor`] per depth channel, with the infrared and colour channels of the same
//! sensor and the calibration of the recorded `me`.

use std::path::Path;
use std::sync::Arc;

use sk2_proto::calibration::Calibration;
use sk2_proto::control::TYPE_ME;
use sk2_proto::{Me, Reply};
use sk2_record::{ChannelInfo, ChannelKind, ReadError, RecordedMessage, RecordingReader};

use crate::replay::ReplayError;

/// What the scan at open found about one sensor's channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSensor {
    /// The depth channel.
    pub channel: Arc<ChannelInfo>,
    /// Frames in the channel.
    pub frames: u64,
    /// `(width, height)` of its first frame.
    pub shape: (usize, usize),
    /// Sequence numbers of the first and last frame.
    pub sequences: (u64, u64),
    /// Capture times of the first and last frame, ns since the Unix epoch.
    pub capture_times_ns: (u64, u64),
    /// The same sensor's `ir_v2` channel, if it was recorded (its frames carry the sequence
    /// numbers of their depth frames).
    pub ir_channel: Option<Arc<ChannelInfo>>,
    /// The same sensor's `color` channel and the first and last colour sequence numbers, if it
    /// was recorded (colour frames are numbered on their own).
    pub color: Option<(Arc<ChannelInfo>, (u64, u64))>,
}

impl RecordedSensor {
    /// How much a loop adds to sequence numbers so they keep increasing: the recorded range,
    /// gaps included, plus one.
    pub fn sequence_span(&self) -> u64 {
        span(self.sequences)
    }

    /// [`RecordedSensor::sequence_span`] of the colour frames (0 without colour).
    pub fn color_sequence_span(&self) -> u64 {
        self.color
            .as_ref()
            .map_or(0, |(_, sequences)| span(*sequences))
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

fn span((first, last): (u64, u64)) -> u64 {
    last.saturating_sub(first) + 1
}

/// What the whole file holds: its sensors, whether it ends mid-record, and the recorded `me`.
pub(super) struct Scan {
    pub(super) sensors: Vec<RecordedSensor>,
    pub(super) truncated: bool,
    pub(super) me: Option<Me>,
}

/// Reads the recording at `path` once, front to back.
pub(super) fn scan(path: &Path) -> Result<Scan, ReplayError> {
    let recording_error = recording_error(path);
    let mut reader = RecordingReader::open(path).map_err(recording_error)?;
    let mut sensors: Vec<RecordedSensor> = Vec::new();
    let mut ir_channels: Vec<Arc<ChannelInfo>> = Vec::new();
    let mut color_channels: Vec<(Arc<ChannelInfo>, (u64, u64))> = Vec::new();
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
        let kind = &message.channel.kind;
        if kind.is_ir() {
            message.decode_ir().map_err(recording_error)?;
            if !ir_channels.iter().any(|c| c.id == message.channel.id) {
                ir_channels.push(Arc::clone(&message.channel));
            }
        } else if kind.is_color() {
            let sequence = message.decode_color().map_err(recording_error)?.sequence;
            match color_channels
                .iter_mut()
                .find(|(c, _)| c.id == message.channel.id)
            {
                Some((_, sequences)) => sequences.1 = sequences.1.max(sequence),
                None => color_channels.push((Arc::clone(&message.channel), (sequence, sequence))),
            }
        } else if kind.is_depth() {
            add_depth(path, &mut sensors, &message)?;
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
    // Infrared and colour join the depth channel of the same sensor; without a sensor id they
    // cannot be matched and are left out.
    for sensor in &mut sensors {
        let Some(id) = sensor.channel.device_id.as_deref() else {
            continue;
        };
        let same_sensor = |channel: &ChannelInfo| channel.device_id.as_deref() == Some(id);
        sensor.ir_channel = ir_channels.iter().find(|c| same_sensor(c)).cloned();
        sensor.color = color_channels.iter().find(|(c, _)| same_sensor(c)).cloned();
    }
    let me = reader.me().and_then(|me| {
        let frames = [vec![TYPE_ME], me.me_json.clone().into_bytes()];
        match Reply::decode(&frames) {
            Ok(Reply::Me(me)) => Some(me),
            _ => None,
        }
    });
    Ok(Scan {
        sensors,
        truncated,
        me,
    })
}

/// Counts a depth message into its sensor's [`RecordedSensor`], checking that the channel keeps
/// one shape and increasing sequence numbers.
fn add_depth(
    path: &Path,
    sensors: &mut Vec<RecordedSensor>,
    message: &RecordedMessage,
) -> Result<(), ReplayError> {
    let recording_error = recording_error(path);
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
    let Some(sensor) = sensors
        .iter_mut()
        .find(|sensor| sensor.channel.id == message.channel.id)
    else {
        sensors.push(RecordedSensor {
            channel: Arc::clone(&message.channel),
            frames: 1,
            shape,
            sequences: (sequence, sequence),
            capture_times_ns: (capture_time_ns, capture_time_ns),
            ir_channel: None,
            color: None,
        });
        return Ok(());
    };
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
    Ok(())
}

/// Wraps a reader's error with the path of the recording.
fn recording_error(path: &Path) -> impl Fn(ReadError) -> ReplayError + Copy + '_ {
    move |source| ReplayError::Recording {
        path: path.to_owned(),
        source,
    }
}

/// The calibration the recorded `me` gave sensor `id`.
pub(super) fn calibration_of(me: Option<&Me>, id: &str) -> Option<Calibration> {
    me?.calibration(id).copied()
}
