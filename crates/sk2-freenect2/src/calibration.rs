//! The Kinect v2's factory calibration as libfreenect2 reads it from the device while starting
//! its streams: [`IrCameraParams`] (the depth camera) and [`ColorCameraParams`].

/// The IR (depth) camera's intrinsics, in depth pixels (512 x 424), and its Brown-Conrady
/// distortion: libfreenect2's `Freenect2Device::IrCameraParams`, field for field.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IrCameraParams {
    /// Focal length along x, pixels.
    pub fx: f32,
    /// Focal length along y, pixels.
    pub fy: f32,
    /// Principal point x, pixels.
    pub cx: f32,
    /// Principal point y, pixels.
    pub cy: f32,
    /// Radial distortion, 2nd order.
    pub k1: f32,
    /// Radial distortion, 4th order.
    pub k2: f32,
    /// Radial distortion, 6th order.
    pub k3: f32,
    /// Tangential distortion.
    pub p1: f32,
    /// Tangential distortion.
    pub p2: f32,
}

/// The colour camera's intrinsics, in colour pixels (1920 x 1080), and the coefficients of
/// libfreenect2's depth-to-colour mapping (its `Registration`): libfreenect2's
/// `Freenect2Device::ColorCameraParams`. The mapping is not a matrix: a depth pixel's undistorted
/// position is mapped through two cubic polynomials in x and y (`mx`, `my`), then shifted by
/// `shift_m / depth` scaled by `shift_d`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ColorCameraParams {
    /// Focal length along x, pixels.
    pub fx: f32,
    /// Focal length along y, pixels.
    pub fy: f32,
    /// Principal point x, pixels.
    pub cx: f32,
    /// Principal point y, pixels.
    pub cy: f32,
    /// Depth shift numerator of the mapping.
    pub shift_d: f32,
    /// Depth shift of the mapping.
    pub shift_m: f32,
    /// Polynomial for x, coefficients of x³, y³, x²y, xy², x², y², xy, x, y, 1 (libfreenect2's
    /// `mx_x3y0` ... `mx_x0y0`, in that order).
    pub mx: [f32; 10],
    /// Polynomial for y, same order (`my_x3y0` ... `my_x0y0`).
    pub my: [f32; 10],
}

/// Both cameras' calibration.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CameraParams {
    /// The IR (depth) camera.
    pub ir: IrCameraParams,
    /// The colour camera and the depth-to-colour mapping.
    pub color: ColorCameraParams,
}

impl CameraParams {
    /// Whether every value is finite, and the focal lengths positive: what a device that
    /// reported its calibration gives (libfreenect2's values before a start are undefined).
    pub fn is_plausible(&self) -> bool {
        let ir = [
            self.ir.fx, self.ir.fy, self.ir.cx, self.ir.cy, self.ir.k1, self.ir.k2, self.ir.k3,
            self.ir.p1, self.ir.p2,
        ];
        let color = [
            self.color.fx,
            self.color.fy,
            self.color.cx,
            self.color.cy,
            self.color.shift_d,
            self.color.shift_m,
        ];
        let all_finite = ir
            .iter()
            .chain(&color)
            .chain(&self.color.mx)
            .chain(&self.color.my)
            .all(|value| value.is_finite());
        all_finite
            && [self.ir.fx, self.ir.fy, self.color.fx, self.color.fy]
                .iter()
                .all(|&focal| focal > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finite_calibrations_with_positive_focal_lengths_are_plausible() {
        let mut params = CameraParams {
            ir: IrCameraParams {
                fx: 365.0,
                fy: 365.0,
                ..IrCameraParams::default()
            },
            color: ColorCameraParams {
                fx: 1081.0,
                fy: 1081.0,
                ..ColorCameraParams::default()
            },
        };
        assert!(params.is_plausible());
        params.color.my[3] = f32::NAN;
        assert!(!params.is_plausible());
        params.color.my[3] = 0.0;
        params.ir.fy = 0.0;
        assert!(!params.is_plausible());
        assert!(!CameraParams::default().is_plausible());
    }
}
