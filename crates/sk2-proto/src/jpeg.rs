//! A JPEG image whose size was read from its own frame header ([`JpegImage`]), and the reading of
//! that size without decoding ([`jpeg_shape`]): what a sensor hands over and what a `color`
//! message carries ([`crate::color`]).

use std::fmt;

/// Why bytes are not a JPEG whose size can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JpegError {
    /// The bytes do not start with the SOI marker `ff d8`.
    #[error("not a JPEG: no start-of-image marker")]
    NotJpeg,
    /// A marker or segment runs past the end of the bytes.
    #[error("JPEG ends inside a marker segment")]
    Truncated,
    /// Bytes where a marker must be.
    #[error("JPEG has 0x{0:02x} where a marker must be")]
    ExpectedMarker(u8),
    /// The image data or its end comes before any frame header (SOFn).
    #[error("JPEG has no frame header before its image data")]
    NoFrameHeader,
    /// The frame header says 0 rows or columns (a height defined later by DNL is not supported).
    #[error("JPEG frame header declares a {width}x{height} image")]
    ZeroSize {
        /// Columns in the frame header.
        width: u16,
        /// Rows in the frame header.
        height: u16,
    },
}

/// `(width, height)` in pixels from the frame header (SOF0..SOF15) of a JPEG, read without
/// decoding: walks the marker segments from SOI up to the first frame header. Bytes after it
/// (the image data, trailing padding) are not looked at.
pub fn jpeg_shape(bytes: &[u8]) -> Result<(usize, usize), JpegError> {
    if bytes.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(JpegError::NotJpeg);
    }
    let mut at = 2;
    loop {
        match bytes.get(at) {
            None => return Err(JpegError::Truncated),
            Some(0xFF) => {}
            Some(&other) => return Err(JpegError::ExpectedMarker(other)),
        }
        // Any number of 0xFF fill bytes may precede a marker (ITU T.81, B.1.1.2).
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *bytes.get(at).ok_or(JpegError::Truncated)?;
        at += 1;
        match marker {
            // TEM and RSTn stand alone, without a length.
            0x01 | 0xD0..=0xD7 => continue,
            // A second SOI (d8), EOI (d9) or SOS (da, image data) before any frame header.
            0xD8..=0xDA => return Err(JpegError::NoFrameHeader),
            _ => {}
        }
        let length = match bytes.get(at..at + 2) {
            Some(&[high, low]) => usize::from(u16::from_be_bytes([high, low])),
            _ => return Err(JpegError::Truncated),
        };
        let segment = bytes
            .get(at..at + length)
            .filter(|_| length >= 2)
            .ok_or(JpegError::Truncated)?;
        // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc), which share the range.
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            // length(2) precision(1) height(2) width(2) ...
            let (height, width) = match segment.get(3..7) {
                Some(&[h1, h0, w1, w0]) => {
                    (u16::from_be_bytes([h1, h0]), u16::from_be_bytes([w1, w0]))
                }
                _ => return Err(JpegError::Truncated),
            };
            if width == 0 || height == 0 {
                return Err(JpegError::ZeroSize { width, height });
            }
            return Ok((usize::from(width), usize::from(height)));
        }
        at += length;
    }
}

/// One JPEG image and its size, checked to agree.
#[derive(Clone, PartialEq, Eq)]
pub struct JpegImage {
    width: usize,
    height: usize,
    bytes: Vec<u8>,
}

impl JpegImage {
    /// Wraps a complete JPEG file, reading its size from its frame header (see [`jpeg_shape`]).
    pub fn new(bytes: Vec<u8>) -> Result<Self, JpegError> {
        let (width, height) = jpeg_shape(&bytes)?;
        Ok(Self {
            width,
            height,
            bytes,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The JPEG file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Gives back the JPEG file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl fmt::Debug for JpegImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JpegImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}
