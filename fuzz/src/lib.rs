//! Helpers shared by the fuzz targets and the seed writer: how a flat fuzzer input becomes the
//! pieces a decoder takes, so that seeds written by `make-seeds` mean what the targets read.

/// Most frames a control message is cut into. Three is already malformed (a message has 1 or 2);
/// a few more exercise the "too many frames" path without wasting the fuzzer's time.
pub const MAX_FUZZ_FRAMES: usize = 5;

/// Splits `data` into ZeroMQ-like frames: each frame is a little-endian `u16` length and then
/// that many bytes (fewer if the input ends). The framing is the fuzzer's, not the protocol's.
pub fn split_frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while frames.len() < MAX_FUZZ_FRAMES {
        let Some((len, rest)) = data.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        let (frame, rest) = rest.split_at(len);
        frames.push(frame);
        data = rest;
    }
    frames
}

/// Inverse of [`split_frames`], for writing seeds.
pub fn join_frames<F: AsRef<[u8]>>(frames: &[F]) -> Vec<u8> {
    let mut data = Vec::new();
    for frame in frames {
        let frame = frame.as_ref();
        let len = u16::try_from(frame.len()).expect("seed frames are below 64 KiB");
        data.extend_from_slice(&len.to_le_bytes());
        data.extend_from_slice(frame);
    }
    data
}

/// Shape for the "shape from the input" sk2 case: bytes 0..2 are the half width, 2..4 the
/// height (both `u16` LE, so at most 131070 x 65535, which the decoder must refuse cleanly);
/// the rest is the message.
pub fn split_shape(data: &[u8]) -> Option<(usize, usize, &[u8])> {
    let (head, message) = data.split_first_chunk::<4>()?;
    let half_width = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let height = usize::from(u16::from_le_bytes([head[2], head[3]]));
    Some((half_width * 2, height, message))
}

/// Inverse of [`split_shape`] for even widths up to 131070 and heights up to 65535.
pub fn join_shape(width: usize, height: usize, message: &[u8]) -> Vec<u8> {
    let half_width = u16::try_from(width / 2).expect("seed width fits");
    let height = u16::try_from(height).expect("seed height fits");
    let mut data = half_width.to_le_bytes().to_vec();
    data.extend_from_slice(&height.to_le_bytes());
    data.extend_from_slice(message);
    data
}
