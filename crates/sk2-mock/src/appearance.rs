//! How the mock's scene looks to its infrared and colour cameras, computed from its geometry.
//!
//! The depth renderer gives, per depth pixel, the noise-free distance and the material it hit
//! (wall, ball, floor, corridor). From those this module derives:
//!
//! * infrared amplitude: the Kinect lights the scene itself, so amplitude is the material's IR
//!   albedo times the cosine between the surface normal and the ray back to the camera, over the
//!   squared distance (a ball at 1.2 m reads about 1000, the back wall at 3 m about 250);
//! * colour: the material's colour under a room light from the upper left (Lambert) plus ambient
//!   light, seen through the colour camera: each colour pixel looks up the depth pixel on the same
//!   ray, using the two cameras' typical intrinsics (the 25 mm between them is ignored).
//!
//! Surface normals come from the depth image itself (central differences of the back-projected
//! points), so the shading follows exactly the shapes the depth stream shows.

use sk2_proto::{Calibration, IrFrame};

/// What a depth pixel hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Material {
    /// The wall behind everything (plain mode) or the room's back wall.
    Wall = 0,
    /// The swinging sphere or ball.
    Ball = 1,
    /// The room's floor.
    Floor = 2,
    /// The corridor seen through the doorway.
    Corridor = 3,
}

impl Material {
    /// Colour as sRGB bytes.
    fn rgb(self) -> [f32; 3] {
        match self {
            Material::Wall => [226.0, 214.0, 188.0],
            Material::Ball => [204.0, 44.0, 32.0],
            Material::Floor => [146.0, 104.0, 62.0],
            Material::Corridor => [118.0, 130.0, 152.0],
        }
    }

    /// Share of the Kinect's 850 nm light sent back.
    fn ir_albedo(self) -> f32 {
        match self {
            Material::Wall => 0.8,
            Material::Ball => 0.5,
            Material::Floor => 0.4,
            Material::Corridor => 0.8,
        }
    }
}

/// IR amplitude of a head-on surface of albedo 1 at 1 m.
const IR_AMPLITUDE_AT_1_M: f32 = 3000.0;
/// Share of the IR light a surface sends back at a grazing angle (rough surfaces scatter).
const IR_SCATTER: f32 = 0.1;
/// Amplitude where nothing sent light back (depth holes): a little sensor noise.
const IR_DARK_AMPLITUDE: u16 = 12;
/// Share of the colour light that reaches surfaces facing away from the lamp.
const AMBIENT: f32 = 0.3;
/// Direction from the surfaces to the room's lamp (camera axes: x right, y down, z forward):
/// upper left, in front of the scene.
const LAMP_DIRECTION: [f32; 3] = [-0.40, -0.60, -0.69];

/// The noise-free geometry of one frame: millimetres (0 where the depth camera sees nothing) and
/// the material of each depth pixel.
pub(crate) struct Geometry<'a> {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) depth_mm: &'a [u16],
    pub(crate) material: &'a [Material],
}

/// Depth-camera intrinsics scaled to the mock's depth resolution (typical values are for 512
/// columns).
#[derive(Debug, Clone, Copy)]
struct DepthCamera {
    fx: f32,
    fy: f32,
    cx: f32,
    cy: f32,
}

impl DepthCamera {
    fn new(width: usize) -> Self {
        let ir = Calibration::KINECT_V2_TYPICAL.ir;
        let scale = width as f32 / sk2_proto::KINECT_V2_WIDTH_PX as f32;
        Self {
            fx: ir.fx * scale,
            fy: ir.fy * scale,
            cx: ir.cx * scale,
            cy: ir.cy * scale,
        }
    }

    fn point(&self, col: usize, row: usize, depth_mm: u16) -> [f32; 3] {
        let z = f32::from(depth_mm) / 1000.0;
        [
            (col as f32 - self.cx) * z / self.fx,
            (row as f32 - self.cy) * z / self.fy,
            z,
        ]
    }
}

impl Geometry<'_> {
    /// The unit surface normal at a depth pixel, facing the camera; `None` at holes and where a
    /// neighbour is a hole.
    fn normal(&self, camera: &DepthCamera, col: usize, row: usize) -> Option<[f32; 3]> {
        let at = |c: usize, r: usize| {
            let depth = self.depth_mm[r * self.width + c];
            (depth != 0).then(|| camera.point(c, r, depth))
        };
        let (left, right) = (col.saturating_sub(1), (col + 1).min(self.width - 1));
        let (up, down) = (row.saturating_sub(1), (row + 1).min(self.height - 1));
        let dx = sub(at(right, row)?, at(left, row)?);
        let dy = sub(at(col, down)?, at(col, up)?);
        let mut normal = cross(dy, dx);
        if normal[2] > 0.0 {
            normal = normal.map(|v| -v);
        }
        normalise(normal)
    }

    /// Infrared amplitudes, before sensor noise.
    pub(crate) fn infrared(&self) -> Vec<f32> {
        let camera = DepthCamera::new(self.width);
        let mut out = Vec::with_capacity(self.width * self.height);
        for row in 0..self.height {
            for col in 0..self.width {
                let index = row * self.width + col;
                let depth = self.depth_mm[index];
                let amplitude = match self.normal(&camera, col, row) {
                    Some(normal) if depth != 0 => {
                        let point = camera.point(col, row, depth);
                        let distance_sq = dot(point, point).max(1e-6);
                        let to_camera = point.map(|v| -v / distance_sq.sqrt());
                        // Rough surfaces scatter some light back even at grazing angles.
                        let facing =
                            IR_SCATTER + (1.0 - IR_SCATTER) * dot(normal, to_camera).max(0.0);
                        IR_AMPLITUDE_AT_1_M * self.material[index].ir_albedo() * facing
                            / distance_sq
                    }
                    _ => f32::from(IR_DARK_AMPLITUDE),
                };
                out.push(amplitude);
            }
        }
        out
    }

    /// Shaded colour of every depth pixel, as `f32` RGB triplets in 0..=255.
    pub(crate) fn shaded_rgb(&self) -> Vec<[u8; 3]> {
        let camera = DepthCamera::new(self.width);
        let lamp = normalise(LAMP_DIRECTION).unwrap_or([0.0, 0.0, -1.0]);
        let mut out = Vec::with_capacity(self.width * self.height);
        for row in 0..self.height {
            for col in 0..self.width {
                let index = row * self.width + col;
                let light = match self.normal(&camera, col, row) {
                    Some(normal) => AMBIENT + (1.0 - AMBIENT) * dot(normal, lamp).max(0.0),
                    None => AMBIENT,
                };
                let rgb = self.material[index].rgb();
                out.push(rgb.map(|c| (c * light).clamp(0.0, 255.0) as u8));
            }
        }
        out
    }
}

/// Rounds amplitudes to `u16`, adding shot-like noise (standard deviation about the square root
/// of the amplitude, times two) from `normal_samples` when given.
pub(crate) fn to_ir_frame(
    width: usize,
    height: usize,
    amplitude: &[f32],
    mut normal_sample: Option<impl FnMut() -> f32>,
) -> IrFrame {
    let pixels = amplitude
        .iter()
        .map(|&value| {
            let noisy = match normal_sample.as_mut() {
                Some(sample) => value + 2.0 * value.max(1.0).sqrt() * sample(),
                None => value,
            };
            noisy.round().clamp(0.0, f32::from(u16::MAX)) as u16
        })
        .collect();
    // Cannot fail: the amplitudes were computed for exactly width * height depth pixels of a
    // shape the scene already validated.
    IrFrame::new(width, height, pixels).expect("the scene has a valid shape")
}

/// For each colour pixel, the depth pixel on (nearly) the same ray, as a depth column per colour
/// column and a depth row per colour row (the two cameras' axes are parallel): computed once,
/// then each colour frame is a gather from the shaded depth-resolution image.
#[derive(Debug)]
pub(crate) struct ColorView {
    pub(crate) width: usize,
    pub(crate) height: usize,
    depth_width: usize,
    depth_columns: Vec<usize>,
    depth_rows: Vec<usize>,
}

impl ColorView {
    /// A colour camera of `width x height` pixels (the typical intrinsics are for 1920 x 1080 and
    /// are scaled to other sizes) looking at a depth image of `depth_width x depth_height`.
    /// Colour pixels beyond the depth camera's field of view see its nearest edge.
    pub(crate) fn new(
        width: usize,
        height: usize,
        depth_width: usize,
        depth_height: usize,
    ) -> Self {
        let color = Calibration::KINECT_V2_TYPICAL.color;
        let depth = DepthCamera::new(depth_width);
        let (scale_x, scale_y) = (width as f32 / 1920.0, height as f32 / 1080.0);
        let (fx, fy) = (color.fx * scale_x, color.fy * scale_y);
        let (cx, cy) = (color.cx * scale_x, color.cy * scale_y);
        let depth_columns = (0..width)
            .map(|u| {
                let x = (u as f32 - cx) / fx * depth.fx + depth.cx;
                x.round().clamp(0.0, (depth_width - 1) as f32) as usize
            })
            .collect();
        let depth_rows = (0..height)
            .map(|v| {
                let y = (v as f32 - cy) / fy * depth.fy + depth.cy;
                y.round().clamp(0.0, (depth_height - 1) as f32) as usize
            })
            .collect();
        Self {
            width,
            height,
            depth_width,
            depth_columns,
            depth_rows,
        }
    }

    /// The depth pixel (row, column) a colour pixel sees.
    #[cfg(test)]
    fn depth_pixel(&self, row: usize, col: usize) -> (usize, usize) {
        (self.depth_rows[row], self.depth_columns[col])
    }

    /// The colour image, RGB row-major, from the shaded depth-resolution image. Colour rows that
    /// see the same depth row (about three per depth row at 1080p) are copied, not gathered again.
    pub(crate) fn gather(&self, shaded: &[[u8; 3]], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.width * self.height * 3);
        let row_bytes = self.width * 3;
        for (index, &depth_row) in self.depth_rows.iter().enumerate() {
            if index > 0 && self.depth_rows[index - 1] == depth_row {
                let previous = out.len() - row_bytes;
                out.extend_from_within(previous..);
                continue;
            }
            let source = &shaded[depth_row * self.depth_width..][..self.depth_width];
            for &col in &self.depth_columns {
                out.extend_from_slice(&source[col]);
            }
        }
    }
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalise(v: [f32; 3]) -> Option<[f32; 3]> {
    let length = dot(v, v).sqrt();
    (length > 1e-12).then(|| v.map(|c| c / length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_facing_the_camera_is_brighter_in_ir_when_nearer() {
        let material = vec![Material::Wall; 9 * 9];
        let near = vec![1000; 81];
        let far = vec![2000; 81];
        let ir_at = |depth: &[u16]| {
            Geometry {
                width: 9,
                height: 9,
                depth_mm: depth,
                material: &material,
            }
            .infrared()[40]
        };
        let (near, far) = (ir_at(&near), ir_at(&far));
        // About 0.8 * 3000 at 1 m, a quarter of it at 2 m (the off-axis pixel is slightly less).
        assert!((2000.0..=2400.0).contains(&near), "{near}");
        assert!((near / far - 4.0).abs() < 0.1, "{near} / {far}");
    }

    #[test]
    fn the_centre_of_the_colour_image_sees_the_centre_of_the_depth_image() {
        let view = ColorView::new(1920, 1080, 512, 424);
        let (row, col) = view.depth_pixel(540, 960);
        // The depth camera's principal point (264, 209) within a pixel or two.
        assert!(
            (263..=266).contains(&col) && (207..=211).contains(&row),
            "{row} {col}"
        );
    }
}
