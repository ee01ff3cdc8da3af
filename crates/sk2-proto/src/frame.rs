//! [`DepthFrame`]: one depth image of `u16` millimetres, row-major; [`IrFrame`]: one infrared
//! amplitude image of the same sensor.

use ndarray::{Array2, ArrayView2};

/// The largest frame, in pixels, that any decoder in this crate will allocate for.
///
/// 16 Mpx (for example 4096 x 4096) is 32 MiB of `u16`: far above any depth sensor made today
/// (Kinect v2: 0.2 Mpx, Azure Kinect WFOV: 1 Mpx), yet small enough that a hostile header cannot
/// make a decoder allocate gigabytes.
pub const MAX_FRAME_PIXELS: usize = 4096 * 4096;

/// Why a [`DepthFrame`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The buffer does not hold exactly `width * height` values.
    #[error("a {width}x{height} frame needs {expected} values, got {actual}")]
    LengthMismatch {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// `width * height`.
        expected: usize,
        /// Length of the buffer given.
        actual: usize,
    },
    /// A byte buffer that is not exactly `width * height` little-endian `u16` values.
    #[error("a {width}x{height} frame is {expected_bytes} bytes of u16, got {actual_bytes}")]
    ByteLengthMismatch {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// `2 * width * height`.
        expected_bytes: usize,
        /// Length of the bytes given.
        actual_bytes: usize,
    },
    /// Zero width or height, or more than [`MAX_FRAME_PIXELS`] pixels.
    #[error("frame size {width}x{height} is outside 1..={max} pixels", max = MAX_FRAME_PIXELS)]
    BadShape {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
}

/// A depth image: `height` rows of `width` pixels, each the distance in millimetres, row 0 first.
/// `0` marks a pixel the sensor could not measure.
#[derive(Clone, PartialEq, Eq)]
pub struct DepthFrame {
    width: usize,
    height: usize,
    depth_mm: Vec<u16>,
}

impl DepthFrame {
    /// Wraps a row-major buffer of `width * height` millimetre values.
    pub fn new(width: usize, height: usize, depth_mm: Vec<u16>) -> Result<Self, FrameError> {
        let pixels = checked_pixels(width, height)?;
        if depth_mm.len() != pixels {
            return Err(FrameError::LengthMismatch {
                width,
                height,
                expected: pixels,
                actual: depth_mm.len(),
            });
        }
        Ok(Self {
            width,
            height,
            depth_mm,
        })
    }

    /// Reads `width * height` little-endian `u16` values, row-major: the layout of raw `.u16`
    /// recordings (see [`shape_from_file_name`]).
    pub fn from_le_bytes(width: usize, height: usize, bytes: &[u8]) -> Result<Self, FrameError> {
        let pixels = checked_pixels(width, height)?;
        if bytes.len() != pixels * 2 {
            return Err(FrameError::ByteLengthMismatch {
                width,
                height,
                expected_bytes: pixels * 2,
                actual_bytes: bytes.len(),
            });
        }
        let depth_mm = bytes
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        Ok(Self {
            width,
            height,
            depth_mm,
        })
    }

    /// A frame of the given size with every pixel `0` (no measurement).
    pub fn zeros(width: usize, height: usize) -> Result<Self, FrameError> {
        let pixels = checked_pixels(width, height)?;
        Ok(Self {
            width,
            height,
            depth_mm: vec![0; pixels],
        })
    }

    /// Width in pixels (columns).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels (rows).
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row-major, in millimetres.
    pub fn depth_mm(&self) -> &[u16] {
        &self.depth_mm
    }

    /// The pixels, row-major, in millimetres, for in-place edits.
    pub fn depth_mm_mut(&mut self) -> &mut [u16] {
        &mut self.depth_mm
    }

    /// One row of pixels. Panics if `row >= height`, like slice indexing.
    pub fn row(&self, row: usize) -> &[u16] {
        &self.depth_mm[row * self.width..(row + 1) * self.width]
    }

    /// The depth at (`row`, `col`), or `None` outside the image.
    pub fn at(&self, row: usize, col: usize) -> Option<u16> {
        (row < self.height && col < self.width).then(|| self.depth_mm[row * self.width + col])
    }

    /// Gives back the row-major buffer.
    pub fn into_vec(self) -> Vec<u16> {
        self.depth_mm
    }

    /// A `(height, width)` view of the pixels, without copying.
    pub fn view(&self) -> ArrayView2<'_, u16> {
        // Cannot fail: the constructor checked that the buffer holds exactly height * width values.
        ArrayView2::from_shape((self.height, self.width), &self.depth_mm)
            .expect("shape checked at construction")
    }

    /// Converts into a `(height, width)` array that owns the same buffer (no copy).
    pub fn into_array(self) -> Array2<u16> {
        // Cannot fail: the constructor checked that the buffer holds exactly height * width values.
        Array2::from_shape_vec((self.height, self.width), self.depth_mm)
            .expect("shape checked at construction")
    }
}

impl std::fmt::Debug for DepthFrame {
    // A frame has hundreds of thousands of pixels: print its shape, not its contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepthFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl TryFrom<Array2<u16>> for DepthFrame {
    type Error = FrameError;

    /// Takes a `(height, width)` array; copies only if the array is not in standard row-major layout.
    fn try_from(array: Array2<u16>) -> Result<Self, FrameError> {
        let (height, width) = array.dim();
        let depth_mm = if array.is_standard_layout() {
            array.into_raw_vec_and_offset().0
        } else {
            array.iter().copied().collect()
        };
        Self::new(width, height, depth_mm)
    }
}

/// An infrared amplitude image: `height` rows of `width` pixels, row 0 first, each the amplitude of
/// the modulated light the depth sensor received (unitless, brighter is larger).
///
/// A Kinect v2 reports amplitudes as floats in 0..=65535; sensors round them to the nearest
/// `u16`. They span a wide range (a few hundred for a dark wall, tens of thousands for a
/// retro-reflector), so viewers usually show them through a square root or a log curve.
#[derive(Clone, PartialEq, Eq)]
pub struct IrFrame {
    // The same row-major u16 image as a depth frame; only the meaning of the values differs.
    image: DepthFrame,
}

impl IrFrame {
    /// Wraps a row-major buffer of `width * height` amplitudes.
    pub fn new(width: usize, height: usize, amplitude: Vec<u16>) -> Result<Self, FrameError> {
        DepthFrame::new(width, height, amplitude).map(|image| Self { image })
    }

    /// Reads `width * height` little-endian `u16` amplitudes, row-major (the layout of raw
    /// `.ir.u16` recordings).
    pub fn from_le_bytes(width: usize, height: usize, bytes: &[u8]) -> Result<Self, FrameError> {
        DepthFrame::from_le_bytes(width, height, bytes).map(|image| Self { image })
    }

    /// Width in pixels (columns).
    pub fn width(&self) -> usize {
        self.image.width()
    }

    /// Height in pixels (rows).
    pub fn height(&self) -> usize {
        self.image.height()
    }

    /// The amplitudes, row-major.
    pub fn amplitude(&self) -> &[u16] {
        self.image.depth_mm()
    }

    /// The amplitudes, row-major, for in-place edits.
    pub fn amplitude_mut(&mut self) -> &mut [u16] {
        self.image.depth_mm_mut()
    }

    /// The amplitude at (`row`, `col`), or `None` outside the image.
    pub fn at(&self, row: usize, col: usize) -> Option<u16> {
        self.image.at(row, col)
    }

    /// Gives back the row-major buffer.
    pub fn into_vec(self) -> Vec<u16> {
        self.image.into_vec()
    }

    /// A `(height, width)` view of the amplitudes, without copying.
    pub fn view(&self) -> ArrayView2<'_, u16> {
        self.image.view()
    }

    /// Converts into a `(height, width)` array that owns the same buffer (no copy).
    pub fn into_array(self) -> Array2<u16> {
        self.image.into_array()
    }
}

impl std::fmt::Debug for IrFrame {
    // Like DepthFrame: the shape, not hundreds of thousands of pixels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrFrame")
            .field("width", &self.width())
            .field("height", &self.height())
            .finish_non_exhaustive()
    }
}

/// The shape a raw recording's file name carries: `anything-<W>x<H>.u16` gives `(W, H)`, as in
/// `kv2_dynproj-0-512x424.u16`. `None` for any other name.
pub fn shape_from_file_name(name: &str) -> Option<(usize, usize)> {
    let stem = name.strip_suffix(".u16")?;
    let (width, height) = stem.rsplit('-').next()?.split_once('x')?;
    Some((width.parse().ok()?, height.parse().ok()?))
}

/// `width * height`, if the shape is within 1..=[`MAX_FRAME_PIXELS`].
pub(crate) fn checked_pixels(width: usize, height: usize) -> Result<usize, FrameError> {
    match width.checked_mul(height) {
        Some(pixels) if width > 0 && height > 0 && pixels <= MAX_FRAME_PIXELS => Ok(pixels),
        _ => Err(FrameError::BadShape { width, height }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_array_keeps_the_buffer_without_copying() {
        let frame = DepthFrame::new(3, 2, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let before = frame.depth_mm().as_ptr();
        let array = frame.into_array();
        assert_eq!(array.as_ptr(), before);
        assert_eq!(array.dim(), (2, 3));
        assert_eq!(array[[1, 0]], 4);
    }

    #[test]
    fn wrong_length_and_bad_shapes_are_errors() {
        assert!(matches!(
            DepthFrame::new(2, 2, vec![0; 3]),
            Err(FrameError::LengthMismatch {
                expected: 4,
                actual: 3,
                ..
            })
        ));
        assert!(DepthFrame::new(0, 2, vec![]).is_err());
        assert!(DepthFrame::zeros(usize::MAX, 2).is_err());
        assert!(DepthFrame::zeros(4097, 4096).is_err());
    }

    #[test]
    fn raw_recordings_are_read_little_endian_with_the_shape_from_their_name() {
        assert_eq!(
            shape_from_file_name("kv2_dynproj-0-512x424.u16"),
            Some((512, 424))
        );
        assert_eq!(shape_from_file_name("frame-3x2.u16"), Some((3, 2)));
        assert_eq!(shape_from_file_name("frame-3x2.raw"), None);
        assert_eq!(shape_from_file_name("frame-3by2.u16"), None);
        assert_eq!(shape_from_file_name("frame.u16"), None);
        let frame = DepthFrame::from_le_bytes(2, 1, &[0x88, 0x13, 0xff, 0xff]).unwrap();
        assert_eq!(frame.depth_mm(), &[5000, 65535]);
        assert_eq!(
            DepthFrame::from_le_bytes(2, 1, &[0; 3]),
            Err(FrameError::ByteLengthMismatch {
                width: 2,
                height: 1,
                expected_bytes: 4,
                actual_bytes: 3
            })
        );
    }

    #[test]
    fn array_round_trip_and_transposed_input() {
        let frame = DepthFrame::new(3, 2, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let array = frame.clone().into_array();
        assert_eq!(DepthFrame::try_from(array).unwrap(), frame);
        // A column-major array is not in standard layout: the conversion copies in logical order.
        use ndarray::ShapeBuilder;
        let column_major = Array2::from_shape_vec((2, 3).f(), vec![1, 4, 2, 5, 3, 6]).unwrap();
        assert!(!column_major.is_standard_layout());
        assert_eq!(DepthFrame::try_from(column_major).unwrap(), frame);
        assert_eq!(frame.at(1, 2), Some(6));
        assert_eq!(frame.at(2, 0), None);
        assert_eq!(frame.row(1), &[4, 5, 6]);
    }
}
