//! [`ReplaySensor`]: plays recorded `.u16` frames in a loop, as if a camera were filming them.
//! [`ReplayError`] is also the error of [`crate::RecordingSensor`] (MCAP recordings).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sk2_proto::{
    shape_from_file_name, DepthFrame, FrameSink, IrFrame, JpegImage, Sensor, SensorError,
    StreamSinks, Streams,
};

use crate::capture::{period_of, start_in, Capture};
use crate::companions::{with_color, with_ir};

/// Ending of an infrared file beside a depth file: `x-512x424.u16` has `x-512x424.ir.u16`.
pub const IR_FILE_SUFFIX: &str = ".ir.u16";
/// Ending of a colour file beside a depth file: `x-512x424.u16` has `x-512x424.jpg`.
pub const COLOR_FILE_SUFFIX: &str = ".jpg";

/// Most bytes of frames a replay loads into memory: 1 GiB is about 2 500 Kinect v2 frames,
/// 80 s at 30 fps; more would be a recording better streamed from disk than held in memory.
pub const MAX_REPLAY_BYTES: u64 = 1 << 30;

/// Why a directory cannot be replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The directory or a file in it could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory has no `.u16` file.
    #[error("no .u16 files in {0}")]
    Empty(PathBuf),
    /// A file's name does not end in `-<W>x<H>.u16`, so its shape is unknown.
    #[error("{0}: name must end in -<W>x<H>.u16 to give the frame shape")]
    NoShape(PathBuf),
    /// A file's size is not `W * H * 2` bytes, or the shape is not a valid frame.
    #[error("{path}: {bytes} bytes do not make one {width}x{height} frame of u16")]
    BadSize {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// Width from its name.
        width: usize,
        /// Height from its name.
        height: usize,
    },
    /// Files of different shapes: a sensor has one shape.
    #[error("{path} is {found:?} but the first file is {expected:?}; a replay needs one shape")]
    MixedShapes {
        /// The odd file.
        path: PathBuf,
        /// Its (width, height).
        found: (usize, usize),
        /// The shape of the first file.
        expected: (usize, usize),
    },
    /// The files together exceed [`MAX_REPLAY_BYTES`].
    #[error("the frames in {0} exceed the replay limit of {MAX_REPLAY_BYTES} bytes")]
    TooLarge(PathBuf),
    /// An MCAP recording cannot be read (the cause says what and where).
    #[error("{path}: {source}")]
    Recording {
        /// The recording.
        path: PathBuf,
        /// What is wrong.
        source: sk2_record::ReadError,
    },
    /// An MCAP file has no channel of depth frames (`depth_v2` or `foxglove.RawImage`).
    #[error("{path} has no depth_v2 or RawImage channel (channels: {topics:?})")]
    NoDepthChannel {
        /// The file.
        path: PathBuf,
        /// The topics it has.
        topics: Vec<String>,
    },
    /// A channel's sequence numbers go backwards or repeat: replay could not keep them.
    #[error(
        "{path}: on {topic}, sequence {sequence} follows {after}; a recording's must increase"
    )]
    SequenceNotIncreasing {
        /// The file.
        path: PathBuf,
        /// The channel.
        topic: String,
        /// The offending sequence number.
        sequence: u64,
        /// The one before it.
        after: u64,
    },
    /// The playback rate is not a positive number.
    #[error("playback rate {0} must be a positive number")]
    BadRate(f64),
    /// Some depth frames have an infrared (or colour) file beside them and others do not: a
    /// sensor offers a stream for every frame or not at all.
    #[error("{path}: some depth frames have a {suffix} file beside them and some do not")]
    MissingCompanion {
        /// The first depth file where the difference showed.
        path: PathBuf,
        /// The missing file's ending.
        suffix: &'static str,
    },
    /// A colour file is not a JPEG whose size can be read.
    #[error("{path}: {source}")]
    BadJpeg {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: sk2_proto::color::JpegError,
    },
}

/// A sensor that replays the `.u16` files of a directory, in name order, in a loop.
///
/// Each file is one frame of little-endian `u16` millimetres, row-major, named
/// `<anything>-<W>x<H>.u16` (the format of the project's depth corpus). Beside a depth file
/// `<stem>.u16` may lie its infrared frame `<stem>.ir.u16` (amplitudes, same layout and shape)
/// and its colour frame `<stem>.jpg` (any JPEG); when every depth frame has one, the replay
/// offers that stream, with the depth frame's sequence number and timestamps.
#[derive(Debug)]
pub struct ReplaySensor {
    id: String,
    frames: Arc<Vec<DepthFrame>>,
    /// One per depth frame, or none.
    ir: Arc<Vec<IrFrame>>,
    /// One per depth frame, or none.
    color: Arc<Vec<JpegImage>>,
    fps: Option<f64>,
    capture: Option<Capture>,
}

impl ReplaySensor {
    /// Loads every `.u16` frame of `dir`; plays them at `fps` (`None`: as fast as possible).
    /// All files must have the same shape.
    pub fn open(dir: impl AsRef<Path>, fps: Option<f64>) -> Result<Self, ReplayError> {
        Self::open_shape(dir, fps, None)
    }

    /// Like [`ReplaySensor::open`], keeping only the files named with the given
    /// `(width, height)` when there is one (a corpus often mixes sensors).
    pub fn open_shape(
        dir: impl AsRef<Path>,
        fps: Option<f64>,
        shape: Option<(usize, usize)>,
    ) -> Result<Self, ReplayError> {
        let dir = dir.as_ref();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ReplayError::Io { path, source }
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "u16") && path.is_file())
            .filter(|path| !path.to_string_lossy().ends_with(IR_FILE_SUFFIX))
            .collect();
        paths.sort();
        let mut frames = Vec::with_capacity(paths.len());
        let mut ir = Vec::new();
        let mut color = Vec::new();
        let mut total = 0u64;
        let mut expected = None;
        for path in paths {
            let (width, height) = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(shape_from_file_name)
                .ok_or_else(|| ReplayError::NoShape(path.clone()))?;
            if shape.is_some_and(|wanted| wanted != (width, height)) {
                continue;
            }
            let bytes = std::fs::metadata(&path).map_err(io(&path))?.len();
            let bad_size = || ReplayError::BadSize {
                path: path.clone(),
                bytes,
                width,
                height,
            };
            let wanted = width
                .checked_mul(height)
                .and_then(|pixels| pixels.checked_mul(2))
                .ok_or_else(bad_size)?;
            if bytes != wanted as u64 {
                return Err(bad_size());
            }
            if *expected.get_or_insert((width, height)) != (width, height) {
                return Err(ReplayError::MixedShapes {
                    path,
                    found: (width, height),
                    expected: expected.unwrap_or_default(),
                });
            }
            total += bytes;
            if total > MAX_REPLAY_BYTES {
                return Err(ReplayError::TooLarge(dir.to_owned()));
            }
            let raw = std::fs::read(&path).map_err(io(&path))?;
            let index = frames.len();
            frames.push(DepthFrame::from_le_bytes(width, height, &raw).map_err(|_| bad_size())?);
            let ir_path = companion(&path, IR_FILE_SUFFIX);
            if let Some(raw) = read_companion(&ir_path, index, ir.len(), &path, IR_FILE_SUFFIX)? {
                total += raw.len() as u64;
                let bad_size = || ReplayError::BadSize {
                    path: ir_path.clone(),
                    bytes: raw.len() as u64,
                    width,
                    height,
                };
                ir.push(IrFrame::from_le_bytes(width, height, &raw).map_err(|_| bad_size())?);
            }
            let color_path = companion(&path, COLOR_FILE_SUFFIX);
            let jpeg = read_companion(&color_path, index, color.len(), &path, COLOR_FILE_SUFFIX)?;
            if let Some(jpeg) = jpeg {
                total += jpeg.len() as u64;
                let jpeg = JpegImage::new(jpeg).map_err(|source| ReplayError::BadJpeg {
                    path: color_path,
                    source,
                })?;
                color.push(jpeg);
            }
            if total > MAX_REPLAY_BYTES {
                return Err(ReplayError::TooLarge(dir.to_owned()));
            }
        }
        if frames.is_empty() {
            return Err(ReplayError::Empty(dir.to_owned()));
        }
        Ok(Self {
            id: sk2_proto::id::random_hex_id(),
            frames: Arc::new(frames),
            ir: Arc::new(ir),
            color: Arc::new(color),
            fps,
            capture: None,
        })
    }

    /// How many distinct frames the loop has.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Always `false`: [`ReplaySensor::open`] refuses an empty directory.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The frame delivered with the given sequence number.
    pub fn frame(&self, sequence: u64) -> &DepthFrame {
        &self.frames[(sequence % self.frames.len() as u64) as usize]
    }
}

impl Sensor for ReplaySensor {
    fn id(&self) -> &str {
        &self.id
    }

    fn shape(&self) -> (usize, usize) {
        (self.frames[0].width(), self.frames[0].height())
    }

    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError> {
        self.start_streams(StreamSinks::depth_only(sink))
    }

    fn stop(&mut self) {
        // Dropping the capture stops and joins its thread.
        self.capture.take();
    }

    fn streams(&self) -> Streams {
        Streams::new(!self.ir.is_empty(), !self.color.is_empty())
    }

    /// One capture thread: each depth frame, then its IR and colour frames (already in memory:
    /// a copy each, no encoding).
    fn start_streams(&mut self, sinks: StreamSinks) -> Result<(), SensorError> {
        let mut sink = sinks.depth;
        if let (Some(ir_sink), false) = (sinks.ir, self.ir.is_empty()) {
            let ir = Arc::clone(&self.ir);
            sink = with_ir(sink, ir_sink, move |sequence| {
                ir[(sequence % ir.len() as u64) as usize].clone()
            });
        }
        if let (Some(color_sink), false) = (sinks.color, self.color.is_empty()) {
            let color = Arc::clone(&self.color);
            sink = with_color(sink, color_sink, move |sequence| {
                color[(sequence % color.len() as u64) as usize].clone()
            });
        }
        let frames = Arc::clone(&self.frames);
        let period = period_of(self.fps);
        start_in(
            &mut self.capture,
            "replay",
            &self.id,
            period,
            sink,
            move |sequence| frames[(sequence % frames.len() as u64) as usize].clone(),
        )
    }
}

/// `<stem><suffix>` beside the depth file `<stem>.u16`.
fn companion(depth_path: &Path, suffix: &str) -> PathBuf {
    let name = depth_path.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.strip_suffix(".u16").unwrap_or(&name);
    depth_path.with_file_name(format!("{stem}{suffix}"))
}

/// The bytes of a companion file, or `None` when it does not exist. `index` is the depth
/// frame's position and `found` the companions read so far: a missing file after found ones,
/// or a found one after missing ones, is [`ReplayError::MissingCompanion`].
fn read_companion(
    path: &Path,
    index: usize,
    found: usize,
    depth_path: &Path,
    suffix: &'static str,
) -> Result<Option<Vec<u8>>, ReplayError> {
    let missing = || ReplayError::MissingCompanion {
        path: depth_path.to_owned(),
        suffix,
    };
    if !path.is_file() {
        return if found > 0 { Err(missing()) } else { Ok(None) };
    }
    if found != index {
        return Err(missing());
    }
    let bytes = std::fs::metadata(path)
        .map(|meta| meta.len())
        .map_err(|source| ReplayError::Io {
            path: path.to_owned(),
            source,
        })?;
    if bytes > MAX_REPLAY_BYTES {
        return Err(ReplayError::TooLarge(path.to_owned()));
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|source| ReplayError::Io {
            path: path.to_owned(),
            source,
        })
}
