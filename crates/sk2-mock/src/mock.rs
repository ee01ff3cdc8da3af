//! [`MockKinect`]: the original's simulated Kinect, plus a realistic variant, as a [`Sensor`];
//! and [`ColorEncoder`], which turns its colour pictures into JPEG frames.

use std::sync::Arc;

use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{
    Calibration, CapturedColorFrame, ColorSink, DepthFrame, FrameSink, IrFrame, JpegImage, Sensor,
    SensorError, StreamDemand, StreamSinks, Streams,
};

use crate::appearance::ColorView;
use crate::capture::{period_of, start_in, thread_name, Capture};
use crate::companions::{wanted_only, with_ir};
use crate::config::MockConfig;
use crate::scene::Scene;

/// A simulated Kinect v2 (see the crate documentation).
#[derive(Debug)]
pub struct MockKinect {
    id: String,
    config: MockConfig,
    scene: Arc<Scene>,
    capture: Option<Capture>,
    color_capture: Option<Capture>,
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
            let scene = Arc::clone(&self.scene);
            let demand = self.demand.clone();
            let wanted = move || demand.as_ref().map_or(true, StreamDemand::color);
            // The colour camera: its own thread, at the depth camera's rate, counting its own
            // sequence numbers (which equal the depth frames' of the same scene time).
            let tick = color_tick(color, scene, encoder, wanted);
            match Capture::spawn(thread_name("mock-color", &self.id), period, tick) {
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

/// The tick of the colour capture: draws, encodes and hands over the frame of `sequence` when
/// `wanted()`. A real camera still takes the frame nobody wants; nobody would see it, so the
/// mock neither draws nor encodes it.
fn color_tick(
    mut sink: ColorSink,
    scene: Arc<Scene>,
    mut encoder: ColorEncoder,
    wanted: impl Fn() -> bool + Send + 'static,
) -> impl FnMut(u64) + Send + 'static {
    move |sequence| {
        if !wanted() {
            return;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::REALISTIC_MAX_DEPTH_MM;
    use crate::MockMode;

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
}
