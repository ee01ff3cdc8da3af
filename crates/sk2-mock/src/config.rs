//! How a [`MockKinect`](crate::MockKinect) behaves: [`MockConfig`], the picture it draws
//! ([`MockMode`]) and their defaults.

/// The mock's default frame rate: the Kinect v2 depth camera runs at 30 fps.
pub const DEFAULT_FPS: f64 = 30.0;

/// Which picture the mock draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MockMode {
    /// The original's picture: smooth, noise-free, every value within 500..=832 mm at 512 x 424.
    #[default]
    Plain,
    /// A room with a swinging ball, noise growing with distance, holes of `0`, and a far doorway
    /// up to `REALISTIC_MAX_DEPTH_MM` (8000 mm): values at and above 4096 mm, which the sk2
    /// format loses.
    Realistic,
}

/// A `--mock-mode` value that is neither `plain` nor `realistic`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mock mode {0:?}: expected plain or realistic")]
pub struct ParseMockModeError(String);

impl std::str::FromStr for MockMode {
    type Err = ParseMockModeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "plain" => Ok(MockMode::Plain),
            "realistic" => Ok(MockMode::Realistic),
            other => Err(ParseMockModeError(other.to_owned())),
        }
    }
}

impl std::fmt::Display for MockMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MockMode::Plain => "plain",
            MockMode::Realistic => "realistic",
        })
    }
}

/// How a [`MockKinect`](crate::MockKinect) behaves. Start from [`MockConfig::default`] and change what differs
/// with the `with_*` methods (the fields are public too).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MockConfig {
    /// Frame width in pixels (Kinect v2: 512). Even, for the sk2 format.
    pub width: usize,
    /// Frame height in pixels (Kinect v2: 424).
    pub height: usize,
    /// Frames per second; `None` produces frames as fast as possible (for benchmarks). A rate that
    /// is not a positive finite number also means unthrottled.
    pub fps: Option<f64>,
    /// Which picture.
    pub mode: MockMode,
    /// Seed of the realistic mode's noise and holes: the same seed gives the same frames.
    pub seed: u64,
    /// Colour image width in pixels (Kinect v2: 1920).
    pub color_width: usize,
    /// Colour image height in pixels (Kinect v2: 1080).
    pub color_height: usize,
    /// JPEG quality of colour frames, 1..=100.
    pub jpeg_quality: u8,
}

/// Default JPEG quality of the mock's colour frames: visually clean, about 0.2 MB per 1080p
/// frame of the mock's smooth scene.
pub const DEFAULT_JPEG_QUALITY: u8 = 85;

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            width: sk2_proto::KINECT_V2_WIDTH_PX,
            height: sk2_proto::KINECT_V2_HEIGHT_PX,
            fps: Some(DEFAULT_FPS),
            mode: MockMode::Plain,
            seed: 0,
            color_width: 1920,
            color_height: 1080,
            jpeg_quality: DEFAULT_JPEG_QUALITY,
        }
    }
}

impl MockConfig {
    /// Sets [`MockConfig::fps`].
    pub fn with_fps(mut self, fps: Option<f64>) -> Self {
        self.fps = fps;
        self
    }

    /// Sets [`MockConfig::mode`].
    pub fn with_mode(mut self, mode: MockMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets [`MockConfig::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`MockConfig::width`] and [`MockConfig::height`] (clamped to at least 2 x 1
    /// pixels).
    pub fn with_shape(mut self, width: usize, height: usize) -> Self {
        self.width = width.max(2);
        self.height = height.max(1);
        self
    }

    /// Sets [`MockConfig::color_width`] and [`MockConfig::color_height`] (clamped to what a
    /// JPEG can hold: 1..=65535 each, and at most 16 Mpx).
    pub fn with_color_shape(mut self, width: usize, height: usize) -> Self {
        self.color_width = width.clamp(1, usize::from(u16::MAX));
        self.color_height = height.clamp(1, usize::from(u16::MAX));
        while self.color_width * self.color_height > sk2_proto::frame::MAX_FRAME_PIXELS {
            self.color_height /= 2;
        }
        self
    }

    /// Sets [`MockConfig::jpeg_quality`] (clamped to 1..=100).
    pub fn with_jpeg_quality(mut self, quality: u8) -> Self {
        self.jpeg_quality = quality.clamp(1, 100);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_modes_parse_and_print() {
        assert_eq!("plain".parse(), Ok(MockMode::Plain));
        assert_eq!(
            "realistic".parse::<MockMode>().map(|m| m.to_string()),
            Ok("realistic".into())
        );
        assert!("noisy".parse::<MockMode>().is_err());
    }
}
