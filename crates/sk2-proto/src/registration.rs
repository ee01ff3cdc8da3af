//! Depth to 3D points, and the colour of each point: libfreenect2's registration as pure functions.
//!
//! Two steps, as libfreenect2's `Registration` does them, so that a client gets the numbers a
//! libfreenect2 user would get from the same frames and the same [`Calibration`]:
//!
//! 1. **Undistortion and back-projection** ([`Undistortion`], needs only the
//!    [`IrCameraParams`]). For every pixel of the undistorted image, the Brown-Conrady model gives
//!    the pixel of the raw depth frame that sees the same ray; its depth is taken as it is (nearest
//!    neighbour, no interpolation, so no depth is invented between a foreground and a background
//!    pixel). Pixel `(row, col)` with depth `z` metres is then the point
//!    `((col + 0.5 - cx) * z / fx, (row + 0.5 - cy) * z / fy, z)`: x to the right, y down, z
//!    forward, in the depth camera's frame, in metres. Pixels with no depth (0 mm, or a ray that
//!    leaves the raw image) are holes and are left out of a point cloud.
//! 2. **Registration** ([`Registration`], needs the [`ColorCameraParams`] too). Each undistorted
//!    pixel maps to a colour pixel through libfreenect2's two cubic polynomials and its
//!    depth-dependent x shift (see [`ColorCameraParams`]). As the colour camera sits beside the
//!    depth camera, a far pixel can map to a colour pixel that actually shows a nearer surface;
//!    the occlusion filter (libfreenect2's default) drops the colour of any pixel more than 1 %
//!    farther than the nearest depth pixel mapped into a 5 x 3 colour-pixel window around it.
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

use ndarray::{Array1, Array2, Array3, ArrayView3};

use crate::calibration::{Calibration, ColorCameraParams, IrCameraParams};
use crate::frame::{DepthFrame, MAX_FRAME_PIXELS};

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
/// Depths at or below this, in metres, are holes in a point cloud (libfreenect2's threshold).
const MIN_POINT_DEPTH_M: f64 = 0.001;

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

/// A point cloud: `N` points as an `N x 3` array of `(x, y, z)` metres in the depth camera's frame
/// (x right, y down, z forward), holes left out, in row-major pixel order.
#[derive(Debug, Clone, PartialEq)]
pub struct PointCloud {
    points: Array2<f32>,
    pixels: Array1<u32>,
}

impl PointCloud {
    /// The `N x 3` points, metres.
    pub fn points(&self) -> &Array2<f32> {
        &self.points
    }

    /// For each point, the index `row * width + col` of its pixel in the (undistorted) depth image.
    pub fn pixels(&self) -> &Array1<u32> {
        &self.pixels
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.pixels.len()
    }

    /// `true` if no pixel had a depth.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The points alone, without copying.
    pub fn into_points(self) -> Array2<f32> {
        self.points
    }
}

/// A [`PointCloud`] with the registered colour of every point.
#[derive(Debug, Clone, PartialEq)]
pub struct ColoredPointCloud {
    cloud: PointCloud,
    colors: Array2<u8>,
    has_color: Array1<bool>,
}

impl ColoredPointCloud {
    /// The `N x 3` points, metres.
    pub fn points(&self) -> &Array2<f32> {
        self.cloud.points()
    }

    /// The `N x 3` RGB colours, one row per point; black where [`has_color`](Self::has_color) is
    /// `false`.
    pub fn colors(&self) -> &Array2<u8> {
        &self.colors
    }

    /// For each point, whether the colour camera saw it: `false` when it maps outside the colour
    /// image or the occlusion filter found a nearer surface in front of it there.
    pub fn has_color(&self) -> &Array1<bool> {
        &self.has_color
    }

    /// For each point, the index `row * width + col` of its pixel in the (undistorted) depth image.
    pub fn pixels(&self) -> &Array1<u32> {
        self.cloud.pixels()
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.cloud.len()
    }

    /// `true` if no pixel had a depth.
    pub fn is_empty(&self) -> bool {
        self.cloud.is_empty()
    }

    /// The points without their colours.
    pub fn into_point_cloud(self) -> PointCloud {
        self.cloud
    }
}

/// A depth frame registered to a colour image, pixel for pixel: libfreenect2's `undistorted` and
/// `registered` frames and its `color_depth_map`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredFrame {
    /// The undistorted depth, millimetres, `(height, width)`; `0.0` where there is none.
    pub undistorted_mm: Array2<f32>,
    /// The colour of each undistorted depth pixel, `(height, width, 3)` RGB; black where none.
    pub color: Array3<u8>,
    /// For each undistorted depth pixel, `row * color_width + col` of its colour pixel, or `-1`
    /// when it has no depth or maps outside the colour image. Set before the occlusion filter.
    pub color_index: Array2<i32>,
    /// For each undistorted depth pixel, whether it keeps its colour (after the filter, if on).
    pub has_color: Array2<bool>,
}

/// Undistorts depth frames of one shape and turns them into point clouds: step 1 of the
/// [module docs](self). Build once per sensor (it precomputes a table of one `i32` per pixel).
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

    fn cloud_of(&self, undistorted_mm: &[f32]) -> PointCloud {
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

/// Registers depth frames of one shape to colour images: both steps of the [module docs](self).
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

/// libfreenect2's `depth_to_color`: the colour coordinates of undistorted depth pixel `(x, y)`
/// before the depth-dependent shift: x normalised (times `fx`, plus `cx`, once shifted), y in
/// pixels. Term order as libfreenect2's, so rounding matches it.
fn depth_to_color(ir: &IrCameraParams, c: &ColorCameraParams, x: f32, y: f32) -> (f32, f32) {
    let mx = (x - ir.cx) * DEPTH_Q;
    let my = (y - ir.cy) * DEPTH_Q;
    let wx = (mx * mx * mx * c.mx_x3y0)
        + (my * my * my * c.mx_x0y3)
        + (mx * mx * my * c.mx_x2y1)
        + (my * my * mx * c.mx_x1y2)
        + (mx * mx * c.mx_x2y0)
        + (my * my * c.mx_x0y2)
        + (mx * my * c.mx_x1y1)
        + (mx * c.mx_x1y0)
        + (my * c.mx_x0y1)
        + c.mx_x0y0;
    let wy = (mx * mx * mx * c.my_x3y0)
        + (my * my * my * c.my_x0y3)
        + (mx * mx * my * c.my_x2y1)
        + (my * my * mx * c.my_x1y2)
        + (mx * mx * c.my_x2y0)
        + (my * my * c.my_x0y2)
        + (mx * my * c.my_x1y1)
        + (mx * c.my_x1y0)
        + (my * c.my_x0y1)
        + c.my_x0y0;
    let rx = (wx / (c.fx * COLOR_Q)) - (c.shift_m / c.shift_d);
    let ry = (wy / COLOR_Q) + c.cy;
    (rx, ry)
}

fn check_shape(shape: &[usize]) -> Result<(), RegistrationError> {
    let pixels = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    match pixels {
        Some(pixels) if (1..=MAX_FRAME_PIXELS).contains(&pixels) => Ok(()),
        _ => Err(RegistrationError::BadShape(shape.to_vec())),
    }
}

/// Registration divides by these; every other field only has to be finite.
fn check_calibration(calibration: &Calibration) -> Result<(), RegistrationError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
