//! libfreenect2 depth (float millimetres) to the protocol's `u16` millimetres.
//!
//! The rule, for one pixel `v` (an `f32` in millimetres, as libfreenect2 documents `Frame::Depth`):
//!
//! | input                                   | output                                   |
//! |-----------------------------------------|------------------------------------------|
//! | NaN, +inf, -inf                         | `0` (no measurement)                     |
//! | `v <= 0` (including `-0.0`)             | `0` (libfreenect2: non-positive = invalid)|
//! | `0 < v < 65535`                         | `v` rounded to nearest, ties away from zero (`f32::round`); so `0 < v < 0.5` gives `0` |
//! | `v >= 65534.5`                          | `65535` (clamped to the `u16` range)     |
//!
//! Kinect v2 depths are at most a few metres, so clamping never changes a real measurement; it
//! only keeps a corrupt value from wrapping around to a plausible-looking small distance.
//!
//! IR amplitude goes through the same rule, unscaled ([`ir_from_f32`]): libfreenect2 gives it
//! as an `f32` already clamped to `0.0..=65535.0` (its `Frame::Ir`), in the same units as the
//! 16-bit IR image of Microsoft's SDK, so rounding to the nearest integer loses only the
//! fraction, and a NaN (never seen from libfreenect2) becomes 0.

/// The `u16` millimetre value for one libfreenect2 depth pixel (see the module's table).
#[inline]
pub fn depth_mm_from_f32(depth_mm: f32) -> u16 {
    if depth_mm.is_finite() && depth_mm > 0.0 {
        // `as` saturates, so values above 65535 become 65535; min() only says so explicitly.
        depth_mm.round().min(f32::from(u16::MAX)) as u16
    } else {
        0
    }
}

/// The `u16` for one libfreenect2 IR amplitude pixel: the depth rule of the module's table
/// (round to nearest, non-finite and non-positive to 0, clamp at 65535), with no scaling.
#[inline]
pub fn ir_from_f32(amplitude: f32) -> u16 {
    depth_mm_from_f32(amplitude)
}

/// Converts a buffer of native-endian `f32` IR pixels into `out` by [`ir_from_f32`], replacing
/// its contents; like [`depth_mm_from_ne_f32_bytes`].
pub fn ir_from_ne_f32_bytes(bytes: &[u8], out: &mut Vec<u16>) {
    depth_mm_from_ne_f32_bytes(bytes, out);
}

/// Converts a buffer of native-endian `f32` pixels (libfreenect2's frame bytes) into `out`,
/// replacing its contents. Reading bytes rather than `&[f32]` means no alignment is assumed.
/// A trailing partial pixel (fewer than 4 bytes) is ignored; callers check the length first.
pub fn depth_mm_from_ne_f32_bytes(bytes: &[u8], out: &mut Vec<u16>) {
    out.clear();
    out.reserve(bytes.len() / 4);
    out.extend(bytes.chunks_exact(4).map(|pixel| {
        depth_mm_from_f32(f32::from_ne_bytes([pixel[0], pixel[1], pixel[2], pixel[3]]))
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn invalid_values_become_zero() {
        for v in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -1.0,
            0.0,
            -0.0,
            -1e30,
            0.25,
        ] {
            assert_eq!(depth_mm_from_f32(v), 0, "{v}");
        }
    }

    #[test]
    fn values_round_to_nearest_with_ties_away_from_zero() {
        assert_eq!(depth_mm_from_f32(0.5), 1);
        assert_eq!(depth_mm_from_f32(1.49), 1);
        assert_eq!(depth_mm_from_f32(1.5), 2);
        assert_eq!(depth_mm_from_f32(4500.4), 4500);
        assert_eq!(depth_mm_from_f32(7999.6), 8000);
    }

    #[test]
    fn values_beyond_the_u16_range_clamp_to_65535() {
        assert_eq!(depth_mm_from_f32(65534.4), 65534);
        assert_eq!(depth_mm_from_f32(65534.5), 65535);
        assert_eq!(depth_mm_from_f32(65535.0), 65535);
        assert_eq!(depth_mm_from_f32(70000.0), 65535);
        assert_eq!(depth_mm_from_f32(f32::MAX), 65535);
    }

    #[test]
    fn byte_buffers_convert_pixel_by_pixel_and_ignore_a_partial_tail() {
        let mut bytes = Vec::new();
        for v in [1000.0f32, f32::NAN, 2.5] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        bytes.push(0xff);
        let mut out = vec![7; 10];
        depth_mm_from_ne_f32_bytes(&bytes, &mut out);
        assert_eq!(out, [1000, 0, 3]);
    }

    #[test]
    fn ir_amplitude_is_rounded_unscaled_and_clamped() {
        let mut bytes = Vec::new();
        for v in [
            f32::NAN,
            -1.0,
            0.0,
            0.49,
            0.5,
            1234.25,
            65534.5,
            65535.0,
            70000.0,
        ] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        let mut out = Vec::new();
        ir_from_ne_f32_bytes(&bytes, &mut out);
        assert_eq!(out, [0, 0, 0, 0, 1, 1234, 65535, 65535, 65535]);
        assert_eq!(ir_from_f32(300.5), 301);
    }

    proptest! {
        #[test]
        fn every_float_maps_into_range_and_whole_millimetres_are_exact(bits in any::<u32>(), mm in 1u16..=u16::MAX) {
            let v = f32::from_bits(bits);
            let out = depth_mm_from_f32(v);
            if !(v.is_finite() && v >= 0.5) {
                prop_assert_eq!(out, 0);
            } else {
                prop_assert!(out >= 1);
            }
            prop_assert_eq!(depth_mm_from_f32(f32::from(mm)), mm);
        }
    }
}
