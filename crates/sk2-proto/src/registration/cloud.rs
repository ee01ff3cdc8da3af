//! What registration gives: point clouds without and with colour, and a depth frame registered
//! to a colour image pixel for pixel.

use ndarray::{Array1, Array2, Array3};

/// A point cloud: `N` points as an `N x 3` array of `(x, y, z)` metres in the depth camera's frame
/// (x right, y down, z forward), holes left out, in row-major pixel order.
#[derive(Debug, Clone, PartialEq)]
pub struct PointCloud {
    pub(super) points: Array2<f32>,
    pub(super) pixels: Array1<u32>,
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
    pub(super) cloud: PointCloud,
    pub(super) colors: Array2<u8>,
    pub(super) has_color: Array1<bool>,
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
