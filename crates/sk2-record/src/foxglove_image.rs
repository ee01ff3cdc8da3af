//! Foxglove's image messages, what `--foxglove` recordings hold so that Foxglove shows every
//! stream without a plugin: `foxglove.RawImage` with one `u16` per pixel (depth as `16UC1`,
//! infrared as `mono16`) and `foxglove.CompressedImage` (colour, the JPEG as received). The
//! schemas (protobuf `FileDescriptorSet`s) and the encoding are the `foxglove` crate's.

use foxglove::schemas::{CompressedImage, RawImage, Timestamp};
use foxglove::{Decode, Encode};
use sk2_proto::frame::IrFrame;
use sk2_proto::DepthFrame;

/// The `encoding` field for depth in millimetres: one `u16` little-endian per pixel.
pub(crate) const ENCODING_16UC1: &str = "16UC1";
/// The `encoding` field for infrared amplitudes: one `u16` little-endian per pixel.
pub(crate) const ENCODING_MONO16: &str = "mono16";
/// The `format` field of a JPEG CompressedImage.
pub(crate) const FORMAT_JPEG: &str = "jpeg";

/// The schema every RawImage channel carries.
pub(crate) fn raw_image_schema() -> foxglove::Schema {
    // The foxglove crate always has a schema for its own message types.
    RawImage::get_schema().unwrap_or_else(|| foxglove::Schema::new("foxglove.RawImage", "", &[]))
}

/// The schema every CompressedImage channel carries.
pub(crate) fn compressed_image_schema() -> foxglove::Schema {
    CompressedImage::get_schema()
        .unwrap_or_else(|| foxglove::Schema::new("foxglove.CompressedImage", "", &[]))
}

/// The message encoding of Foxglove's channels (`protobuf`).
pub(crate) fn message_encoding() -> String {
    RawImage::get_message_encoding()
}

fn timestamp(capture_time_ns: u64) -> Timestamp {
    let seconds = u32::try_from(capture_time_ns / 1_000_000_000).unwrap_or(u32::MAX);
    // Below 10^9, so it fits.
    let nanos = (capture_time_ns % 1_000_000_000) as u32;
    Timestamp::new(seconds, nanos)
}

fn time_ns(stamp: Option<Timestamp>) -> Option<u64> {
    stamp.map(|stamp| u64::from(stamp.sec()) * 1_000_000_000 + u64::from(stamp.nsec()))
}

/// Encodes `depth` as a 16UC1 RawImage stamped `capture_time_ns`, framed in `frame_id`.
pub(crate) fn encode(depth: &DepthFrame, capture_time_ns: u64, frame_id: &str, out: &mut Vec<u8>) {
    let shape = (depth.width(), depth.height());
    encode_u16(
        depth.depth_mm(),
        shape,
        ENCODING_16UC1,
        capture_time_ns,
        frame_id,
        out,
    );
}

/// Encodes `ir` as a mono16 RawImage stamped `capture_time_ns`, framed in `frame_id`.
pub(crate) fn encode_ir(ir: &IrFrame, capture_time_ns: u64, frame_id: &str, out: &mut Vec<u8>) {
    let shape = (ir.width(), ir.height());
    encode_u16(
        ir.amplitude(),
        shape,
        ENCODING_MONO16,
        capture_time_ns,
        frame_id,
        out,
    );
}

fn encode_u16(
    pixels: &[u16],
    (width, height): (usize, usize),
    encoding: &str,
    capture_time_ns: u64,
    frame_id: &str,
    out: &mut Vec<u8>,
) {
    let mut data = Vec::with_capacity(pixels.len() * 2);
    for pixel in pixels {
        data.extend_from_slice(&pixel.to_le_bytes());
    }
    // A frame has at most MAX_FRAME_PIXELS (2^24) pixels: its sizes fit in u32.
    let width = u32::try_from(width).unwrap_or(u32::MAX);
    let image = RawImage {
        timestamp: Some(timestamp(capture_time_ns)),
        frame_id: frame_id.to_owned(),
        width,
        height: u32::try_from(height).unwrap_or(u32::MAX),
        encoding: encoding.to_owned(),
        step: width.saturating_mul(2),
        data: data.into(),
    };
    out.clear();
    // Encoding into a Vec cannot run out of room, the only way prost's encode fails.
    let _ = image.encode(out);
}

/// Encodes a JPEG file as a CompressedImage stamped `capture_time_ns`, framed in `frame_id`.
pub(crate) fn encode_jpeg(jpeg: &[u8], capture_time_ns: u64, frame_id: &str, out: &mut Vec<u8>) {
    let image = CompressedImage {
        timestamp: Some(timestamp(capture_time_ns)),
        frame_id: frame_id.to_owned(),
        data: jpeg.to_vec().into(),
        format: FORMAT_JPEG.to_owned(),
    };
    out.clear();
    let _ = image.encode(out);
}

/// Decodes a 16UC1 (or mono16) RawImage back into a depth frame, or says what is wrong with it.
pub(crate) fn decode(message: &[u8]) -> Result<(DepthFrame, Option<u64>), String> {
    let (shape, pixels, time) = decode_u16(message)?;
    let frame =
        DepthFrame::new(shape.0, shape.1, pixels).map_err(|error| format!("shape: {error}"))?;
    Ok((frame, time))
}

/// Decodes a mono16 (or 16UC1) RawImage into an infrared frame, or says what is wrong with it.
pub(crate) fn decode_ir(message: &[u8]) -> Result<(IrFrame, Option<u64>), String> {
    let (shape, pixels, time) = decode_u16(message)?;
    let frame =
        IrFrame::new(shape.0, shape.1, pixels).map_err(|error| format!("shape: {error}"))?;
    Ok((frame, time))
}

/// The shape, pixels and time of a RawImage of one `u16` per pixel.
#[allow(clippy::type_complexity)]
fn decode_u16(message: &[u8]) -> Result<((usize, usize), Vec<u16>, Option<u64>), String> {
    let image = RawImage::decode(message).map_err(|error| format!("protobuf: {error}"))?;
    if !image.encoding.eq_ignore_ascii_case(ENCODING_16UC1)
        && !image.encoding.eq_ignore_ascii_case(ENCODING_MONO16)
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
    // The frame constructors check the shape against MAX_FRAME_PIXELS before anything is kept;
    // the data is already in memory, so collecting its pixels allocates no more than it.
    let pixels = image.data[..needed]
        .chunks_exact(step.max(1))
        .take(height)
        .flat_map(|row| {
            row[..row_bytes]
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        })
        .collect();
    Ok(((width, height), pixels, time_ns(image.timestamp)))
}

/// The JPEG file and time of a CompressedImage, or what is wrong with it (another format).
pub(crate) fn decode_jpeg(message: &[u8]) -> Result<(Vec<u8>, Option<u64>), String> {
    let image = CompressedImage::decode(message).map_err(|error| format!("protobuf: {error}"))?;
    if !image.format.eq_ignore_ascii_case(FORMAT_JPEG) && !image.format.eq_ignore_ascii_case("jpg")
    {
        return Err(format!("format {:?}, expected jpeg", image.format));
    }
    Ok((image.data.to_vec(), time_ns(image.timestamp)))
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
    fn infrared_and_jpeg_survive_their_image_messages() {
        let ir = IrFrame::new(3, 1, vec![0, 40_000, 65_535]).unwrap();
        let mut out = Vec::new();
        encode_ir(&ir, 5_000_000_001, "sensor", &mut out);
        assert_eq!(RawImage::decode(out.as_slice()).unwrap().encoding, "mono16");
        assert_eq!(decode_ir(&out).unwrap(), (ir, Some(5_000_000_001)));
        encode_jpeg(&[0xFF, 0xD8, 1, 2], 7, "sensor", &mut out);
        assert_eq!(
            decode_jpeg(&out).unwrap(),
            (vec![0xFF, 0xD8, 1, 2], Some(7))
        );
        let mut png = CompressedImage::decode(out.as_slice()).unwrap();
        png.format = "png".into();
        let mut other = Vec::new();
        png.encode(&mut other).unwrap();
        assert!(decode_jpeg(&other).unwrap_err().contains("png"));
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
