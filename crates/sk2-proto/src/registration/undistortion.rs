//! Step 1 of registration: [`Undistortion`] of depth frames through the depth camera's lens
//! (Brown-Conrady) and their back-projection into point clouds.

use ndarray::{Array1, Array2};

use super::cloud::PointCloud;
use super::error::{check_calibration, check_shape, RegistrationError};
use crate::calibration::{Calibration, ColorCameraParams, IrCameraParams};
use crate::frame::DepthFrame;

/// Depths at or below this, in metres, are holes in a point cloud (libfreenect2's threshold).
const MIN_POINT_DEPTH_M: f64 = 0.001;

/// Undistorts depth frames of one shape and turns them into point clouds: step 1 of the
/// [module docs](super). Build once per sensor (it precomputes a table of one `i32` per pixel).
#[derive(Clone)]
pub struct Undistortion {
    ir: IrCameraParams,
    width: usize,
    height: usize,
    /// For each undistorted pixel, the raw pixel index it reads, or -1 outside the raw image.
    source_index: Vec<i32>,
}

impl std::fmt::Debug for Undistortion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Undistortion")
            .field("ir", &self.ir)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl Undistortion {
    /// Precomputes the undistortion of `width x height` depth frames taken through `ir`.
    pub fn new(
        ir: &IrCameraParams,
        width: usize,
        height: usize,
    ) -> Result<Self, RegistrationError> {
        check_shape(&[height, width])?;
        // The colour half is not used here; the typical values are finite and non-zero.
        check_calibration(&Calibration {
            ir: *ir,
            color: ColorCameraParams::KINECT_V2_TYPICAL,
        })?;
        let mut source_index = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let (raw_x, raw_y) = distort(ir, x as f32, y as f32);
                // Truncation after + 0.5, as libfreenect2 rounds (so -0.4 also lands on 0).
                let (ix, iy) = ((raw_x + 0.5) as i64, (raw_y + 0.5) as i64);
                let inside = (0..width as i64).contains(&ix) && (0..height as i64).contains(&iy);
                // Cannot overflow: inside the image, the index is below MAX_FRAME_PIXELS (2^24).
                source_index.push(if inside {
                    (iy * width as i64 + ix) as i32
                } else {
                    -1
                });
            }
        }
        Ok(Self {
            ir: *ir,
            width,
            height,
            source_index,
        })
    }

    /// `(width, height)` of the frames this undistorts.
    pub fn shape(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The undistorted depth, millimetres, `(height, width)`, `0.0` where there is none: what
    /// libfreenect2's `undistortDepth` writes.
    pub fn undistort(&self, depth: &DepthFrame) -> Result<Array2<f32>, RegistrationError> {
        self.check_frame(depth)?;
        let raw = depth.depth_mm();
        let undistorted: Vec<f32> = self
            .source_index
            .iter()
            .map(|&index| match usize::try_from(index) {
                Ok(index) => f32::from(raw[index]),
                Err(_) => 0.0,
            })
            .collect();
        // Cannot fail: one value per pixel of a (height, width) image.
        Ok(
            Array2::from_shape_vec((self.height, self.width), undistorted)
                .expect("one value per pixel"),
        )
    }

    /// The point cloud of `depth`: every pixel with a depth, as libfreenect2's `getPointXYZ`
    /// computes it, holes left out.
    pub fn point_cloud(&self, depth: &DepthFrame) -> Result<PointCloud, RegistrationError> {
        let undistorted = self.undistort(depth)?;
        Ok(self.cloud_of(undistorted.as_slice().unwrap_or(&[])))
    }

    pub(super) fn cloud_of(&self, undistorted_mm: &[f32]) -> PointCloud {
        // Sized for a frame without holes: one allocation each, the common case's exact size.
        let mut points = Vec::with_capacity(undistorted_mm.len() * 3);
        let mut pixels = Vec::with_capacity(undistorted_mm.len());
        for (index, &depth_mm) in undistorted_mm.iter().enumerate() {
            if let Some(point) = self.point_at(index, depth_mm) {
                points.extend_from_slice(&point);
                // Cannot truncate: a frame has at most MAX_FRAME_PIXELS (2^24) pixels.
                pixels.push(index as u32);
            }
        }
        let len = pixels.len();
        PointCloud {
            // Cannot fail: three values per point.
            points: Array2::from_shape_vec((len, 3), points).expect("three values per point"),
            pixels: Array1::from_vec(pixels),
        }
    }

    /// The 3-D point of undistorted pixel `index` at `depth_mm`, or `None` for a hole. The
    /// arithmetic is libfreenect2's, types included (the pixel centre offset is in `f64`), so the
    /// results match it bit for bit.
    fn point_at(&self, index: usize, depth_mm: f32) -> Option<[f32; 3]> {
        let z = depth_mm / 1000.0;
        if z.is_nan() || f64::from(z) <= MIN_POINT_DEPTH_M {
            return None;
        }
        let (row, col) = (index / self.width, index % self.width);
        let (inv_fx, inv_fy) = (1.0 / self.ir.fx, 1.0 / self.ir.fy);
        let x = (col as f64 + 0.5 - f64::from(self.ir.cx)) * f64::from(inv_fx) * f64::from(z);
        let y = (row as f64 + 0.5 - f64::from(self.ir.cy)) * f64::from(inv_fy) * f64::from(z);
        Some([x as f32, y as f32, z])
    }

    fn check_frame(&self, depth: &DepthFrame) -> Result<(), RegistrationError> {
        if (depth.width(), depth.height()) == (self.width, self.height) {
            Ok(())
        } else {
            Err(RegistrationError::DepthShape {
                expected_width: self.width,
                expected_height: self.height,
                width: depth.width(),
                height: depth.height(),
            })
        }
    }
}

/// Where the raw depth image sees the ray of undistorted pixel `(x, y)`: the Brown-Conrady model
/// with libfreenect2's operation order (so rounding matches it).
fn distort(ir: &IrCameraParams, x: f32, y: f32) -> (f32, f32) {
    let dx = (x - ir.cx) / ir.fx;
    let dy = (y - ir.cy) / ir.fy;
    let dx2 = dx * dx;
    let dy2 = dy * dy;
    let r2 = dx2 + dy2;
    let dxdy2 = 2.0 * dx * dy;
    let kr = 1.0 + ((ir.k3 * r2 + ir.k2) * r2 + ir.k1) * r2;
    let raw_x = ir.fx * (dx * kr + ir.p2 * (r2 + 2.0 * dx2) + ir.p1 * dxdy2) + ir.cx;
    let raw_y = ir.fy * (dy * kr + ir.p1 * (r2 + 2.0 * dy2) + ir.p2 * dxdy2) + ir.cy;
    (raw_x, raw_y)
}
