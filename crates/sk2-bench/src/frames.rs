//! Frame inputs for the benchmark and the watermark that carries sequence and capture time.
//!
//! The original `depth` message (sk2) has no sequence number and no timestamp, so a subscriber
//! cannot tell by itself which frame it got or when it was captured. The harness therefore
//! stamps both into the first [`WATERMARK_PIXELS`] pixels of every frame before encoding: 12 bits
//! per pixel (values below 4096 mm survive sk2's 12-bit packing and every lossless codec), 96 bits
//! in all = the low 32 bits of the sequence number + the 64-bit capture time in ns since the Unix
//! epoch. Server and subscribers run on one host, so they read one clock. Eight pixels of 217 088
//! change the compressed size by a few bytes at most.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use sk2_mock::{MockConfig, MockKinect, MockMode};
use sk2_proto::{DepthFrame, IrFrame, JpegImage, KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX};

/// Pixels at the start of row 0 that carry the watermark.
pub const WATERMARK_PIXELS: usize = 8;
/// Bits of the watermark in each pixel: every codec keeps values below 4096 exactly.
const BITS_PER_PIXEL: u32 = 12;

/// Writes `sequence` (low 32 bits) and `capture_time_ns` into the first pixels of `depth_mm`.
pub fn stamp(depth_mm: &mut [u16], sequence: u64, capture_time_ns: u64) {
    // 96 bits: sequence in bits 0..32, time in bits 32..96.
    let word = u128::from(sequence as u32) | (u128::from(capture_time_ns) << 32);
    for (i, pixel) in depth_mm.iter_mut().take(WATERMARK_PIXELS).enumerate() {
        *pixel = ((word >> (i as u32 * BITS_PER_PIXEL)) & 0xFFF) as u16;
    }
}

/// Reads back `(sequence low 32 bits, capture_time_ns)`; `None` if the frame is too small.
pub fn read_stamp(depth_mm: &[u16]) -> Option<(u32, u64)> {
    let pixels = depth_mm.get(..WATERMARK_PIXELS)?;
    let word = pixels.iter().enumerate().fold(0u128, |word, (i, &p)| {
        word | (u128::from(p & 0xFFF) << (i as u32 * BITS_PER_PIXEL))
    });
    Some((word as u32, (word >> 32) as u64))
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Synthetic frames with noise, holes and far pixels, reproducible from a seed.
    Mock,
    /// The Kinect v2 (512 x 424) `.u16` frames of a directory, replayed in a loop.
    Corpus(std::path::PathBuf),
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Mock => f.write_str("mock"),
            Input::Corpus(_) => f.write_str("corpus"),
        }
    }
}

impl std::str::FromStr for Input {
    type Err = anyhow::Error;

    /// `mock` or `corpus:<dir>`.
    fn from_str(text: &str) -> Result<Self> {
        match text.split_once(':') {
            None if text == "mock" => Ok(Input::Mock),
            Some(("corpus", dir)) => Ok(Input::Corpus(dir.into())),
            _ => anyhow::bail!("input must be `mock` or `corpus:<dir>`, got {text:?}"),
        }
    }
}

/// Number of distinct mock frames cycled through: enough that consecutive frames differ (as a
/// moving scene does), few enough to build in well under a second.
pub const MOCK_FRAMES: usize = 16;

/// The templates the publisher cycles through, all 512 x 424 (the shape `depth` assumes).
pub fn load(input: &Input) -> Result<Vec<DepthFrame>> {
    match input {
        Input::Mock => Ok((0..MOCK_FRAMES).map(|i| mock_frame(0x5eed, i)).collect()),
        Input::Corpus(dir) => load_corpus(dir),
    }
}

/// Colour frames cycled through by the colour stacks: a few 1080p JPEGs of a moving scene, made
/// once (encoding is not what these stacks measure: a Kinect v2 delivers JPEG itself).
pub const COLOR_FRAMES: usize = 4;

/// The infrared templates of the IR stacks: the realistic mock's amplitudes (lit by the sensor,
/// with noise), 512 x 424.
pub fn ir_templates() -> Vec<IrFrame> {
    let mock = MockKinect::new(MockConfig::default().with_mode(MockMode::Realistic));
    (0..MOCK_FRAMES as u64)
        .map(|sequence| mock.ir_frame(sequence * 4))
        .collect()
}

/// The colour templates of the colour stacks: the realistic mock's 1920 x 1080 JPEGs.
pub fn color_templates() -> Vec<JpegImage> {
    let mock = MockKinect::new(MockConfig::default().with_mode(MockMode::Realistic));
    (0..COLOR_FRAMES as u64)
        .map(|sequence| mock.color_frame(sequence * 8))
        .collect()
}

fn load_corpus(dir: &Path) -> Result<Vec<DepthFrame>> {
    let suffix = format!("-{KINECT_V2_WIDTH_PX}x{KINECT_V2_HEIGHT_PX}.u16");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading corpus directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().ends_with(&suffix))
        .collect();
    paths.sort();
    ensure!(
        !paths.is_empty(),
        "{} holds no *{suffix} frame (the `depth` endpoint is Kinect v2 only)",
        dir.display()
    );
    paths
        .iter()
        .map(|path| {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            DepthFrame::from_le_bytes(KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX, &bytes)
                .with_context(|| format!("{} is not a 512x424 u16 frame", path.display()))
        })
        .collect()
}

/// A synthetic 512 x 424 frame shaped like a real one: a slanted wall at 2-4 m, a nearer sphere
/// moving with `index`, +-0.2 % depth noise, a band of holes (0) and a few far pixels (>= 4096).
/// The original mock (a noiseless wall and sphere) compresses far better than real frames, which
/// would flatter every codec.
pub fn mock_frame(seed: u64, index: usize) -> DepthFrame {
    let (width, height) = (KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX);
    let mut rng = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64: reproducible, and the quality is ample for noise.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let centre_col = 128.0 + (index as f64) * 256.0 / MOCK_FRAMES as f64;
    let centre_row = height as f64 / 2.0;
    let mut depth_mm = Vec::with_capacity(width * height);
    for row in 0..height {
        for col in 0..width {
            let wall = 2000.0 + 4.0 * col as f64 + 1.5 * row as f64;
            let (dx, dy) = (col as f64 - centre_col, row as f64 - centre_row);
            let r2 = dx * dx + dy * dy;
            let sphere = if r2 < 90.0 * 90.0 {
                1200.0 - (90.0 * 90.0 - r2).sqrt() * 2.0
            } else {
                f64::INFINITY
            };
            let truth = wall.min(sphere);
            // Noise of ToF sensors grows with depth: about +-0.2 %.
            let noise = ((next() % 1001) as f64 - 500.0) / 500.0 * truth * 0.002;
            let mut value = (truth + noise).round() as u16;
            // Holes: a dark band at the bottom, plus isolated invalid pixels (flying-pixel filter).
            if (row > 380 && col < 160) || next() % 50 == 0 {
                value = 0;
            }
            // A few far pixels through a window, as real rooms have.
            if row < 20 && col > 480 {
                value = 4500 + (next() % 200) as u16;
            }
            depth_mm.push(value);
        }
    }
    // Cannot fail: the buffer has exactly width * height values of a valid shape.
    DepthFrame::new(width, height, depth_mm).expect("fixed valid shape")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_round_trips_and_survives_sk2() {
        let mut frame = mock_frame(1, 3);
        let time = 1_795_000_000_123_456_789u64;
        stamp(frame.depth_mm_mut(), 0x1_2345_6789, time);
        assert!(frame.depth_mm()[..WATERMARK_PIXELS]
            .iter()
            .all(|&p| p < 4096));
        assert_eq!(read_stamp(frame.depth_mm()), Some((0x2345_6789, time)));
        let message = sk2_proto::sk2::encode(&frame).unwrap();
        let decoded = sk2_proto::sk2::decode(&message, 512, 424).unwrap();
        assert_eq!(read_stamp(decoded.depth_mm()), Some((0x2345_6789, time)));
        assert_eq!(read_stamp(&[1, 2, 3]), None);
    }

    #[test]
    fn mock_frames_are_reproducible_and_look_like_real_ones() {
        let frame = mock_frame(7, 2);
        assert_eq!(frame, mock_frame(7, 2));
        assert_ne!(frame, mock_frame(7, 3));
        let zeros = frame.depth_mm().iter().filter(|&&p| p == 0).count();
        let far = frame.depth_mm().iter().filter(|&&p| p >= 4096).count();
        assert!(zeros > 5_000 && zeros < 40_000, "{zeros} holes");
        assert!(far > 100, "{far} far pixels");
        // Noisy like a real frame: sk2 compresses it far less than the noiseless original mock.
        let ratio = 434_176.0 / sk2_proto::sk2::encode(&frame).unwrap().len() as f64;
        assert!(ratio < 4.0, "ratio {ratio}");
    }

    #[test]
    fn inputs_parse_and_a_missing_corpus_is_an_error() {
        assert_eq!("mock".parse::<Input>().unwrap(), Input::Mock);
        assert_eq!(
            "corpus:/x".parse::<Input>().unwrap(),
            Input::Corpus("/x".into())
        );
        assert!("disk".parse::<Input>().is_err());
        assert!(load(&Input::Corpus("/nonexistent-dir".into())).is_err());
    }
}
