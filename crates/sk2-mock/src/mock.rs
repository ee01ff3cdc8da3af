//! [`MockKinect`]: the original's simulated Kinect, plus a realistic variant.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{
    Calibration, CapturedColorFrame, ColorSink, DepthFrame, FrameSink, IrFrame, JpegImage, Sensor,
    SensorError, StreamDemand, StreamSinks, Streams,
};

use crate::appearance::{to_ir_frame, ColorView, Geometry, Material};
use crate::capture::{period_of, start_in, Capture};
use crate::companions::{wanted_only, with_ir};

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

/// Which picture the mock draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MockMode {
    /// The original's picture: smooth, noise-free, every value within 500..=832 mm at 512 x 424.
    #[default]
    Plain,
    /// A room with a swinging ball, noise growing with distance, holes of `0`, and a far doorway
    /// up to [`REALISTIC_MAX_DEPTH_MM`]: values at and above 4096 mm, which the sk2 format loses.
    Realistic,
}

/// A `--mock-mode` value that is neither `plain` nor `realistic`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mock mode {0:?}: expected plain or realistic")]
pub struct ParseMockModeError(String);

impl std::str::FromStr for MockMode {
    type Err = ParseMockModeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "plain" => Ok(MockMode::Plain),
            "realistic" => Ok(MockMode::Realistic),
            other => Err(ParseMockModeError(other.to_owned())),
        }
    }
}

impl std::fmt::Display for MockMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MockMode::Plain => "plain",
            MockMode::Realistic => "realistic",
        })
    }
}

/// How a [`MockKinect`] behaves. Start from [`MockConfig::default`] and change what differs
/// with the `with_*` methods (the fields are public too).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MockConfig {
    /// Frame width in pixels (Kinect v2: 512). Even, for the sk2 format.
    pub width: usize,
    /// Frame height in pixels (Kinect v2: 424).
    pub height: usize,
    /// Frames per second; `None` produces frames as fast as possible (for benchmarks). A rate that
    /// is not a positive finite number also means unthrottled.
    pub fps: Option<f64>,
    /// Which picture.
    pub mode: MockMode,
    /// Seed of the realistic mode's noise and holes: the same seed gives the same frames.
    pub seed: u64,
    /// Colour image width in pixels (Kinect v2: 1920).
    pub color_width: usize,
    /// Colour image height in pixels (Kinect v2: 1080).
    pub color_height: usize,
    /// JPEG quality of colour frames, 1..=100.
    pub jpeg_quality: u8,
}

/// Default JPEG quality of the mock's colour frames: visually clean, about 0.2 MB per 1080p
/// frame of the mock's smooth scene.
pub const DEFAULT_JPEG_QUALITY: u8 = 85;

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            width: sk2_proto::KINECT_V2_WIDTH_PX,
            height: sk2_proto::KINECT_V2_HEIGHT_PX,
            fps: Some(crate::DEFAULT_FPS),
            mode: MockMode::Plain,
            seed: 0,
            color_width: 1920,
            color_height: 1080,
            jpeg_quality: DEFAULT_JPEG_QUALITY,
        }
    }
}

impl MockConfig {
    /// Sets [`MockConfig::fps`].
    pub fn with_fps(mut self, fps: Option<f64>) -> Self {
        self.fps = fps;
        self
    }

    /// Sets [`MockConfig::mode`].
    pub fn with_mode(mut self, mode: MockMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets [`MockConfig::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`MockConfig::width`] and [`MockConfig::height`] (clamped to at least 2 x 1
    /// pixels).
    pub fn with_shape(mut self, width: usize, height: usize) -> Self {
        self.width = width.max(2);
        self.height = height.max(1);
        self
    }

    /// Sets [`MockConfig::color_width`] and [`MockConfig::color_height`] (clamped to what a
    /// JPEG can hold: 1..=65535 each, and at most 16 Mpx).
    pub fn with_color_shape(mut self, width: usize, height: usize) -> Self {
        self.color_width = width.clamp(1, usize::from(u16::MAX));
        self.color_height = height.clamp(1, usize::from(u16::MAX));
        while self.color_width * self.color_height > sk2_proto::frame::MAX_FRAME_PIXELS {
            self.color_height /= 2;
        }
        self
    }

    /// Sets [`MockConfig::jpeg_quality`] (clamped to 1..=100).
    pub fn with_jpeg_quality(mut self, quality: u8) -> Self {
        self.jpeg_quality = quality.clamp(1, 100);
        self
    }
}

/// A simulated Kinect v2 (see the crate documentation).
#[derive(Debug)]
pub struct MockKinect {
    id: String,
    config: MockConfig,
    scene: Arc<Scene>,
    capture: Option<Capture>,
    color_capture: Option<ColorCapture>,
    /// Set by a server: skip IR and colour work nobody wants.
    demand: Option<StreamDemand>,
}

impl MockKinect {
    /// A stopped mock with a new random id. Random rather than derived from the seed: two mocks
    /// with the same seed (the same pictures) must still be two devices to a client.
    pub fn new(config: MockConfig) -> Self {
        Self::with_id(sk2_proto::id::random_hex_id(), config)
    }

    /// A stopped mock with the given id.
    pub fn with_id(id: impl Into<String>, config: MockConfig) -> Self {
        let scene = Arc::new(Scene::new(&config));
        Self {
            id: id.into(),
            config,
            scene,
            capture: None,
            color_capture: None,
            demand: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MockConfig {
        &self.config
    }

    /// The exact frame this mock delivers with the given sequence number.
    pub fn frame(&self, sequence: u64) -> DepthFrame {
        self.scene.render(sequence)
    }

    /// The exact infrared frame this mock delivers with the depth frame of this sequence number.
    pub fn ir_frame(&self, sequence: u64) -> IrFrame {
        self.scene.render_ir(sequence)
    }

    /// The colour picture of this sequence number before JPEG encoding: RGB bytes, row-major,
    /// [`MockConfig::color_width`] x [`MockConfig::color_height`]. The scene is the one of the
    /// depth frame with the same sequence number, seen by the colour camera.
    pub fn color_rgb(&self, sequence: u64) -> Vec<u8> {
        let view = self.color_view();
        let mut rgb = Vec::new();
        view.gather(&self.scene.shaded(sequence), &mut rgb);
        rgb
    }

    /// The colour frame of this sequence number, JPEG-encoded as the running mock sends it.
    pub fn color_frame(&self, sequence: u64) -> JpegImage {
        let view = self.color_view();
        let mut encoder = ColorEncoder::new(view, self.config.jpeg_quality);
        encoder.encode(&self.scene, sequence)
    }

    fn color_view(&self) -> ColorView {
        ColorView::new(
            self.config.color_width,
            self.config.color_height,
            self.scene.width,
            self.scene.height,
        )
    }
}

impl Sensor for MockKinect {
    fn id(&self) -> &str {
        &self.id
    }

    fn shape(&self) -> (usize, usize) {
        (self.scene.width, self.scene.height)
    }

    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError> {
        self.start_streams(StreamSinks::depth_only(sink))
    }

    fn stop(&mut self) {
        // Dropping a capture stops and joins its thread.
        self.capture.take();
        self.color_capture.take();
    }

    fn streams(&self) -> Streams {
        Streams::ALL
    }

    /// Depth and IR come from one capture thread (one exposure: the IR frame follows its depth
    /// frame, with the same sequence number); colour from its own thread, so its JPEG encoding
    /// never delays depth.
    fn start_streams(&mut self, sinks: StreamSinks) -> Result<(), SensorError> {
        let StreamSinks { depth, ir, color } = sinks;
        let scene = Arc::clone(&self.scene);
        let depth_sink: FrameSink = match ir {
            None => depth,
            Some(ir) => {
                let scene = Arc::clone(&self.scene);
                let demand = self.demand.clone();
                let ir = wanted_only(ir, move || demand.as_ref().map_or(true, StreamDemand::ir));
                with_ir(depth, ir, move |sequence| scene.render_ir(sequence))
            }
        };
        let period = period_of(self.config.fps);
        start_in(
            &mut self.capture,
            "mock",
            &self.id,
            period,
            depth_sink,
            move |sequence| scene.render(sequence),
        )?;
        if let Some(color) = color {
            let encoder = ColorEncoder::new(self.color_view(), self.config.jpeg_quality);
            let name = format!("mock-color-{}", &self.id[..self.id.len().min(8)]);
            let scene = Arc::clone(&self.scene);
            let demand = self.demand.clone();
            let wanted = move || demand.as_ref().map_or(true, StreamDemand::color);
            match ColorCapture::spawn(name, period, color, scene, encoder, wanted) {
                Ok(capture) => self.color_capture = Some(capture),
                Err(error) => {
                    self.capture.take();
                    return Err(SensorError::Unavailable(format!(
                        "cannot start colour thread: {error}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn set_demand(&mut self, demand: StreamDemand) {
        self.demand = Some(demand);
    }

    fn calibration(&self) -> Option<Calibration> {
        Some(Calibration::KINECT_V2_TYPICAL)
    }
}

/// Renders and JPEG-encodes colour frames, reusing its buffers.
struct ColorEncoder {
    view: ColorView,
    quality: u8,
    rgb: Vec<u8>,
}

impl ColorEncoder {
    fn new(view: ColorView, quality: u8) -> Self {
        Self {
            view,
            quality,
            rgb: Vec::new(),
        }
    }

    fn encode(&mut self, scene: &Scene, sequence: u64) -> JpegImage {
        self.view.gather(&scene.shaded(sequence), &mut self.rgb);
        let mut jpeg = Vec::with_capacity(self.rgb.len() / 8);
        // Width and height were clamped to 1..=65535 by MockConfig::with_color_shape (and the
        // default is 1920 x 1080), the buffer holds exactly width * height RGB pixels, and
        // writing to a Vec cannot fail: encoding cannot fail.
        let (width, height) = (self.view.width as u16, self.view.height as u16);
        jpeg_encoder::Encoder::new(&mut jpeg, self.quality)
            .encode(&self.rgb, width, height, jpeg_encoder::ColorType::Rgb)
            .expect("a valid shape and an in-memory buffer");
        // The encoder writes a frame header of exactly that shape.
        JpegImage::new(jpeg).expect("jpeg-encoder writes a readable frame header")
    }
}

impl std::fmt::Debug for ColorEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColorEncoder")
            .field("quality", &self.quality)
            .finish_non_exhaustive()
    }
}

/// The mock's colour camera: its own thread, at the depth camera's rate, counting its own
/// sequence numbers (which equal the depth frames' of the same scene time).
#[derive(Debug)]
struct ColorCapture {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ColorCapture {
    fn spawn(
        name: String,
        period: Option<Duration>,
        mut sink: ColorSink,
        scene: Arc<Scene>,
        mut encoder: ColorEncoder,
        wanted: impl Fn() -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let mut next = Instant::now();
            for sequence in 0u64.. {
                let wait = next.saturating_duration_since(Instant::now());
                match stopped.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                // As the depth capture: when late, skip ahead rather than burst to catch up.
                if let Some(period) = period {
                    let now = Instant::now();
                    next += period;
                    if next + period < now {
                        next = now;
                    }
                }
                if !wanted() {
                    // A real camera still takes the frame; nobody would see it, so neither
                    // draw nor encode it.
                    continue;
                }
                let jpeg = encoder.encode(&scene, sequence);
                let capture_time_ns = unix_time_ns();
                sink(CapturedColorFrame {
                    jpeg,
                    sequence,
                    device_timestamp: capture_time_ns,
                    capture_time_ns,
                });
            }
        })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ColorCapture {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic has already been reported by the panic hook.
            let _ = thread.join();
        }
    }
}

/// The parts of the picture that do not move, computed once.
#[derive(Debug)]
struct Scene {
    width: usize,
    height: usize,
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
    fn new(config: &MockConfig) -> Self {
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

    fn render(&self, sequence: u64) -> DepthFrame {
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
    fn render_ir(&self, sequence: u64) -> IrFrame {
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
    fn shaded(&self, sequence: u64) -> Vec<[u8; 3]> {
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
    fn plain_frame_zero_is_the_unrolled_sphere_under_the_wall() {
        let mock = MockKinect::new(MockConfig::default());
        let frame = mock.frame(0);
        // sin(0) = 0: no roll. The centre pixel is 500 mm, a corner 500 + trunc(hypot(256, 212)).
        assert_eq!(frame.at(212, 256), Some(500));
        assert_eq!(frame.at(0, 0), Some(500 + 332));
        let values = frame.depth_mm();
        assert_eq!(values.iter().min(), Some(&500));
        assert_eq!(values.iter().max(), Some(&832));
    }

    #[test]
    fn plain_frames_roll_the_sphere_by_sin_t_times_100() {
        let mock = MockKinect::new(MockConfig::default());
        // Frame 45: t = 1.5 s, dx = trunc(sin(1.5) * 100) = 99: the minimum moves right by 99.
        let frame = mock.frame(45);
        assert_eq!(frame.at(212, 256 + 99), Some(500));
        assert_eq!(frame.at(212, 256), Some(599));
    }

    #[test]
    fn realistic_frames_are_reproducible_from_the_seed_and_differ_between_seeds() {
        let config = MockConfig::default().with_mode(MockMode::Realistic);
        let a = MockKinect::new(config.clone().with_seed(7));
        let b = MockKinect::new(config.clone().with_seed(7));
        let c = MockKinect::new(config.with_seed(8));
        assert_eq!(a.frame(3), b.frame(3));
        assert_ne!(a.frame(3), c.frame(3));
        assert_ne!(a.frame(3), a.frame(4));
    }

    #[test]
    fn realistic_frames_have_holes_far_values_and_noise() {
        let mock = MockKinect::new(MockConfig::default().with_mode(MockMode::Realistic));
        let frame = mock.frame(0);
        let values = frame.depth_mm();
        let holes = values.iter().filter(|&&v| v == 0).count();
        let far = values.iter().filter(|&&v| v >= 4096).count();
        let pixels = values.len();
        assert!(holes * 100 > pixels, "{holes} holes of {pixels}");
        assert!(holes * 100 < pixels * 20, "{holes} holes of {pixels}");
        assert!(far > 1000, "{far} pixels >= 4096 mm");
        assert!(values.iter().all(|&v| v <= REALISTIC_MAX_DEPTH_MM));
        assert!(values.iter().any(|&v| v > 7900));
        // Noise: neighbours on the smooth back wall are not all equal.
        let row = frame.row(50);
        let steps = row.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(steps > row.len() / 2);
    }

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

    #[test]
    fn mock_modes_parse_and_print() {
        assert_eq!("plain".parse(), Ok(MockMode::Plain));
        assert_eq!(
            "realistic".parse::<MockMode>().map(|m| m.to_string()),
            Ok("realistic".into())
        );
        assert!("noisy".parse::<MockMode>().is_err());
    }
}
