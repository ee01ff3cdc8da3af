//! Depth to 3D points, and the colour of each point: libfreenect2's registration as pure functions.
//!
//! Two steps, as libfreenect2's `Registration` does them, so that a client gets the numbers a
//! libfreenect2 user would get from the same frames and the same
//! [`Calibration`](crate::calibration::Calibration):
//!
//! 1. **Undistortion and back-projection** ([`Undistortion`], needs only the
//!    [`IrCameraParams`](crate::calibration::IrCameraParams)). For every pixel of the undistorted
//!    image, the Brown-Conrady model gives the pixel of the raw depth frame that sees the same
//!    ray; its depth is taken as it is (nearest neighbour, no interpolation, so no depth is
//!    invented between a foreground and a background pixel). Pixel `(row, col)` with depth `z`
//!    metres is then the point `((col + 0.5 - cx) * z / fx, (row + 0.5 - cy) * z / fy, z)`: x to
//!    the right, y down, z forward, in the depth camera's frame, in metres. Pixels with no depth
//!    (0 mm, or a ray that leaves the raw image) are holes and are left out of a point cloud.
//! 2. **Registration** ([`Registration`], needs the
//!    [`ColorCameraParams`](crate::calibration::ColorCameraParams) too). Each undistorted pixel
//!    maps to a colour pixel through libfreenect2's two cubic polynomials and its depth-dependent
//!    x shift (see [`ColorCameraParams`](crate::calibration::ColorCameraParams)). As the colour
//!    camera sits beside the depth camera, a far pixel can map to a colour pixel that actually
//!    shows a nearer surface; the occlusion filter (libfreenect2's default) drops the colour of
//!    any pixel more than 1 % farther than the nearest depth pixel mapped into a 5 x 3
//!    colour-pixel window around it.
//!
//! libfreenect2 fixes the shapes at 512 x 424 depth and 1920 x 1080 colour; here the depth shape is
//! the frame's and the colour shape the image's, and every colour pixel is bounds-checked (where
//! libfreenect2 lets a column beyond the right edge wrap into the next row, this leaves the point
//! without colour). With Kinect v2 shapes and depths from 0.5 m the results are identical, bit for
//! bit: `tests/registration_golden.rs` checks them against numbers produced by libfreenect2's own
//! `registration.cpp` (`scripts/libfreenect2-golden/`).
//!
//! ```
//! use sk2_proto::calibration::Calibration;
//! use sk2_proto::registration::Registration;
//! use sk2_proto::DepthFrame;
//!
//! let depth = DepthFrame::new(512, 424, vec![2000; 512 * 424])?; // a wall 2 m away
//! let registration = Registration::new(&Calibration::KINECT_V2_TYPICAL, 512, 424)?;
//! let cloud = registration.point_cloud(&depth)?;
//! assert!(cloud.len() > 200_000); // the corners of the undistorted image have no depth pixel
//! assert!(cloud.points().column(2).iter().all(|&z| z == 2.0));
//!
//! let color = ndarray::Array3::<u8>::from_elem((1080, 1920, 3), 200); // an RGB image
//! let colored = registration.colored_point_cloud(&depth, color.view())?;
//! assert_eq!(colored.colors().shape(), &[colored.len(), 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cloud;
mod error;
mod register;
mod undistortion;

pub use cloud::{ColoredPointCloud, PointCloud, RegisteredFrame};
pub use error::RegistrationError;
pub use register::Registration;
pub use undistortion::Undistortion;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::Calibration;
    use crate::frame::DepthFrame;
    use ndarray::Array3;

    fn typical() -> Registration {
        Registration::new(&Calibration::KINECT_V2_TYPICAL, 512, 424).unwrap()
    }

    #[test]
    fn a_frame_of_another_shape_is_refused() {
        let depth = DepthFrame::zeros(640, 480).unwrap();
        assert!(matches!(
            typical().point_cloud(&depth),
            Err(RegistrationError::DepthShape { width: 640, .. })
        ));
    }

    #[test]
    fn a_colour_image_that_is_not_rgb_is_refused() {
        let depth = DepthFrame::zeros(512, 424).unwrap();
        let rgba = Array3::<u8>::zeros((1080, 1920, 4));
        assert!(matches!(
            typical().register(&depth, rgba.view(), true),
            Err(RegistrationError::BadShape(_))
        ));
    }

    #[test]
    fn a_zero_focal_length_is_refused() {
        let mut calibration = Calibration::KINECT_V2_TYPICAL;
        calibration.ir.fy = 0.0;
        assert_eq!(
            Registration::new(&calibration, 512, 424).unwrap_err(),
            RegistrationError::BadCalibration("ir.fy")
        );
        calibration = Calibration::KINECT_V2_TYPICAL;
        calibration.color.my_x1y1 = f32::NAN;
        assert!(Registration::new(&calibration, 512, 424).is_err());
        calibration = Calibration::KINECT_V2_TYPICAL;
        calibration.color.shift_d = 0.0;
        assert_eq!(
            Registration::new(&calibration, 512, 424).unwrap_err(),
            RegistrationError::BadCalibration("color.shift_d")
        );
    }

    #[test]
    fn an_all_hole_frame_gives_an_empty_cloud() {
        let depth = DepthFrame::zeros(512, 424).unwrap();
        let cloud = typical().point_cloud(&depth).unwrap();
        assert!(cloud.is_empty());
        assert_eq!(cloud.points().shape(), &[0, 3]);
    }

    #[test]
    fn a_tiny_colour_image_leaves_most_points_without_colour_and_never_panics() {
        let depth = DepthFrame::new(512, 424, vec![600; 512 * 424]).unwrap();
        let color = Array3::<u8>::from_elem((2, 3, 3), 9);
        let cloud = typical().colored_point_cloud(&depth, color.view()).unwrap();
        assert!(!cloud.is_empty());
        assert!(cloud.has_color().iter().all(|&seen| !seen));
        assert!(cloud.colors().iter().all(|&c| c == 0));
    }

    #[test]
    fn every_depth_survives_as_z_and_points_fan_out_from_the_principal_point() {
        let registration = typical();
        let depth = DepthFrame::new(512, 424, vec![1500; 512 * 424]).unwrap();
        let cloud = registration.point_cloud(&depth).unwrap();
        let points = cloud.points();
        assert!(points.column(2).iter().all(|&z| z == 1.5));
        let ir = Calibration::KINECT_V2_TYPICAL.ir;
        for (point, &pixel) in points.rows().into_iter().zip(cloud.pixels()) {
            let (row, col) = ((pixel / 512) as f32, (pixel % 512) as f32);
            assert_eq!(point[0] > 0.0, col + 0.5 > ir.cx);
            assert_eq!(point[1] > 0.0, row + 0.5 > ir.cy);
            let expected_x = (col + 0.5 - ir.cx) / ir.fx * 1.5;
            assert!((point[0] - expected_x).abs() < 1e-5);
        }
    }
}
