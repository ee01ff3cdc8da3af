//! [`ReplaySensor`]: plays recorded `.u16` frames in a loop, as if a camera were filming them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sk2_proto::{shape_from_file_name, DepthFrame, FrameSink, Sensor, SensorError};

use crate::capture::{period_of, start_in, Capture};

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
}

/// A sensor that replays the `.u16` files of a directory, in name order, in a loop.
///
/// Each file is one frame of little-endian `u16` millimetres, row-major, named
/// `<anything>-<W>x<H>.u16` (the format of the project's depth corpus).
#[derive(Debug)]
pub struct ReplaySensor {
    id: String,
    frames: Arc<Vec<DepthFrame>>,
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
            .collect();
        paths.sort();
        let mut frames = Vec::with_capacity(paths.len());
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
            frames.push(DepthFrame::from_le_bytes(width, height, &raw).map_err(|_| bad_size())?);
        }
        if frames.is_empty() {
            return Err(ReplayError::Empty(dir.to_owned()));
        }
        Ok(Self {
            id: sk2_proto::id::random_hex_id(),
            frames: Arc::new(frames),
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

    fn stop(&mut self) {
        // Dropping the capture stops and joins its thread.
        self.capture.take();
    }
}
