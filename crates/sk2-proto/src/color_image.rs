//! Colour frames as pixels: decoding the JPEG of a [`color`] message into an RGB
//! image, `ndarray::Array3<u8>` of shape `(height, width, 3)`.
//!
//! The decoder is `zune-jpeg`, built without SIMD so that it compiles with `forbid(unsafe_code)`
//! (a colour payload comes from the network). It runs in strict mode: a JPEG with a damaged
//! entropy-coded segment, a marker out of place or missing image data is an error, not a partly
//! grey picture, so a client can count and skip it; and it must end with its end-of-image marker
//! (zero padding after it is allowed), which a JPEG cut short lacks. Before anything is decoded,
//! [`color::decode`] has checked that the JPEG's own size equals the message
//! header's, which is at most [`MAX_FRAME_PIXELS`]; the decoder is also told that size as its
//! limit, so what it allocates is bounded by the header.
//!
//! ```
//! # use sk2_proto::color_image;
//! let not_a_jpeg = b"GIF89a";
//! assert!(color_image::decode_jpeg(not_a_jpeg).is_err());
//! ```

use ndarray::Array3;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::color::{self, ColorError, ColorHeader, JpegError};
use crate::frame::MAX_FRAME_PIXELS;

/// Why a colour message or JPEG could not be turned into pixels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColorImageError {
    /// The message itself is malformed (header, codec, payload length, JPEG size).
    #[error(transparent)]
    Message(#[from] ColorError),
    /// The JPEG's size cannot be read.
    #[error("corrupt JPEG: {0}")]
    Shape(#[from] JpegError),
    /// The JPEG does not end with its end-of-image marker (`ff d9`, then at most zero padding):
    /// it was cut short.
    #[error("JPEG does not end with an end-of-image marker: cut short")]
    Truncated,
    /// The JPEG is larger than [`MAX_FRAME_PIXELS`].
    #[error("JPEG of {width}x{height} pixels is larger than any frame this crate accepts")]
    TooLarge {
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
    },
    /// The decoder found the JPEG damaged or of a kind it does not support (for example
    /// arithmetic coding or 12-bit samples).
    #[error("cannot decode JPEG: {0}")]
    Decode(String),
}

/// Decodes a complete `color` message: its checked header and the RGB image of its JPEG.
pub fn decode(message: &[u8]) -> Result<(ColorHeader, Array3<u8>), ColorImageError> {
    let (header, jpeg) = color::decode(message)?;
    let rgb = decode_jpeg(jpeg)?;
    Ok((header, rgb))
}

/// Decodes a JPEG file into an RGB image `(height, width, 3)`. Grey JPEGs come out as RGB with
/// three equal channels.
pub fn decode_jpeg(jpeg: &[u8]) -> Result<Array3<u8>, ColorImageError> {
    let (width, height) = color::jpeg_shape(jpeg)?;
    if width.saturating_mul(height) > MAX_FRAME_PIXELS {
        return Err(ColorImageError::TooLarge { width, height });
    }
    // The decoder fills image data missing at the very end with grey even in strict mode, so a
    // JPEG cut within its last MCU row would pass; the marker it must end with tells. (A Kinect
    // v2 pads its JPEGs with up to 3 bytes after the marker; libfreenect2 trims them.)
    let unpadded = jpeg.len() - jpeg.iter().rev().take_while(|&&byte| byte == 0).count();
    if !jpeg[..unpadded].ends_with(&[0xFF, 0xD9]) {
        return Err(ColorImageError::Truncated);
    }
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(width)
        .set_max_height(height)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let pixels = decoder
        .decode()
        .map_err(|error| ColorImageError::Decode(error.to_string()))?;
    // The decoder reads the same frame header as jpeg_shape; if it ever disagreed (or gave
    // another channel count), the buffer's length would not fit and this reports it.
    let decoded = decoder.dimensions().unwrap_or((width, height));
    if decoded != (width, height) {
        return Err(ColorImageError::Decode(format!(
            "decoder saw {}x{}, the frame header says {width}x{height}",
            decoded.0, decoded.1
        )));
    }
    Array3::from_shape_vec((height, width, 3), pixels).map_err(|_| {
        ColorImageError::Decode("decoder output does not hold 3 bytes per pixel".into())
    })
}
