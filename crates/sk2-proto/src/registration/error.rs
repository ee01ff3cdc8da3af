//! Why a frame could not be undistorted or registered, and the checks of shapes and
//! calibrations that say so before any table is built.

use crate::calibration::Calibration;
use crate::frame::MAX_FRAME_PIXELS;

/// Why a frame could not be undistorted or registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The tables were built for one depth shape and the frame has another.
    #[error("registration is set up for {expected_width}x{expected_height} depth frames, got {width}x{height}")]
    DepthShape {
        /// Width the tables were built for.
        expected_width: usize,
        /// Height the tables were built for.
        expected_height: usize,
        /// The frame's width.
        width: usize,
        /// The frame's height.
        height: usize,
    },
    /// A shape with no pixels, more than [`MAX_FRAME_PIXELS`], or a colour image whose last
    /// axis is not 3 (RGB).
    #[error("shape {0:?} is not a usable image (1..={max} pixels, RGB colour)", max = MAX_FRAME_PIXELS)]
    BadShape(Vec<usize>),
    /// The calibration holds a number that is not finite, or a zero focal length or `shift_d`.
    #[error("calibration field {0} makes registration undefined")]
    BadCalibration(&'static str),
}

/// Refuses a shape with no pixels or more than [`MAX_FRAME_PIXELS`].
pub(super) fn check_shape(shape: &[usize]) -> Result<(), RegistrationError> {
    let pixels = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    match pixels {
        Some(pixels) if (1..=MAX_FRAME_PIXELS).contains(&pixels) => Ok(()),
        _ => Err(RegistrationError::BadShape(shape.to_vec())),
    }
}

/// Registration divides by these; every other field only has to be finite.
pub(super) fn check_calibration(calibration: &Calibration) -> Result<(), RegistrationError> {
    calibration
        .check_finite()
        .map_err(|_| RegistrationError::BadCalibration("a field that is not finite"))?;
    let divisors = [
        ("ir.fx", calibration.ir.fx),
        ("ir.fy", calibration.ir.fy),
        ("color.fx", calibration.color.fx),
        ("color.shift_d", calibration.color.shift_d),
    ];
    match divisors.iter().find(|(_, value)| *value == 0.0) {
        Some((name, _)) => Err(RegistrationError::BadCalibration(name)),
        None => Ok(()),
    }
}
