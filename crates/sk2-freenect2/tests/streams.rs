//! The three streams and the calibration at the device level: IR with its depth frame, the
//! device's colour JPEG passed through undecoded on a stream of its own, and the factory
//! calibration libfreenect2 reads while starting.

use std::time::Duration;

use sk2_freenect2::{Freenect2, Freenect2Error, OpenOptions};
use sk2_proto::{Calibration, ColorCameraParams, IrCameraParams};
use sk2_testkit::wait_until;

use crate::{close_all, exclusive, held_color_frame, held_frame, open_device, standin, FRAME_WAIT};

/// What the stand-in's first IR pixels (NaN, -1, 0, 0.49, 0.5, 65534.5, 65535, 70000) become.
pub(crate) const EXPECTED_SPECIAL_IR: [u16; 8] = [0, 0, 0, 0, 1, 65535, 65535, 65535];

/// The stand-in's colour frame `n`: one flat colour (sk2_standin_control.h).
pub(crate) fn expected_rgb(sequence: u32) -> [u8; 3] {
    let low = (sequence % 256) as u8;
    [low, 255 - low, 64]
}

/// The stand-in's factory calibration (sk2_standin_control.h, src/content.cpp).
pub(crate) fn expected_params() -> Calibration {
    Calibration {
        ir: IrCameraParams {
            fx: 365.456,
            fy: 365.456,
            cx: 254.878,
            cy: 205.395,
            k1: 0.090_547_4,
            k2: -0.26819,
            k3: 0.095_086_2,
            p1: 0.0,
            p2: 0.0,
        },
        // The stand-in's colour focal lengths, centre and shifts are the typical Kinect v2 ones
        // (sk2_standin_control.h); its mapping coefficients are its own.
        color: ColorCameraParams {
            mx_x3y0: 0.000_449_294,
            mx_x0y3: 1.916_56e-05,
            mx_x2y1: 4.580_35e-05,
            mx_x1y2: 0.000_360_784,
            mx_x2y0: 0.000_706_095,
            mx_x0y2: 0.000_110_906,
            mx_x1y1: 0.000_205_678,
            mx_x1y0: 0.645_612,
            mx_x0y1: -0.002_945_46,
            mx_x0y0: 0.131_868,
            my_x3y0: 4.104_66e-05,
            my_x0y3: 0.000_704_264,
            my_x2y1: 0.000_381_549,
            my_x1y2: 5.403_02e-05,
            my_x2y0: -4.728_13e-06,
            my_x0y2: -0.000_390_573,
            my_x1y1: 0.000_704_978,
            my_x1y0: 0.002_961_26,
            my_x0y1: 0.646_066,
            my_x0y0: 0.004_510_63,
            ..ColorCameraParams::KINECT_V2_TYPICAL
        },
    }
}

#[test]
fn ir_frames_arrive_with_their_depth_frame_rounded_but_not_scaled() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 40);
    let (freenect2, mut device) = open_device();
    device.start().unwrap();
    let mut ir = Vec::new();
    for _ in 0..3 {
        let frame = held_frame(&mut device);
        assert_eq!(frame.ir_shape(), (512, 424));
        frame.convert_ir_into(&mut ir);
        // Usually the depth frame's packet; the next one's when its IR frame replaced this
        // one's in the listener before the wait (seen under valgrind).
        let sequence = u64::from(frame.ir_device_sequence());
        let depth_sequence = u64::from(frame.device_sequence());
        assert!(
            sequence == depth_sequence || sequence == depth_sequence + 1,
            "IR {sequence} with depth {depth_sequence}"
        );
        assert_eq!(u64::from(frame.ir_device_timestamp()), sequence * 267);
        assert!(sequence >= 40);
        assert_eq!(ir.len(), 512 * 424);
        assert_eq!(ir[..8], EXPECTED_SPECIAL_IR);
        for (index, &pixel) in ir.iter().enumerate().skip(8) {
            // The stand-in's amplitude is ((i * 7 + n) % 65536) + 0.25: the fraction goes.
            let expected = (index as u64 * 7 + sequence) % 65536;
            assert_eq!(
                u64::from(pixel),
                expected,
                "IR pixel {index} of frame {sequence}"
            );
        }
    }
    assert!(standin::counts().ir_frames_taken >= 3);
    device.stop().unwrap();
    close_all(device, freenect2);
}

#[test]
fn colour_frames_are_the_devices_jpeg_passed_through_undecoded() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 7);
    let (freenect2, mut device) = open_device();
    assert!(device.has_color());
    // libfreenect2 hands out the JPEG only from a DumpPacketPipeline's colour processor: the
    // device was opened on one for colour, and on the CPU pipeline for depth.
    assert!(
        standin::events().contains(&"open AAA cpu color=raw".to_owned()),
        "{:?}",
        standin::events()
    );
    device.start().unwrap();
    let (_, mut color) = device.streams();
    let mut sequences = Vec::new();
    for round in 0..3 {
        let frame = held_color_frame(&mut color);
        let jpeg = frame.jpeg();
        assert_eq!(jpeg[..2], [0xff, 0xd8], "SOI");
        assert_eq!(jpeg[jpeg.len() - 2..], [0xff, 0xd9], "EOI");
        // Byte for byte what the device sent.
        assert!(jpeg == standin::color_jpeg(frame.device_sequence()).as_slice());
        sequences.push(frame.device_sequence());
        if round > 0 {
            continue; // one decode shows it is a JPEG of the frame's colour (slow under valgrind)
        }
        let mut decoder = jpeg_decoder::Decoder::new(jpeg);
        let pixels = decoder.decode().expect("the stand-in's JPEG decodes");
        let info = decoder.info().expect("decoded, so the header was read");
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
        let expected = expected_rgb(frame.device_sequence());
        for (index, pixel) in pixels.chunks_exact(3).enumerate().step_by(9973) {
            for channel in 0..3 {
                let error = pixel[channel].abs_diff(expected[channel]);
                assert!(
                    error <= 2,
                    "pixel {index} of colour frame {}: {pixel:?}, expected {expected:?}",
                    frame.device_sequence()
                );
            }
        }
    }
    assert!(sequences[0] >= 7 && sequences.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(standin::counts().color_frames_taken >= 3);
    device.stop().unwrap();
    close_all(device, freenect2);
}

#[test]
fn depth_and_colour_are_waited_for_on_two_threads_at_once() {
    let _bus = exclusive();
    standin::reset("AAA", 3_000, 0);
    let (freenect2, mut device) = open_device();
    device.start().unwrap();
    let (mut depth, mut color) = device.streams();
    let (depth_frames, color_frames) = std::thread::scope(|scope| {
        let color_thread = scope.spawn(move || {
            (0..20)
                .map(|_| held_color_frame(&mut color).device_sequence())
                .collect::<Vec<_>>()
        });
        let depth_frames: Vec<u32> = (0..20)
            .map(|_| {
                depth
                    .wait_frame(FRAME_WAIT)
                    .unwrap()
                    .expect("a depth frame")
                    .device_sequence()
            })
            .collect();
        (depth_frames, color_thread.join().unwrap())
    });
    for sequences in [&depth_frames, &color_frames] {
        assert!(
            sequences.windows(2).all(|pair| pair[0] < pair[1]),
            "{sequences:?}"
        );
    }
    device.stop().unwrap();
    close_all(device, freenect2);
}

#[test]
fn the_factory_calibration_comes_from_the_device_once_it_has_started() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 0);
    let (freenect2, mut device) = open_device();
    // libfreenect2 reads the calibration from the device in startStreams; before, its values
    // are undefined (the stand-in's are NaN), so there is none to give.
    assert_eq!(device.camera_params(), None);
    device.start().unwrap();
    let params = device
        .camera_params()
        .expect("a started device has its calibration");
    assert_eq!(params, expected_params());
    params.check_finite().unwrap();
    device.stop().unwrap();
    // Kept after a stop: it is the device's, not the stream's.
    assert_eq!(device.camera_params(), Some(expected_params()));
    close_all(device, freenect2);
}

#[test]
fn a_device_opened_without_colour_streams_depth_and_ir_only() {
    let _bus = exclusive();
    standin::reset("AAA", 2_000, 0);
    let freenect2 = Freenect2::new().unwrap();
    let mut device = freenect2
        .open(&OpenOptions {
            color: false,
            ..OpenOptions::default()
        })
        .unwrap();
    assert!(!device.has_color());
    device.start().unwrap();
    assert!(standin::events().contains(&"start_streams rgb=0 depth=1".to_owned()));
    drop(held_frame(&mut device));
    let (_, mut color) = device.streams();
    assert_eq!(
        color.wait_frame(Duration::from_millis(1)).unwrap_err(),
        Freenect2Error::NotStreaming {
            serial: "AAA".into()
        }
    );
    wait_until("more depth frames", FRAME_WAIT, || {
        standin::counts().depth_frames_made >= 5
    });
    assert_eq!(standin::counts().color_frames_made, 0);
    device.stop().unwrap();
    close_all(device, freenect2);
}
