//! Step 2 of registration: [`Registration`] maps each undistorted depth pixel to a colour pixel
//! (libfreenect2's colour polynomials and depth-dependent shift) and filters out colour seen
//! through a nearer surface.

use ndarray::{Array1, Array2, Array3, ArrayView3};

use super::cloud::{ColoredPointCloud, PointCloud, RegisteredFrame};
use super::error::{check_calibration, check_shape, RegistrationError};
use super::undistortion::Undistortion;
use crate::calibration::{Calibration, ColorCameraParams, IrCameraParams};
use crate::frame::DepthFrame;

/// libfreenect2's scale of normalised depth coordinates in the colour polynomials (`depth_q`):
/// a constant of the Kinect v2 firmware's calibration format, not a device parameter.
const DEPTH_Q: f32 = 0.01;
/// libfreenect2's scale of the colour polynomials' output (`color_q`), likewise fixed.
const COLOR_Q: f32 = 0.002199;
/// Half width, in colour pixels, of the occlusion filter's window (libfreenect2's value).
const FILTER_WIDTH_HALF: usize = 2;
/// Half height, in colour pixels, of the occlusion filter's window (libfreenect2's value).
const FILTER_HEIGHT_HALF: usize = 1;
/// How much farther (as a fraction of its own depth) than the nearest depth pixel mapped near the
/// same colour pixel a point may be and keep its colour (libfreenect2's value: 1 %).
const FILTER_TOLERANCE: f32 = 0.01;

/// Registers depth frames of one shape to colour images: both steps of the [module docs](super).
/// Build once per sensor (it precomputes three tables of one word per depth pixel).
#[derive(Clone)]
pub struct Registration {
    undistortion: Undistortion,
    color: ColorCameraParams,
    /// Per undistorted pixel: the colour x coordinate before the depth-dependent shift,
    /// normalised (libfreenect2's `depth_to_color_map_x`).
    color_x_unshifted: Vec<f32>,
    /// Per undistorted pixel: the colour row (libfreenect2's `depth_to_color_map_yi`).
    color_row: Vec<i32>,
    /// Per undistorted pixel: the exact colour y coordinate, pixels.
    color_y: Vec<f32>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("undistortion", &self.undistortion)
            .field("color", &self.color)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// Precomputes the registration of `width x height` depth frames with `calibration`.
    pub fn new(
        calibration: &Calibration,
        width: usize,
        height: usize,
    ) -> Result<Self, RegistrationError> {
        let undistortion = Undistortion::new(&calibration.ir, width, height)?;
        check_calibration(calibration)?;
        let color = calibration.color;
        let ir = &calibration.ir;
        let pixels = width * height;
        let mut color_x_unshifted = Vec::with_capacity(pixels);
        let mut color_row = Vec::with_capacity(pixels);
        let mut color_y = Vec::with_capacity(pixels);
        for y in 0..height {
            for x in 0..width {
                let (rx, ry) = depth_to_color(ir, &color, x as f32, y as f32);
                color_x_unshifted.push(rx);
                color_y.push(ry);
                // Truncation after + 0.5, as libfreenect2 rounds; `as` saturates far outside.
                color_row.push((ry + 0.5) as i32);
            }
        }
        Ok(Self {
            undistortion,
            color,
            color_x_unshifted,
            color_row,
            color_y,
        })
    }

    /// The undistortion and point clouds alone (step 1).
    pub fn undistortion(&self) -> &Undistortion {
        &self.undistortion
    }

    /// `(width, height)` of the depth frames this registers.
    pub fn shape(&self) -> (usize, usize) {
        self.undistortion.shape()
    }

    /// The colour image coordinates `(x, y)`, pixels, that undistorted depth pixel `(col, row)` at
    /// `depth_mm` maps to: libfreenect2's single-point `Registration::apply`. `None` if the pixel
    /// is outside the depth image.
    pub fn color_coordinates(&self, col: usize, row: usize, depth_mm: f32) -> Option<(f32, f32)> {
        let (width, height) = self.shape();
        if col >= width || row >= height {
            return None;
        }
        let index = row * width + col;
        let rx = self.color_x_unshifted[index] + self.color.shift_m / depth_mm;
        Some((rx * self.color.fx + self.color.cx, self.color_y[index]))
    }

    /// The point cloud of `depth` without colour (see [`Undistortion::point_cloud`]).
    pub fn point_cloud(&self, depth: &DepthFrame) -> Result<PointCloud, RegistrationError> {
        self.undistortion.point_cloud(depth)
    }

    /// The point cloud of `depth` with the colour of each point from `color`, an RGB image
    /// `(height, width, 3)` taken at the same moment (libfreenect2's `apply` with the occlusion
    /// filter, then `getPointXYZRGB` per pixel).
    pub fn colored_point_cloud(
        &self,
        depth: &DepthFrame,
        color: ArrayView3<'_, u8>,
    ) -> Result<ColoredPointCloud, RegistrationError> {
        let registered = self.register(depth, color, true)?;
        let undistorted = registered.undistorted_mm.as_slice().unwrap_or(&[]);
        let cloud = self.undistortion.cloud_of(undistorted);
        let mut colors = Array2::zeros((cloud.len(), 3));
        let mut has_color = Array1::from_elem(cloud.len(), false);
        let (width, _) = self.shape();
        for (point, &pixel) in cloud.pixels.iter().enumerate() {
            let (row, col) = (pixel as usize / width, pixel as usize % width);
            if registered.has_color[[row, col]] {
                has_color[point] = true;
                for channel in 0..3 {
                    colors[[point, channel]] = registered.color[[row, col, channel]];
                }
            }
        }
        Ok(ColoredPointCloud {
            cloud,
            colors,
            has_color,
        })
    }

    /// Registers `depth` to `color` (RGB, `(height, width, 3)`), image to image: libfreenect2's
    /// `Registration::apply`, with its occlusion filter when `filter` is `true` (its default).
    pub fn register(
        &self,
        depth: &DepthFrame,
        color: ArrayView3<'_, u8>,
        filter: bool,
    ) -> Result<RegisteredFrame, RegistrationError> {
        let shape = color.shape();
        if shape[2] != 3 {
            return Err(RegistrationError::BadShape(shape.to_vec()));
        }
        let (color_height, color_width) = (shape[0], shape[1]);
        check_shape(&[color_height, color_width])?;
        let undistorted_mm = self.undistortion.undistort(depth)?;
        let (width, height) = self.shape();
        let undistorted = undistorted_mm.as_slice().unwrap_or(&[]);
        let color_cx = self.color.cx + 0.5; // + 0.5 so that truncation rounds
        let color_index: Vec<i32> = undistorted
            .iter()
            .enumerate()
            .map(|(index, &z)| {
                if z <= 0.0 {
                    return -1;
                }
                let rx = (self.color_x_unshifted[index] + self.color.shift_m / z) * self.color.fx
                    + color_cx;
                let (col, row) = (rx as i64, i64::from(self.color_row[index]));
                let inside = (0..color_width as i64).contains(&col)
                    && (0..color_height as i64).contains(&row);
                // Cannot overflow: inside the image, the index is below MAX_FRAME_PIXELS (2^24).
                if inside {
                    (row * color_width as i64 + col) as i32
                } else {
                    -1
                }
            })
            .collect();
        let keeps_color: Vec<bool> = if filter {
            let nearest = nearest_depth_near_color_pixel(
                undistorted,
                &color_index,
                color_width,
                color_height,
            );
            color_index
                .iter()
                .zip(undistorted)
                .map(|(&target, &z)| match usize::try_from(target) {
                    Ok(target) => (z - nearest[target]) / z <= FILTER_TOLERANCE,
                    Err(_) => false,
                })
                .collect()
        } else {
            color_index.iter().map(|&target| target >= 0).collect()
        };
        let color = color.as_standard_layout();
        let color_pixels = color.as_slice().unwrap_or(&[]);
        let mut registered = Vec::with_capacity(width * height * 3);
        for (&target, &keep) in color_index.iter().zip(&keeps_color) {
            match usize::try_from(target) {
                Ok(target) if keep => {
                    registered.extend_from_slice(&color_pixels[target * 3..target * 3 + 3])
                }
                _ => registered.extend_from_slice(&[0, 0, 0]),
            }
        }
        // Cannot fail below: every vector holds one value (three for colour) per depth pixel.
        Ok(RegisteredFrame {
            undistorted_mm,
            color: Array3::from_shape_vec((height, width, 3), registered).expect("3 per pixel"),
            color_index: Array2::from_shape_vec((height, width), color_index).expect("1 per pixel"),
            has_color: Array2::from_shape_vec((height, width), keeps_color).expect("1 per pixel"),
        })
    }
}

/// For each colour pixel, the smallest depth (mm) of the depth pixels mapped into the filter window
/// around it (infinity where none): libfreenect2's filter map, clipped at the image's edges.
fn nearest_depth_near_color_pixel(
    undistorted: &[f32],
    color_index: &[i32],
    color_width: usize,
    color_height: usize,
) -> Vec<f32> {
    let mut nearest = vec![f32::INFINITY; color_width * color_height];
    for (&target, &z) in color_index.iter().zip(undistorted) {
        let Ok(target) = usize::try_from(target) else {
            continue;
        };
        let (row, col) = (target / color_width, target % color_width);
        let rows = row.saturating_sub(FILTER_HEIGHT_HALF)..=(row + FILTER_HEIGHT_HALF);
        for r in rows.filter(|&r| r < color_height) {
            let first = col.saturating_sub(FILTER_WIDTH_HALF);
            let last = (col + FILTER_WIDTH_HALF).min(color_width - 1);
            for slot in &mut nearest[r * color_width + first..=r * color_width + last] {
                if z < *slot {
                    *slot = z;
                }
            }
        }
    }
    nearest
}

/// libfreenect2's `depth_to_color`: the colour coordinates of undistorted depth pixel `(x, y)`
/// before the depth-dependent shift: x normalised (times `fx`, plus `cx`, once shifted), y in
/// pixels. Term order as libfreenect2's, so rounding matches it.
fn depth_to_color(ir: &IrCameraParams, c: &ColorCameraParams, x: f32, y: f32) -> (f32, f32) {
    let mx = (x - ir.cx) * DEPTH_Q;
    let my = (y - ir.cy) * DEPTH_Q;
    let wx = cubic(
        mx,
        my,
        [
            c.mx_x3y0, c.mx_x0y3, c.mx_x2y1, c.mx_x1y2, c.mx_x2y0, c.mx_x0y2, c.mx_x1y1, c.mx_x1y0,
            c.mx_x0y1, c.mx_x0y0,
        ],
    );
    let wy = cubic(
        mx,
        my,
        [
            c.my_x3y0, c.my_x0y3, c.my_x2y1, c.my_x1y2, c.my_x2y0, c.my_x0y2, c.my_x1y1, c.my_x1y0,
            c.my_x0y1, c.my_x0y0,
        ],
    );
    let rx = (wx / (c.fx * COLOR_Q)) - (c.shift_m / c.shift_d);
    let ry = (wy / COLOR_Q) + c.cy;
    (rx, ry)
}

/// The colour camera's cubic in `(mx, my)`, coefficients in the order x³, y³, x²y, xy², x², y²,
/// xy, x, y, 1: summed in that order, as libfreenect2 does, so the rounding is the same.
fn cubic(mx: f32, my: f32, k: [f32; 10]) -> f32 {
    (mx * mx * mx * k[0])
        + (my * my * my * k[1])
        + (mx * mx * my * k[2])
        + (my * my * mx * k[3])
        + (mx * mx * k[4])
        + (my * my * k[5])
        + (mx * my * k[6])
        + (mx * k[7])
        + (my * k[8])
        + k[9]
}
