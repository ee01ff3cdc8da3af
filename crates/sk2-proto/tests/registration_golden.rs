//! The registration against libfreenect2's own: `fixtures/libfreenect2_registration.json` holds
//! what libfreenect2's `registration.cpp`, compiled unmodified, computed for the depth frames
//! rebuilt here (how: `scripts/libfreenect2-golden/README.md`). Every output is compared whole,
//! through hashes, and on a grid of samples, exactly: the port is bit-identical.

use ndarray::Array3;
use serde_json::Value;
use sk2_proto::calibration::{Calibration, ColorCameraParams, IrCameraParams};
use sk2_proto::registration::Registration;
use sk2_proto::DepthFrame;

const WIDTH: usize = 512;
const HEIGHT: usize = 424;
const COLOR_WIDTH: usize = 1920;
const COLOR_HEIGHT: usize = 1080;

fn fixture() -> Value {
    let text = include_str!("fixtures/libfreenect2_registration.json");
    serde_json::from_str(text).unwrap()
}

fn f32_of(value: &Value) -> f32 {
    value.as_f64().unwrap() as f32
}

fn calibration(params: &Value) -> Calibration {
    let d = &params["depth"];
    let c = &params["color"];
    let field = |object: &Value, name: &str| f32_of(&object[name]);
    let mx: Vec<f32> = c["mx"].as_array().unwrap().iter().map(f32_of).collect();
    let my: Vec<f32> = c["my"].as_array().unwrap().iter().map(f32_of).collect();
    Calibration {
        ir: IrCameraParams {
            fx: field(d, "fx"),
            fy: field(d, "fy"),
            cx: field(d, "cx"),
            cy: field(d, "cy"),
            k1: field(d, "k1"),
            k2: field(d, "k2"),
            k3: field(d, "k3"),
            p1: field(d, "p1"),
            p2: field(d, "p2"),
        },
        // The fixture lists the coefficients in libfreenect2's declaration order.
        color: ColorCameraParams {
            fx: field(c, "fx"),
            fy: field(c, "fy"),
            cx: field(c, "cx"),
            cy: field(c, "cy"),
            shift_d: field(c, "shift_d"),
            shift_m: field(c, "shift_m"),
            mx_x3y0: mx[0],
            mx_x0y3: mx[1],
            mx_x2y1: mx[2],
            mx_x1y2: mx[3],
            mx_x2y0: mx[4],
            mx_x0y2: mx[5],
            mx_x1y1: mx[6],
            mx_x1y0: mx[7],
            mx_x0y1: mx[8],
            mx_x0y0: mx[9],
            my_x3y0: my[0],
            my_x0y3: my[1],
            my_x2y1: my[2],
            my_x1y2: my[3],
            my_x2y0: my[4],
            my_x0y2: my[5],
            my_x1y1: my[6],
            my_x1y0: my[7],
            my_x0y1: my[8],
            my_x0y0: my[9],
        },
    }
}

fn registration(fixture: &Value, name: &str) -> Registration {
    let params = fixture["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap();
    Registration::new(&calibration(params), WIDTH, HEIGHT).unwrap()
}

/// The depth frames of `scripts/libfreenect2-golden/golden.cpp`, by the same integer formulas.
fn depth_frame(name: &str) -> DepthFrame {
    let generate: fn(i64, i64) -> u16 = match name {
        "wall_sphere" => |x, y| {
            if (x * 7 + y * 13) % 97 == 0 {
                return 0;
            }
            let r2 = (x - 256).pow(2) + (y - 212).pow(2);
            if r2 < 90 * 90 {
                (1100 + r2 / 20) as u16
            } else {
                2600
            }
        },
        "ramp" => |x, y| {
            if y < 4 || x > 505 {
                0
            } else {
                (500 + x * 6 + y * 2) as u16
            }
        },
        "noise" => |x, y| {
            let mut s = ((y * WIDTH as i64 + x) as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(12345);
            s ^= s >> 15;
            s = s.wrapping_mul(2_246_822_519);
            s ^= s >> 13;
            if s % 10 == 0 {
                0
            } else {
                (400 + (s >> 8) % 4200) as u16
            }
        },
        other => panic!("unknown frame {other}"),
    };
    let depth = (0..HEIGHT as i64)
        .flat_map(|y| (0..WIDTH as i64).map(move |x| generate(x, y)))
        .collect();
    DepthFrame::new(WIDTH, HEIGHT, depth).unwrap()
}

/// The colour image of the fixture: pixel `i` has the value `i + 1`, blue in the low byte.
fn self_naming_color_image() -> Array3<u8> {
    Array3::from_shape_fn((COLOR_HEIGHT, COLOR_WIDTH, 3), |(row, col, channel)| {
        let value = (row * COLOR_WIDTH + col + 1) as u32;
        let shift = [16, 8, 0][channel]; // R, G, B
        (value >> shift) as u8
    })
}

/// libfreenect2's BGRX pixel as a little-endian u32, from an RGB triple.
fn bgrx(rgb: &[u8]) -> u32 {
    u32::from(rgb[0]) << 16 | u32::from(rgb[1]) << 8 | u32::from(rgb[2])
}

/// FNV-1a 64, the hash of the fixture.
#[derive(Default)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn u32(&mut self, value: u32) {
        for byte in value.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn f32(&mut self, value: f32) {
        self.u32(if value.is_nan() {
            0x7fc0_0000
        } else {
            value.to_bits()
        });
    }
    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[test]
fn single_points_map_to_the_colour_coordinates_libfreenect2_gives() {
    let fixture = fixture();
    for case in fixture["apply"].as_array().unwrap() {
        let registration = registration(&fixture, case[0].as_str().unwrap());
        let (x, y) = (case[1].as_u64().unwrap(), case[2].as_u64().unwrap());
        let depth_mm = case[3].as_f64().unwrap() as f32;
        let coordinates = registration.color_coordinates(x as usize, y as usize, depth_mm);
        assert_eq!(
            coordinates,
            Some((f32_of(&case[4]), f32_of(&case[5]))),
            "{case}"
        );
    }
}

#[test]
fn whole_frames_register_exactly_as_libfreenect2_registers_them() {
    let fixture = fixture();
    let color = self_naming_color_image();
    for expected in fixture["frames"].as_array().unwrap() {
        let name = format!("{} / {}", expected["params"], expected["frame"]);
        let registration = registration(&fixture, expected["params"].as_str().unwrap());
        let depth = depth_frame(expected["frame"].as_str().unwrap());
        let filtered = registration.register(&depth, color.view(), true).unwrap();
        let unfiltered = registration.register(&depth, color.view(), false).unwrap();
        let cloud = registration.point_cloud(&depth).unwrap();
        let colored = registration
            .colored_point_cloud(&depth, color.view())
            .unwrap();

        let (mut undistorted, mut index, mut registered, mut registered_unfiltered) =
            (Fnv::new(), Fnv::new(), Fnv::new(), Fnv::new());
        for &z in &filtered.undistorted_mm {
            undistorted.f32(z);
        }
        for &i in &filtered.color_index {
            index.u32(i as u32);
        }
        for (hash, frame) in [
            (&mut registered, &filtered),
            (&mut registered_unfiltered, &unfiltered),
        ] {
            for pixel in frame.color.as_slice().unwrap().chunks(3) {
                hash.u32(bgrx(pixel));
            }
        }
        let mut points = Fnv::new();
        for (point, &pixel) in cloud.points().rows().into_iter().zip(cloud.pixels()) {
            points.u32(pixel);
            point.iter().for_each(|&v| points.f32(v));
        }
        let hashes = &expected["fnv1a64"];
        assert_eq!(undistorted.hex(), hashes["undistorted_f32"], "{name}");
        assert_eq!(index.hex(), hashes["color_index_i32"], "{name}");
        assert_eq!(registered.hex(), hashes["registered_u32"], "{name}");
        assert_eq!(
            registered_unfiltered.hex(),
            hashes["registered_unfiltered_u32"],
            "{name}"
        );
        assert_eq!(points.hex(), hashes["points_index_xyz"], "{name}");

        assert_eq!(cloud.len() as u64, expected["points"], "{name}");
        let mapped = filtered.color_index.iter().filter(|&&i| i >= 0).count();
        assert_eq!(mapped as u64, expected["mapped"], "{name}");
        let kept = filtered.has_color.iter().filter(|&&kept| kept).count();
        assert_eq!(kept as u64, expected["registered"], "{name}");

        // The coloured cloud is the cloud plus, per point, the filtered registered colour.
        assert_eq!(colored.points(), cloud.points(), "{name}");
        assert_eq!(colored.pixels(), cloud.pixels(), "{name}");
        for (point, &pixel) in cloud.pixels().iter().enumerate() {
            let (row, col) = (pixel as usize / WIDTH, pixel as usize % WIDTH);
            assert_eq!(
                colored.has_color()[point],
                filtered.has_color[[row, col]],
                "{name}"
            );
            let rgb: Vec<u8> = colored.colors().row(point).to_vec();
            let expected_rgb: Vec<u8> = (0..3).map(|c| filtered.color[[row, col, c]]).collect();
            assert_eq!(rgb, expected_rgb, "{name}");
        }
    }
}

#[test]
fn sampled_pixels_match_libfreenect2_value_for_value() {
    let fixture = fixture();
    let color = self_naming_color_image();
    for expected in fixture["frames"].as_array().unwrap() {
        let registration = registration(&fixture, expected["params"].as_str().unwrap());
        let depth = depth_frame(expected["frame"].as_str().unwrap());
        let filtered = registration.register(&depth, color.view(), true).unwrap();
        let unfiltered = registration.register(&depth, color.view(), false).unwrap();
        let cloud = registration.point_cloud(&depth).unwrap();
        for sample in expected["samples"].as_array().unwrap() {
            let row = sample[0].as_u64().unwrap() as usize;
            let col = sample[1].as_u64().unwrap() as usize;
            let context = format!("{} {}: {sample}", expected["params"], expected["frame"]);
            assert_eq!(
                filtered.undistorted_mm[[row, col]],
                f32_of(&sample[2]),
                "{context}"
            );
            let pixel = (row * WIDTH + col) as u32;
            let point = cloud.pixels().iter().position(|&p| p == pixel);
            match point {
                Some(point) => {
                    let xyz: Vec<f32> = cloud.points().row(point).to_vec();
                    let expected: Vec<f32> = (3..6).map(|i| f32_of(&sample[i])).collect();
                    assert_eq!(xyz, expected, "{context}");
                }
                None => assert!(sample[3].is_null(), "{context}"),
            }
            assert_eq!(
                i64::from(filtered.color_index[[row, col]]),
                sample[6],
                "{context}"
            );
            let rgb = |frame: &sk2_proto::registration::RegisteredFrame| {
                bgrx(&[
                    frame.color[[row, col, 0]],
                    frame.color[[row, col, 1]],
                    frame.color[[row, col, 2]],
                ])
            };
            assert_eq!(u64::from(rgb(&filtered)), sample[7], "{context}");
            assert_eq!(u64::from(rgb(&unfiltered)), sample[8], "{context}");
        }
    }
}
