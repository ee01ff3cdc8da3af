//! The `ir_v2` endpoint: infrared amplitude frames in the `depth_v2` envelope.
//!
//! A server lists the endpoint name [`ENDPOINT_IR_V2`] in the device record of a sensor that
//! offers infrared, and the codec it uses under the device key [`DEVICE_CODEC_KEY`]. Each message
//! is one ZeroMQ frame laid out exactly as a [`depth_v2`] message (44-byte header,
//! then the payload of the `u16` codec named in the header: raw, RVL, MEDANS or MEDHUF); only the
//! meaning of the pixels differs: amplitudes ([`IrFrame`]), not millimetres. `sequence`,
//! `device_timestamp` and `capture_time_ns` are those of the depth frame measured in the same
//! exposure, so a client pairs IR with depth by sequence number.
//!
//! Example: a 2x1 frame of amplitudes `[0x0102, 0xFFFF]`, sequence 7, device timestamp 0x10,
//! capture time 0x20, raw codec (`docs/protocol.md`, section 5.6):
//!
//! ```text
//! 53 4b 44 32 01 00 00 00  02 00 00 00 01 00 00 00   "SKD2" v1 raw flags 0, width 2, height 1
//! 07 00 00 00 00 00 00 00  10 00 00 00 00 00 00 00   sequence 7, device_timestamp 0x10
//! 20 00 00 00 00 00 00 00  04 00 00 00               capture_time_ns 0x20, payload_len 4
//! 02 01 ff ff                                         the two amplitudes, u16 LE
//! ```

use crate::depth_v2::{self, Codec, DepthV2Error, FrameHeader};
use crate::frame::IrFrame;
use crate::sensor::CapturedIrFrame;

/// The endpoint name of infrared frames in a device record of `me`.
pub const ENDPOINT_IR_V2: &str = "ir_v2";
/// The device-record key under which a server names the codec it uses on `ir_v2`.
pub const DEVICE_CODEC_KEY: &str = "ir_codec";

/// The codec a server uses on `ir_v2` unless configured otherwise.
///
/// MEDHUF: on infrared amplitudes (smooth surfaces, wide range, little of the zero runs RVL
/// exploits) it is the smallest of the fast codecs; the figures are in `docs/performance.md`.
pub const DEFAULT_CODEC: Codec = Codec::MedHuf;

/// Encodes one infrared frame as a complete `ir_v2` message (header + payload).
pub fn encode(frame: &CapturedIrFrame, codec: Codec) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(frame, codec, &mut out);
    out
}

/// Like [`encode`], but replaces the contents of `out`, so a long-running encoder can reuse it.
pub fn encode_into(frame: &CapturedIrFrame, codec: Codec, out: &mut Vec<u8>) {
    let ir = &frame.ir;
    let stamp = (
        frame.sequence,
        frame.device_timestamp,
        frame.capture_time_ns,
    );
    depth_v2::encode_u16_into(ir.amplitude(), ir.width(), ir.height(), stamp, codec, out);
}

/// Reads and checks the header of an `ir_v2` message without decoding the payload (the same
/// checks as [`depth_v2::decode_header`]).
pub fn decode_header(message: &[u8]) -> Result<FrameHeader, DepthV2Error> {
    depth_v2::decode_header(message)
}

/// Decodes a complete `ir_v2` message into its header and the exact amplitudes.
pub fn decode(message: &[u8]) -> Result<(FrameHeader, IrFrame), DepthV2Error> {
    let (header, image) = depth_v2::decode(message)?;
    let (width, height) = (image.width(), image.height());
    // Cannot fail: depth_v2::decode returns a frame of exactly width * height pixels.
    let ir = IrFrame::new(width, height, image.into_vec()).map_err(|_| DepthV2Error::BadShape {
        width: header.width,
        height: header.height,
    })?;
    Ok((header, ir))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "534b443201000000 0200000001000000 0700000000000000 1000000000000000 \
                           2000000000000000 04000000 0201ffff";

    fn example_frame() -> CapturedIrFrame {
        CapturedIrFrame {
            ir: IrFrame::new(2, 1, vec![0x0102, 0xFFFF]).unwrap(),
            sequence: 7,
            device_timestamp: 0x10,
            capture_time_ns: 0x20,
        }
    }

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn the_documented_example_is_what_encode_writes_and_decode_reads() {
        let message = encode(&example_frame(), Codec::Raw);
        assert_eq!(message, hex(EXAMPLE));
        let (header, ir) = decode(&message).unwrap();
        assert_eq!((header.sequence, header.codec), (7, Codec::Raw));
        assert_eq!(ir.amplitude(), &[0x0102, 0xFFFF]);
    }

    #[test]
    fn every_codec_round_trips_full_range_amplitudes() {
        let amplitude: Vec<u16> = (0..64u32).map(|i| (i * 1031 % 65536) as u16).collect();
        let frame = CapturedIrFrame {
            ir: IrFrame::new(8, 8, amplitude.clone()).unwrap(),
            ..example_frame()
        };
        for &codec in Codec::ALL {
            let (_, ir) = decode(&encode(&frame, codec)).unwrap();
            assert_eq!(ir.amplitude(), amplitude.as_slice(), "{codec}");
        }
    }
}
