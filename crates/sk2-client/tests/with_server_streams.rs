//! Infrared, colour and calibration end to end: the real server library (`sk2-server`) with a
//! mock sensor (`sk2-mock`), in process, on 127.0.0.1, and the client's registration of what
//! arrives.

use std::time::{Duration, Instant};

use sk2_client::{Client, EndpointKind, ImageSubscription};
use sk2_mock::{MockConfig, MockKinect};
use sk2_proto::registration::Registration;
use sk2_server::{Config, Server};

use crate::common::fast;

const WAIT: Duration = Duration::from_secs(10);

fn started() -> (Server, String, Client) {
    let mut config = Config::default();
    config.bind_host = "127.0.0.1".into();
    config.announce = false;
    let mut server = Server::new(config);
    let id = server
        .add_sensor(Box::new(MockKinect::new(MockConfig::default())))
        .unwrap();
    server.start().unwrap();
    let endpoint = server.control_endpoint().unwrap();
    let client = Client::connect_blocking(&endpoint, fast(), WAIT).unwrap();
    (server, id, client)
}

fn first<T: Send + 'static>(subscription: &ImageSubscription<T>) -> T {
    subscription
        .recv_timeout(WAIT)
        .expect("a frame within 10 s")
}

#[test]
fn a_mock_sensors_infrared_colour_and_calibration_make_a_coloured_point_cloud() {
    let (_server, id, client) = started();
    let calibration = client
        .calibration(&id)
        .expect("the mock sends its calibration");
    let ir = client.subscribe_ir(&id).unwrap();
    let color = client.subscribe_color(&id).unwrap();
    let depth = client.subscribe(&id).unwrap();

    let ir_frame = first(&ir);
    assert_eq!((ir_frame.ir.width(), ir_frame.ir.height()), (512, 424));
    let color_frame = first(&color);
    assert_eq!(color_frame.rgb.shape(), &[1080, 1920, 3]);
    let deadline = Instant::now() + WAIT;
    let depth_frame = loop {
        // A depth frame taken near the colour frame's time: the mock's sphere moves.
        let frame = depth.recv_timeout(WAIT).expect("a depth frame");
        let after_color = frame.capture_time_ns() >= Some(color_frame.header.capture_time_ns);
        if after_color || Instant::now() > deadline {
            break frame;
        }
    };

    let registration = Registration::new(&calibration, 512, 424).unwrap();
    let cloud = registration
        .colored_point_cloud(&depth_frame.depth, color_frame.rgb.view())
        .unwrap();
    let holes = depth_frame
        .depth
        .depth_mm()
        .iter()
        .filter(|&&d| d == 0)
        .count();
    assert!(
        cloud.len() >= 512 * 424 - holes - 512 * 424 / 50,
        "{} points",
        cloud.len()
    );
    let colored: Vec<_> = cloud
        .colors()
        .rows()
        .into_iter()
        .zip(cloud.has_color())
        .filter(|(_, &seen)| seen)
        .map(|(rgb, _)| rgb)
        .collect();
    assert!(
        colored.len() * 10 >= cloud.len() * 8,
        "{} of {} coloured",
        colored.len(),
        cloud.len()
    );
    // The plain mock's scene is its red ball filling the view: registered colour must be red.
    let red = colored
        .iter()
        .filter(|rgb| rgb[0] > rgb[1] && rgb[0] > rgb[2])
        .count();
    assert!(
        red * 10 >= colored.len() * 9,
        "{red} of {} red",
        colored.len()
    );
    assert_eq!(ir.stats().decode_errors + color.stats().decode_errors, 0);
}

/// The names of this process's threads as the system shows them (`top -H`, `ps -L`, debuggers):
/// at most 15 bytes each.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[test]
fn each_receiving_thread_is_named_after_its_stream() {
    let (_server, id, client) = started();
    let ir = client.subscribe_ir(&id).unwrap();
    let color = client.subscribe_color_jpeg(&id).unwrap();
    let depth = client.subscribe(&id).unwrap();
    // A thread names itself once it runs: a frame from each says all three have.
    first(&ir);
    first(&color);
    depth.recv_timeout(WAIT).expect("a depth frame within 10 s");
    let names = thread_names();
    for stream in ["sk2-ir_v2 ", "sk2-color ", "sk2-depth_v2 "] {
        // Other tests in this process may subscribe too: present, not counted.
        assert!(
            names.iter().any(|name| name.starts_with(stream)),
            "{stream:?} among {names:?}"
        );
    }
}

#[test]
fn raw_stream_subscriptions_deliver_each_streams_messages_byte_for_byte_with_their_stamps() {
    let (_server, id, client) = started();
    for kind in [EndpointKind::Ir, EndpointKind::Color, EndpointKind::DepthV2] {
        let subscription = client.subscribe_raw_stream(&id, kind).unwrap();
        let first = subscription
            .recv_timeout(WAIT)
            .expect("a message within 10 s");
        let second = subscription.recv_timeout(WAIT).expect("a second message");
        assert_eq!((first.kind, first.device_id.as_str()), (kind, id.as_str()));
        let (sequence, capture_time_ns) = match kind {
            EndpointKind::Ir => {
                let (header, ir) = sk2_proto::ir_v2::decode(&first.bytes).unwrap();
                assert_eq!((ir.width(), ir.height()), (512, 424));
                (header.sequence, header.capture_time_ns)
            }
            EndpointKind::Color => {
                let (header, jpeg) = sk2_proto::color::decode(&first.bytes).unwrap();
                assert_eq!(&jpeg[..2], [0xFF, 0xD8]);
                (header.sequence, header.capture_time_ns)
            }
            _ => {
                let header = sk2_proto::depth_v2::decode_header(&first.bytes).unwrap();
                (header.sequence, header.capture_time_ns)
            }
        };
        assert_eq!(first.sequence, Some(sequence));
        assert_eq!(first.capture_time_ns, Some(capture_time_ns));
        assert!(second.sequence > first.sequence, "{kind:?}");
        assert_eq!(subscription.stats().decode_errors, 0);
    }
}

#[test]
fn a_raw_stream_the_device_does_not_offer_is_a_clear_error() {
    let mut config = Config::default().with_color(false);
    config.bind_host = "127.0.0.1".into();
    config.announce = false;
    let mut server = Server::new(config);
    let mock = MockKinect::new(MockConfig::default());
    let id = server.add_sensor(Box::new(mock)).unwrap();
    server.start().unwrap();
    let client =
        Client::connect_blocking(&server.control_endpoint().unwrap(), fast(), WAIT).unwrap();
    let error = client
        .subscribe_raw_stream(&id, EndpointKind::Color)
        .unwrap_err();
    assert!(
        matches!(error, sk2_client::ClientError::NoStreamEndpoint { .. }),
        "{error}"
    );
}
