//! The thread that plays a recorded sensor: reads its channels in file order, waits for each
//! frame's recorded time, and hands it to the sink of its stream.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_proto::sensor::{CapturedColorFrame, CapturedIrFrame, StreamDemand, StreamSinks};
use sk2_record::{ReadError, RecordedMessage, RecordingReader};

use super::scan::RecordedSensor;
use super::PlaybackConfig;
use crate::pacing::wait_until;

/// The playing thread. Dropping it stops it at once, even mid-wait.
#[derive(Debug)]
pub(super) struct Player {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What a pass needs besides the file: the sensor, how to play, who wants what.
pub(super) struct Playing {
    pub(super) path: PathBuf,
    pub(super) recorded: RecordedSensor,
    pub(super) playback: PlaybackConfig,
    pub(super) sinks: StreamSinks,
    /// `None`: every stream with a sink is wanted.
    pub(super) demand: Option<StreamDemand>,
}

impl Player {
    pub(super) fn spawn(name: String, mut playing: Playing) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            // Set when the first frame is ready: opening the file and decoding that frame must
            // not make every frame late.
            let mut start = None;
            for pass in 0u64.. {
                let passed = playing.play_pass(pass, &mut start, &stopped);
                if !passed || !playing.playback.looping {
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
            // A panic in a sink has been reported by the panic hook already.
            let _ = thread.join();
        }
    }
}

/// One recorded frame of any stream, decoded and ready for its sink.
enum Frame {
    Depth(sk2_proto::CapturedFrame),
    Ir(CapturedIrFrame),
    Color(CapturedColorFrame),
}

impl Frame {
    fn capture_time_ns(&self) -> u64 {
        match self {
            Frame::Depth(frame) => frame.capture_time_ns,
            Frame::Ir(frame) => frame.capture_time_ns,
            Frame::Color(frame) => frame.capture_time_ns,
        }
    }
}

impl Playing {
    /// Plays the file once, as pass `pass` of a loop started at `start` (set at the first
    /// frame). Returns `false` when it was stopped or the file cannot be read any more (the scan
    /// at open read it, so it changed).
    fn play_pass(
        &mut self,
        pass: u64,
        start: &mut Option<Instant>,
        stopped: &mpsc::Receiver<()>,
    ) -> bool {
        let Ok(reader) = RecordingReader::open(&self.path) else {
            return false;
        };
        let time_offset_ns = pass.saturating_mul(self.recorded.duration_span_ns());
        for message in reader {
            let message = match message {
                Ok(message) => message,
                // The scan at open saw the same end: the pass is over.
                Err(ReadError::Truncated { .. }) => return true,
                Err(_) => return false,
            };
            // Decoded before the wait, so decoding time does not shift the frame.
            let Some(frame) = self.frame_of(&message, pass) else {
                continue;
            };
            // Colour frames taken before the first depth frame are due at once.
            let since_first_ns = frame
                .capture_time_ns()
                .saturating_sub(self.recorded.capture_times_ns.0)
                .saturating_add(time_offset_ns);
            let start = *start.get_or_insert_with(Instant::now);
            let due =
                start + Duration::from_secs_f64(since_first_ns as f64 / 1e9 / self.playback.rate);
            if !wait_until(due, stopped) {
                return false;
            }
            self.deliver(frame, time_offset_ns);
        }
        true
    }

    /// The frame `message` holds if it belongs to this sensor and its stream is wanted, with the
    /// sequence number it has in pass `pass`; `None` otherwise, or if it does not decode.
    fn frame_of(&self, message: &RecordedMessage, pass: u64) -> Option<Frame> {
        let channel = message.channel.id;
        let wanted = |stream: fn(&StreamDemand) -> bool| self.demand.as_ref().map_or(true, stream);
        if channel == self.recorded.channel.id {
            let mut frame = message.decode().ok()?;
            frame.sequence += pass.saturating_mul(self.recorded.sequence_span());
            return Some(Frame::Depth(frame));
        }
        let is_ir = self.recorded.ir_channel.as_ref().map(|c| c.id) == Some(channel);
        if is_ir && self.sinks.ir.is_some() && wanted(StreamDemand::ir) {
            let mut frame = message.decode_ir().ok()?;
            frame.sequence += pass.saturating_mul(self.recorded.sequence_span());
            return Some(Frame::Ir(frame));
        }
        let is_color = self.recorded.color.as_ref().map(|(c, _)| c.id) == Some(channel);
        if is_color && self.sinks.color.is_some() && wanted(StreamDemand::color) {
            let mut frame = message.decode_color().ok()?;
            frame.sequence += pass.saturating_mul(self.recorded.color_sequence_span());
            return Some(Frame::Color(frame));
        }
        None
    }

    /// Hands `frame` to its sink, its capture time moved by the loop's `time_offset_ns`.
    fn deliver(&mut self, frame: Frame, time_offset_ns: u64) {
        let later = |time: u64| time.saturating_add(time_offset_ns);
        match frame {
            Frame::Depth(mut frame) => {
                frame.capture_time_ns = later(frame.capture_time_ns);
                (self.sinks.depth)(frame);
            }
            Frame::Ir(mut frame) => {
                frame.capture_time_ns = later(frame.capture_time_ns);
                if let Some(sink) = &mut self.sinks.ir {
                    sink(frame);
                }
            }
            Frame::Color(mut frame) => {
                frame.capture_time_ns = later(frame.capture_time_ns);
                if let Some(sink) = &mut self.sinks.color {
                    sink(frame);
                }
            }
        }
    }
}
