//! Camera calibration of a Kinect v2: what a client needs to turn depth pixels into 3D points and
//! to find each point's colour.
//!
//! The two records mirror libfreenect2's `Freenect2Device::IrCameraParams` and
//! `Freenect2Device::ColorCameraParams` field for field, so a server with a real device forwards
//! the device's own values unchanged and a client can feed them to libfreenect2's registration
//! (or a port of it) as they are. A server carries them in `me`, one `"calibration"` object per
//! device record (docs/protocol.md, section 3); the JSON form is:
//!
//! ```json
//! {"ir": {"fx": 368.147, "fy": 368.147, "cx": 264.317, "cy": 208.964,
//!         "k1": 0.0807732, "k2": -0.27181, "k3": 0.103199, "p1": 0.0, "p2": 0.0},
//!  "color": {"fx": 1081.37, "fy": 1081.37, "cx": 959.5, "cy": 539.5,
//!            "shift_d": 863.0, "shift_m": 52.0,
//!            "mx_x3y0": 0.000433573, ..., "mx_x0y0": 0.17028,
//!            "my_x3y0": 3.31803e-6, ..., "my_x0y0": -0.000370404}}
//! ```
//!
//! Every field is required; a reader ignores fields it does not know (room for later additions)
//! and rejects numbers that are not finite `f32` values.

use serde::{Deserialize, Serialize};

/// Intrinsics of the depth (infrared) camera, as libfreenect2's `IrCameraParams`.
///
/// Pixel `(x, y)` of a depth image with depth `z` (metres) is the 3D point
/// `((x + 0.5 - cx) * z / fx, (y + 0.5 - cy) * z / fy, z)` once undistorted with the
/// Brown-Conrady coefficients (libfreenect2's registration applies them in `distort`). Depth and IR
/// images come from the same sensor and share these values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IrCameraParams {
    /// Focal length along x, in pixels.
    pub fx: f32,
    /// Focal length along y, in pixels.
    pub fy: f32,
    /// Principal point x, in pixels.
    pub cx: f32,
    /// Principal point y, in pixels.
    pub cy: f32,
    /// Radial distortion, r^2 term.
    pub k1: f32,
    /// Radial distortion, r^4 term.
    pub k2: f32,
    /// Radial distortion, r^6 term.
    pub k3: f32,
    /// Tangential distortion, first coefficient.
    pub p1: f32,
    /// Tangential distortion, second coefficient.
    pub p2: f32,
}

/// Intrinsics of the colour camera and the depth-to-colour mapping, as libfreenect2's
/// `ColorCameraParams`.
///
/// The mapping is not a rigid transform: libfreenect2's registration maps a depth pixel to colour
/// coordinates with two cubic polynomials in the normalised depth coordinates (`mx_*` for x, `my_*`
/// for y; `x3y0` is the coefficient of x^3, `x1y2` of x*y^2, `x0y0` the constant), then shifts x
/// by `shift_m / z - shift_m / shift_d` (z in millimetres) before projecting with `fx`, `cx`, `cy`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // The polynomial coefficients are named by their term; see the type docs.
pub struct ColorCameraParams {
    /// Focal length along x, in pixels.
    pub fx: f32,
    /// Focal length along y, in pixels.
    pub fy: f32,
    /// Principal point x, in pixels.
    pub cx: f32,
    /// Principal point y, in pixels.
    pub cy: f32,
    /// Depth, in millimetres, at which the x shift between the cameras is zero.
    pub shift_d: f32,
    /// Scale of the depth-dependent x shift between the cameras.
    pub shift_m: f32,
    pub mx_x3y0: f32,
    pub mx_x0y3: f32,
    pub mx_x2y1: f32,
    pub mx_x1y2: f32,
    pub mx_x2y0: f32,
    pub mx_x0y2: f32,
    pub mx_x1y1: f32,
    pub mx_x1y0: f32,
    pub mx_x0y1: f32,
    pub mx_x0y0: f32,
    pub my_x3y0: f32,
    pub my_x0y3: f32,
    pub my_x2y1: f32,
    pub my_x1y2: f32,
    pub my_x2y0: f32,
    pub my_x0y2: f32,
    pub my_x1y1: f32,
    pub my_x1y0: f32,
    pub my_x0y1: f32,
    pub my_x0y0: f32,
}

/// Everything a sensor knows about its optics: the `"calibration"` object of a device record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The depth / infrared camera.
    pub ir: IrCameraParams,
    /// The colour camera and the depth-to-colour mapping.
    pub color: ColorCameraParams,
}

/// Why a `"calibration"` object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    /// A field is missing or not a number.
    #[error("invalid calibration: {0}")]
    Invalid(String),
    /// A field is NaN, infinite, or beyond `f32`.
    #[error("calibration field {0} is not a finite number")]
    NotFinite(&'static str),
}

impl IrCameraParams {
    /// Factory values of one Kinect v2 (as libfreenect2 reads them from the device). Every device
    /// differs slightly; the mock sensor reports these.
    pub const KINECT_V2_TYPICAL: IrCameraParams = IrCameraParams {
        fx: 368.147,
        fy: 368.147,
        cx: 264.317,
        cy: 208.964,
        k1: 0.080_773_2,
        k2: -0.271_81,
        k3: 0.103_199,
        p1: 0.0,
        p2: 0.0,
    };

    fn fields(&self) -> [(&'static str, f32); 9] {
        [
            ("ir.fx", self.fx),
            ("ir.fy", self.fy),
            ("ir.cx", self.cx),
            ("ir.cy", self.cy),
            ("ir.k1", self.k1),
            ("ir.k2", self.k2),
            ("ir.k3", self.k3),
            ("ir.p1", self.p1),
            ("ir.p2", self.p2),
        ]
    }
}

impl ColorCameraParams {
    /// Factory values of the same Kinect v2 as [`IrCameraParams::KINECT_V2_TYPICAL`].
    pub const KINECT_V2_TYPICAL: ColorCameraParams = ColorCameraParams {
        fx: 1081.37,
        fy: 1081.37,
        cx: 959.5,
        cy: 539.5,
        shift_d: 863.0,
        shift_m: 52.0,
        mx_x3y0: 0.000_433_573,
        mx_x0y3: 3.119_85e-6,
        mx_x2y1: 4.892_89e-5,
        mx_x1y2: 0.000_329_721,
        mx_x2y0: 0.000_753_273,
        mx_x0y2: 3.572_79e-5,
        mx_x1y1: -0.000_761_282,
        mx_x1y0: 0.633_183,
        mx_x0y1: 0.005_624_61,
        mx_x0y0: 0.170_28,
        my_x3y0: 3.318_03e-6,
        my_x0y3: 0.000_587_018,
        my_x2y1: 0.000_425_902,
        my_x1y2: 1.760_95e-5,
        my_x2y0: -0.000_246_9,
        my_x0y2: -0.000_945_311,
        my_x1y1: 0.000_648_708,
        my_x1y0: -0.005_785_45,
        my_x0y1: 0.632_964,
        my_x0y0: -0.000_370_404,
    };

    fn fields(&self) -> [(&'static str, f32); 26] {
        [
            ("color.fx", self.fx),
            ("color.fy", self.fy),
            ("color.cx", self.cx),
            ("color.cy", self.cy),
            ("color.shift_d", self.shift_d),
            ("color.shift_m", self.shift_m),
            ("color.mx_x3y0", self.mx_x3y0),
            ("color.mx_x0y3", self.mx_x0y3),
            ("color.mx_x2y1", self.mx_x2y1),
            ("color.mx_x1y2", self.mx_x1y2),
            ("color.mx_x2y0", self.mx_x2y0),
            ("color.mx_x0y2", self.mx_x0y2),
            ("color.mx_x1y1", self.mx_x1y1),
            ("color.mx_x1y0", self.mx_x1y0),
            ("color.mx_x0y1", self.mx_x0y1),
            ("color.mx_x0y0", self.mx_x0y0),
            ("color.my_x3y0", self.my_x3y0),
            ("color.my_x0y3", self.my_x0y3),
            ("color.my_x2y1", self.my_x2y1),
            ("color.my_x1y2", self.my_x1y2),
            ("color.my_x2y0", self.my_x2y0),
            ("color.my_x0y2", self.my_x0y2),
            ("color.my_x1y1", self.my_x1y1),
            ("color.my_x1y0", self.my_x1y0),
            ("color.my_x0y1", self.my_x0y1),
            ("color.my_x0y0", self.my_x0y0),
        ]
    }
}

impl Calibration {
    /// Typical Kinect v2 values: [`IrCameraParams::KINECT_V2_TYPICAL`] and
    /// [`ColorCameraParams::KINECT_V2_TYPICAL`].
    pub const KINECT_V2_TYPICAL: Calibration = Calibration {
        ir: IrCameraParams::KINECT_V2_TYPICAL,
        color: ColorCameraParams::KINECT_V2_TYPICAL,
    };

    /// The JSON value of the `"calibration"` object. Non-finite fields (which no device reports)
    /// are written as `null`, which [`Calibration::from_json`] rejects.
    pub fn to_json(&self) -> serde_json::Value {
        // Through text, not `serde_json::to_value`: the text writer prints each f32 in its
        // shortest form (368.147), while a `Value` would widen it to f64 (368.14700317382812).
        // Cannot fail: the struct holds only f32 fields with string names, and the text is JSON.
        let text = serde_json::to_vec(self).expect("calibration always serialises");
        serde_json::from_slice(&text).expect("serde_json reads what it wrote")
    }

    /// Reads a `"calibration"` object, checking that every field is a finite `f32`.
    pub fn from_json(value: serde_json::Value) -> Result<Self, CalibrationError> {
        let calibration: Calibration = serde_json::from_value(value)
            .map_err(|error| CalibrationError::Invalid(error.to_string()))?;
        calibration.check_finite()?;
        Ok(calibration)
    }

    /// `Ok` if every field is finite (serde reads `1e39` as an infinite `f32`).
    pub fn check_finite(&self) -> Result<(), CalibrationError> {
        let ir = self.ir.fields();
        let color = self.color.fields();
        match ir.iter().chain(color.iter()).find(|(_, v)| !v.is_finite()) {
            Some((name, _)) => Err(CalibrationError::NotFinite(name)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_every_f32_exactly() {
        let json = Calibration::KINECT_V2_TYPICAL.to_json();
        assert_eq!(json["ir"]["fx"], serde_json::json!(368.147));
        assert_eq!(json["color"]["my_x0y0"], serde_json::json!(-0.000370404));
        assert_eq!(
            Calibration::from_json(json).unwrap(),
            Calibration::KINECT_V2_TYPICAL
        );
    }

    #[test]
    fn missing_fields_and_out_of_range_numbers_are_rejected() {
        let mut json = Calibration::KINECT_V2_TYPICAL.to_json();
        json["ir"].as_object_mut().unwrap().remove("k3");
        assert!(matches!(
            Calibration::from_json(json),
            Err(CalibrationError::Invalid(_))
        ));
        let mut json = Calibration::KINECT_V2_TYPICAL.to_json();
        json["color"]["shift_d"] = serde_json::json!(1e300);
        assert!(Calibration::from_json(json).is_err());
        let mut json = Calibration::KINECT_V2_TYPICAL.to_json();
        json["color"]["cx"] = serde_json::json!("959.5");
        assert!(Calibration::from_json(json).is_err());
    }

    #[test]
    fn unknown_fields_are_ignored_for_later_additions() {
        let mut json = Calibration::KINECT_V2_TYPICAL.to_json();
        json["ir"]["depth_q"] = serde_json::json!(0.01);
        json["extrinsics"] = serde_json::json!({});
        assert_eq!(
            Calibration::from_json(json).unwrap(),
            Calibration::KINECT_V2_TYPICAL
        );
    }
}
