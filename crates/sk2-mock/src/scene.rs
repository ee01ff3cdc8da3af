//! The mock's scene: the parts of the picture that do not move, computed once, and the pure
//! functions that draw a frame of it (depth, infrared, the colour of each pixel) from its
//! sequence number.

use sk2_proto::{DepthFrame, IrFrame};

use crate::appearance::{to_ir_frame, Geometry, Material};
use crate::config::{MockConfig, MockMode};

/// Frame rate that turns a sequence number into the animation time `t` (seconds).
///
/// The original moved the sphere by wall-clock time; tying it to the sequence number instead makes
/// every frame reproducible, and at the default 30 fps it looks the same.
const ANIMATION_FPS: f64 = 30.0;
/// How far the sphere swings left and right, in pixels (the original's `sin(t) * 100`).
const SWING_PX: f64 = 100.0;
/// Share of pixels that the realistic mock reports as holes (`0`), in 1/65536: about 3 %.
/// Real Kinect v2 frames have 6..17 % holes, mostly at edges; the shadow adds those.
const HOLE_CHANCE: u64 = 2000;
/// The Kinect v2's far limit: the realistic mock never reports a depth beyond it.
pub const REALISTIC_MAX_DEPTH_MM: u16 = 8000;

/// The parts of the picture that do not move, computed once.
#[derive(Debug)]
pub(crate) struct Scene {
    pub(crate) width: usize,
    pub(crate) height: usize,
    mode: MockMode,
    seed: u64,
    /// Plain: the sphere `500 + trunc(distance from the centre)`, before rolling.
    sphere: Vec<u16>,
    /// Realistic: the room without the ball, noise-free.
    room: Vec<u16>,
    /// Realistic: what each pixel of `room` is.
    room_material: Vec<Material>,
}

impl Scene {
    pub(crate) fn new(config: &MockConfig) -> Self {
        let (width, height) = (config.width.max(2), config.height.max(1));
        let (cx, cy) = ((width / 2) as f64, (height / 2) as f64);
        let mut sphere = Vec::with_capacity(width * height);
        for row in 0..height {
            for col in 0..width {
                let distance = (col as f64 - cx).hypot(row as f64 - cy);
                sphere.push(saturate(500.0 + distance.trunc()));
            }
        }
        let (room, room_material) = match config.mode {
            MockMode::Plain => (Vec::new(), Vec::new()),
            MockMode::Realistic => room(width, height),
        };
        Self {
            width,
            height,
            mode: config.mode,
            seed: config.seed,
            sphere,
            room,
            room_material,
        }
    }

    fn swing_px(&self, sequence: u64) -> i64 {
        let t = sequence as f64 / ANIMATION_FPS;
        (t.sin() * SWING_PX).trunc() as i64
    }

    pub(crate) fn render(&self, sequence: u64) -> DepthFrame {
        let depth_mm = match self.mode {
            MockMode::Plain => self.render_plain(sequence).0,
            MockMode::Realistic => {
                let (mut depth_mm, _) = self.realistic_geometry(sequence);
                self.add_sensor_noise(sequence, &mut depth_mm);
                depth_mm
            }
        };
        // Cannot fail: both renderers fill exactly width * height pixels, a shape Scene::new clamped
        // to be non-empty; an absurd configured shape is the caller's bug, shown at once.
        DepthFrame::new(self.width, self.height, depth_mm).expect("the scene has a valid shape")
    }

    /// The noise-free depth of a frame and what each pixel hit: what IR and colour are drawn
    /// from.
    fn geometry(&self, sequence: u64) -> (Vec<u16>, Vec<Material>) {
        match self.mode {
            MockMode::Plain => self.render_plain(sequence),
            MockMode::Realistic => self.realistic_geometry(sequence),
        }
    }

    /// The infrared amplitudes of a frame; realistic mode adds noise drawn from
    /// `(seed, sequence)`.
    pub(crate) fn render_ir(&self, sequence: u64) -> IrFrame {
        let (depth_mm, material) = self.geometry(sequence);
        let geometry = Geometry {
            width: self.width,
            height: self.height,
            depth_mm: &depth_mm,
            material: &material,
        };
        let amplitude = geometry.infrared();
        let noise = (self.mode == MockMode::Realistic).then(|| {
            // Another stream of random numbers than the depth noise's.
            let mut rng =
                SplitMix64::new(!(self.seed ^ sequence.wrapping_mul(0xD6E8_FEB8_6659_FD93)));
            move || standard_normal(rng.next()) as f32
        });
        to_ir_frame(self.width, self.height, &amplitude, noise)
    }

    /// The colour of every depth pixel of a frame under the room's light.
    pub(crate) fn shaded(&self, sequence: u64) -> Vec<[u8; 3]> {
        let (depth_mm, material) = self.geometry(sequence);
        Geometry {
            width: self.width,
            height: self.height,
            depth_mm: &depth_mm,
            material: &material,
        }
        .shaded_rgb()
    }

    /// `min(wall, roll(sphere, dx))` as the original computes it, with the wall `1000 + row / 2`;
    /// and where the sphere is the nearer.
    fn render_plain(&self, sequence: u64) -> (Vec<u16>, Vec<Material>) {
        let width = self.width;
        let dx = self.swing_px(sequence).rem_euclid(width as i64) as usize;
        let mut out = Vec::with_capacity(width * self.height);
        let mut material = Vec::with_capacity(width * self.height);
        for (row, sphere_row) in self.sphere.chunks_exact(width).enumerate() {
            let wall = saturate(1000.0 + (row >> 1) as f64);
            // numpy's roll by dx: out[c] = in[(c - dx) mod width].
            let (left, right) = sphere_row.split_at(width - dx);
            for &sphere in right.iter().chain(left) {
                out.push(sphere.min(wall));
                material.push(if sphere < wall {
                    Material::Ball
                } else {
                    Material::Wall
                });
            }
        }
        (out, material)
    }

    /// The room and the ball at its swing position (with an IR shadow of holes on its left),
    /// noise-free.
    fn realistic_geometry(&self, sequence: u64) -> (Vec<u16>, Vec<Material>) {
        let (width, height) = (self.width, self.height);
        let mut out = self.room.clone();
        let mut material = self.room_material.clone();
        let radius = (height as f64 / 5.0).max(1.0);
        let centre_x = width as f64 / 2.0 + self.swing_px(sequence) as f64;
        let centre_y = height as f64 / 2.0;
        const BALL_NEAREST_MM: f64 = 1200.0;
        const SHADOW_PX: f64 = 6.0;
        for (row, (pixels, materials)) in out
            .chunks_exact_mut(width)
            .zip(material.chunks_exact_mut(width))
            .enumerate()
        {
            let dy = row as f64 - centre_y;
            if dy.abs() > radius {
                continue;
            }
            let half_chord = (radius * radius - dy * dy).sqrt();
            let first = (centre_x - half_chord - SHADOW_PX).floor().max(0.0) as usize;
            let last = (centre_x + half_chord)
                .ceil()
                .min(width as f64 - 1.0)
                .max(0.0) as usize;
            for (col, pixel) in pixels.iter_mut().enumerate().take(last + 1).skip(first) {
                let dx = col as f64 - centre_x;
                let inside = radius * radius - dx * dx - dy * dy;
                if inside >= 0.0 {
                    *pixel = saturate(BALL_NEAREST_MM + (radius - inside.sqrt()) * 4.0);
                    materials[col] = Material::Ball;
                } else if dx < 0.0 {
                    *pixel = 0;
                }
            }
        }
        (out, material)
    }

    /// Noise and random holes drawn from `(seed, sequence)`.
    fn add_sensor_noise(&self, sequence: u64, out: &mut [u16]) {
        let mut rng = SplitMix64::new(self.seed ^ sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for pixel in out.iter_mut() {
            let noise_bits = rng.next();
            let hole_bits = rng.next();
            if *pixel == 0 || hole_bits & 0xFFFF < HOLE_CHANCE {
                *pixel = 0;
                continue;
            }
            let depth = f64::from(*pixel);
            // Time-of-flight noise grows roughly with the square of the distance: about 1.5 mm
            // at 1 m, 9 mm at 4 m, 33 mm at 8 m.
            let sigma_mm = 1.0 + 0.5 * (depth / 1000.0).powi(2);
            let noisy = depth + sigma_mm * standard_normal(noise_bits);
            *pixel = saturate(noisy.round().clamp(1.0, f64::from(REALISTIC_MAX_DEPTH_MM)));
        }
    }
}

/// A room seen from the front: a back wall slanting from 3000 to 3800 mm, a floor in the bottom
/// quarter, and a doorway on the right opening onto a corridor 6000..8000 mm away; and what
/// each pixel is.
fn room(width: usize, height: usize) -> (Vec<u16>, Vec<Material>) {
    let mut out = Vec::with_capacity(width * height);
    let mut material = Vec::with_capacity(width * height);
    let floor_start = height * 3 / 4;
    let (door_left, door_right) = (width * 3 / 4, width * 9 / 10);
    let (door_top, door_bottom) = (height / 8, floor_start);
    for row in 0..height {
        for col in 0..width {
            let mut depth = 3000.0 + 800.0 * col as f64 / width as f64;
            let mut what = Material::Wall;
            if (door_left..door_right).contains(&col) && (door_top..door_bottom).contains(&row) {
                let along = (row - door_top) as f64 / (door_bottom - door_top).max(1) as f64;
                depth = 8000.0 - 2000.0 * along;
                what = Material::Corridor;
            }
            if row >= floor_start {
                let near = (row - floor_start) as f64 / (height - floor_start).max(1) as f64;
                let floor = 3000.0 - 1800.0 * near;
                if floor < depth {
                    depth = floor;
                    what = Material::Floor;
                }
            }
            out.push(saturate(depth));
            material.push(what);
        }
    }
    (out, material)
}

fn saturate(value: f64) -> u16 {
    value.clamp(0.0, f64::from(u16::MAX)) as u16
}

/// An approximately standard normal number from 64 random bits: the sum of four 16-bit uniforms
/// (Irwin-Hall), centred and scaled to unit variance. Cheap, and bounded to +-3.5 sigma.
fn standard_normal(bits: u64) -> f64 {
    let sum: u64 = (0..4).map(|i| (bits >> (16 * i)) & 0xFFFF).sum();
    // Each uniform has mean 32767.5 and variance 65536^2 / 12; four have variance 65536^2 / 3.
    (sum as f64 - 4.0 * 32767.5) / (65536.0 / 3f64.sqrt())
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for pixel noise.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_normal_is_centred_with_unit_variance() {
        let mut rng = SplitMix64::new(1);
        let samples: Vec<f64> = (0..100_000).map(|_| standard_normal(rng.next())).collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let variance =
            samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.03, "variance {variance}");
    }
}
