//! `foxglove.RawImage` with 16UC1 pixels: what `--foxglove` recordings hold, so that Foxglove shows
//! depth frames without a plugin. The schema (a protobuf `FileDescriptorSet`) and the encoding are
//! the `foxglove` crate's.

use foxglove::schemas::{RawImage, Timestamp};
use foxglove::{Decode, Encode};
use sk2_proto::DepthFrame;

/// The `encoding` field for depth in millimetres: one `u16` little-endian per pixel.
pub(crate) const ENCODING_16UC1: &str = "16UC1";

/// The schema every RawImage channel carries.
pub(crate) fn schema() -> foxglove::Schema {
    // The foxglove crate always has a schema for its own message types.
    RawImage::get_schema().unwrap_or_else(|| foxglove::Schema::new("foxglove.RawImage", "", &[]))
}

/// The message encoding of RawImage channels (`protobuf`).
pub(crate) fn message_encoding() -> String {
    RawImage::get_message_encoding()
}

/// Encodes `depth` as a 16UC1 RawImage stamped `capture_time_ns`, framed in `frame_id`.
pub(crate) fn encode(depth: &DepthFrame, capture_time_ns: u64, frame_id: &str, out: &mut Vec<u8>) {
    let mut data = Vec::with_capacity(depth.depth_mm().len() * 2);
    for pixel in depth.depth_mm() {
        data.extend_from_slice(&pixel.to_le_bytes());
    }
    let seconds = u32::try_from(capture_time_ns / 1_000_000_000).unwrap_or(u32::MAX);
    // Below 10^9, so it fits.
    let nanos = (capture_time_ns % 1_000_000_000) as u32;
    // A DepthFrame has at most MAX_FRAME_PIXELS (2^24) pixels: its sizes fit in u32.
    let width = u32::try_from(depth.width()).unwrap_or(u32::MAX);
    let image = RawImage {
        timestamp: Some(Timestamp::new(seconds, nanos)),
        frame_id: frame_id.to_owned(),
        width,
        height: u32::try_from(depth.height()).unwrap_or(u32::MAX),
        encoding: ENCODING_16UC1.to_owned(),
        step: width.saturating_mul(2),
        data: data.into(),
    };
    out.clear();
    // Encoding into a Vec cannot run out of room, the only way prost's encode fails.
    let _ = image.encode(out);
}

/// Decodes a 16UC1 RawImage back into a frame, or says what is wrong with it.
pub(crate) fn decode(message: &[u8]) -> Result<(DepthFrame, Option<u64>), String> {
    let image = RawImage::decode(message).map_err(|error| format!("protobuf: {error}"))?;
    if !image.encoding.eq_ignore_ascii_case(ENCODING_16UC1)
        && !image.encoding.eq_ignore_ascii_case("mono16")
    {
        return Err(format!(
            "encoding {:?}, expected 16UC1 or mono16",
            image.encoding
        ));
    }
    let (width, height) = (image.width as usize, image.height as usize);
    let row_bytes = width
        .checked_mul(2)
        .ok_or_else(|| "width overflows".to_owned())?;
    let step = image.step as usize;
    if step < row_bytes {
        return Err(format!("step {step} is less than 2 x width {width}"));
    }
    let needed = step
        .checked_mul(height)
        .ok_or_else(|| "step x height overflows".to_owned())?;
    if image.data.len() < needed {
        return Err(format!(
            "{} bytes of data, {width}x{height} with step {step} needs {needed}",
            image.data.len()
        ));
    }
    // DepthFrame::new checks the shape against MAX_FRAME_PIXELS before anything is kept; the
    // data is already in memory, so collecting its pixels allocates no more than it.
    let depth_mm = image.data[..needed]
        .chunks_exact(step.max(1))
        .take(height)
        .flat_map(|row| {
            row[..row_bytes]
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        })
        .collect();
    let frame =
        DepthFrame::new(width, height, depth_mm).map_err(|error| format!("shape: {error}"))?;
    let time_ns = image
        .timestamp
        .map(|stamp| u64::from(stamp.sec()) * 1_000_000_000 + u64::from(stamp.nsec()));
    Ok((frame, time_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_survives_raw_image_encoding() {
        let depth = DepthFrame::new(3, 2, vec![0, 1, 500, 4095, 4096, 65535]).unwrap();
        let mut out = Vec::new();
        encode(&depth, 1_700_000_000_123_456_789, "sensor", &mut out);
        let (back, time) = decode(&out).unwrap();
        assert_eq!(back, depth);
        assert_eq!(time, Some(1_700_000_000_123_456_789));
    }

    #[test]
    fn short_or_foreign_images_are_refused() {
        let depth = DepthFrame::new(2, 2, vec![1, 2, 3, 4]).unwrap();
        let mut out = Vec::new();
        encode(&depth, 0, "s", &mut out);
        let mut image = RawImage::decode(out.as_slice()).unwrap();
        image.data = image.data.slice(..6);
        let mut short = Vec::new();
        image.encode(&mut short).unwrap();
        assert!(decode(&short).unwrap_err().contains("needs 8"));
        image.encoding = "rgb8".into();
        let mut rgb = Vec::new();
        image.encode(&mut rgb).unwrap();
        assert!(decode(&rgb).unwrap_err().contains("rgb8"));
        assert!(decode(&[0xFF, 0xFF, 0xFF]).is_err());
    }
}
