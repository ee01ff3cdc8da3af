//! The `ir_v2` and `color` endpoints: listed in `me` with the calibration for sensors that offer
//! them, exact frames, and colour that never holds depth back.

use crate::common;

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{local_config, sub, who_is};
use sk2_mock::{MockConfig, MockKinect};
use sk2_proto::color::{self, ENDPOINT_COLOR};
use sk2_proto::depth_v2::{self, ENDPOINT_DEPTH_V2};
use sk2_proto::ir_v2::{self, ENDPOINT_IR_V2};
use sk2_proto::{
    Calibration, CapturedColorFrame, CapturedFrame, DepthFrame, FrameSink, JpegImage, Sensor,
    SensorError, StreamSinks, Streams,
};
use sk2_server::Server;
use sk2_testkit::wait_until;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A small colour picture keeps the debug-build JPEG encoding cheap.
fn small_colour_mock() -> MockKinect {
    MockKinect::new(
        MockConfig::default()
            .with_fps(Some(15.0))
            .with_color_shape(480, 270),
    )
}

#[test]
fn me_lists_ir_v2_and_color_with_the_calibration_only_for_sensors_that_offer_them() {
    let mut server = Server::new(local_config());
    let full = server.add_sensor(Box::new(small_colour_mock())).unwrap();
    let depth_only = server
        .add_sensor(Box::new(DepthAndColour::new(false)))
        .unwrap();
    server.start().unwrap();
    let me = who_is(&server);
    let device = me.device(&full).unwrap();
    for name in ["depth", ENDPOINT_DEPTH_V2, ENDPOINT_IR_V2, ENDPOINT_COLOR] {
        assert!(device.endpoint(name).is_some(), "{name} is listed");
    }
    assert_eq!(me.device_keys[&full][ir_v2::DEVICE_CODEC_KEY], "medhuf");
    assert_eq!(me.calibration(&full), Some(&Calibration::KINECT_V2_TYPICAL));
    let other = me.device(&depth_only).unwrap();
    assert_eq!(
        other.endpoints.keys().collect::<Vec<_>>(),
        ["depth", "depth_v2"]
    );
    assert!(!me.device_keys[&depth_only].contains_key(ir_v2::DEVICE_CODEC_KEY));
    assert_eq!(me.calibration(&depth_only), None);
}

#[test]
fn ir_and_colour_frames_arrive_exactly_as_the_mock_made_them() {
    let reference = small_colour_mock();
    let mut server = Server::new(local_config());
    let id = server.add_sensor(Box::new(small_colour_mock())).unwrap();
    server.start().unwrap();
    let me = who_is(&server);
    let device = me.device(&id).unwrap();
    let context = zmq::Context::new();
    let ir = sub(&context, device.endpoint(ENDPOINT_IR_V2).unwrap());
    let colour = sub(&context, device.endpoint(ENDPOINT_COLOR).unwrap());
    for _ in 0..3 {
        let (header, frame) = ir_v2::decode(&ir.recv_bytes(0).unwrap()).unwrap();
        assert_eq!(header.codec, ir_v2::DEFAULT_CODEC);
        assert_eq!(frame, reference.ir_frame(header.sequence));
        let message = colour.recv_bytes(0).unwrap();
        let (header, jpeg) = color::decode(&message).unwrap();
        assert_eq!((header.width, header.height), (480, 270));
        assert_eq!(jpeg, reference.color_frame(header.sequence).bytes());
    }
    let stats = &server.stats()[0];
    assert!(
        stats.ir.published >= 3 && stats.color.published >= 3,
        "{stats:?}"
    );
}

#[test]
fn a_frozen_colour_subscriber_never_delays_or_drops_depth() {
    const FRAMES: u64 = 90;
    let mut server = Server::new(local_config());
    let id = server
        .add_sensor(Box::new(DepthAndColour::new(true)))
        .unwrap();
    server.start().unwrap();
    let me = who_is(&server);
    let device = me.device(&id).unwrap();
    let context = zmq::Context::new();
    // Subscribed, never read: its queue and the TCP buffers fill with 2 MB colour frames.
    let frozen = context.socket(zmq::SUB).unwrap();
    frozen.set_rcvhwm(1).unwrap();
    frozen.set_linger(0).unwrap();
    frozen.set_subscribe(b"").unwrap();
    frozen
        .connect(device.endpoint(ENDPOINT_COLOR).unwrap())
        .unwrap();
    let depth = sub(&context, device.endpoint(ENDPOINT_DEPTH_V2).unwrap());
    wait_until("colour flows to the frozen subscriber", TIMEOUT, || {
        server.stats()[0].color.published > 0
    });
    // From the first depth frame received on, every one arrives: none is held back or dropped
    // for the colour stream's sake.
    let first = depth_v2::decode_header(&depth.recv_bytes(0).unwrap())
        .unwrap()
        .sequence;
    for expected in first + 1..first + FRAMES {
        let header = depth_v2::decode_header(&depth.recv_bytes(0).unwrap()).unwrap();
        assert_eq!(
            header.sequence, expected,
            "depth frames arrive without a gap"
        );
    }
    let stats = &server.stats()[0];
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert!(stats.color.published > 10, "{stats:?}");
}

/// Depth of 64 x 48 at 30 fps and, when asked, a 1920 x 1080 "JPEG" of 2 MB per frame (a frame
/// header and padding: the server never decodes it), on one thread.
struct DepthAndColour {
    id: String,
    color: bool,
    thread: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl DepthAndColour {
    fn new(color: bool) -> Self {
        Self {
            id: sk2_proto::id::random_hex_id(),
            color,
            thread: None,
        }
    }
}

impl Sensor for DepthAndColour {
    fn id(&self) -> &str {
        &self.id
    }

    fn shape(&self) -> (usize, usize) {
        (64, 48)
    }

    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError> {
        self.start_streams(StreamSinks::depth_only(sink))
    }

    fn streams(&self) -> Streams {
        if self.color {
            Streams::DEPTH_ONLY.with_color()
        } else {
            Streams::DEPTH_ONLY
        }
    }

    fn start_streams(&mut self, sinks: StreamSinks) -> Result<(), SensorError> {
        let StreamSinks {
            depth: mut depth_sink,
            mut color,
            ..
        } = sinks;
        let mut jpeg = vec![
            0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0x04, 0x38, 0x07, 0x80, 1, 1, 0x11, 0,
        ];
        jpeg.resize(2 << 20, 0);
        let jpeg = JpegImage::new(jpeg).unwrap();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            for sequence in 0.. {
                if !matches!(
                    stopped.recv_timeout(Duration::from_millis(33)),
                    Err(mpsc::RecvTimeoutError::Timeout)
                ) {
                    return;
                }
                depth_sink(CapturedFrame {
                    depth: DepthFrame::new(64, 48, vec![1000; 64 * 48]).unwrap(),
                    sequence,
                    device_timestamp: sequence,
                    capture_time_ns: sequence,
                });
                if let Some(color) = &mut color {
                    color(CapturedColorFrame {
                        jpeg: jpeg.clone(),
                        sequence,
                        device_timestamp: sequence,
                        capture_time_ns: sequence,
                    });
                }
            }
        });
        self.thread = Some((stop, thread));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some((stop, thread)) = self.thread.take() {
            drop(stop);
            thread.join().unwrap();
        }
    }
}
