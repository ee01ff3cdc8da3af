//! Time of the registration steps on 512 x 424 Kinect v2 depth frames: building the tables,
//! a point cloud, a coloured point cloud (1920 x 1080 colour, occlusion filter on), and decoding
//! a 1920 x 1080 JPEG to RGB.
//!
//! Run: `SK2_CORPUS=<corpus-dir> cargo bench -p sk2-proto --bench registration` (the
//! `*-512x424.u16` frames of the directory; without it, a synthetic wall, and it says so).

mod corpus;

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array3;
use sk2_proto::calibration::Calibration;
use sk2_proto::color_image;
use sk2_proto::registration::Registration;
use sk2_proto::DepthFrame;

fn depth_frame() -> (String, DepthFrame) {
    if let Some(frame) = corpus::frames(|name| name.ends_with("-512x424.u16"))
        .into_iter()
        .next()
    {
        return frame;
    }
    eprintln!("registration: no 512x424 frames (set SK2_CORPUS); using a synthetic wall at 2 m");
    let wall = DepthFrame::new(512, 424, vec![2000; 512 * 424]).expect("512x424 values");
    ("synthetic-512x424".into(), wall)
}

/// A 1920 x 1080 picture with gradients, edges and noise, roughly as hard to code as a room.
fn color_picture() -> Array3<u8> {
    let mut state = 12345u32;
    Array3::from_shape_fn((1080, 1920, 3), |(row, col, channel)| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 24) as usize;
        let base = match channel {
            0 => col * 200 / 1920,
            1 => row * 200 / 1080,
            _ => ((col / 40 + row / 40) % 2) * 120,
        };
        (base + noise) as u8
    })
}

fn jpeg_of(rgb: &Array3<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_2);
    let pixels = rgb.as_slice().expect("standard layout");
    encoder
        .encode(pixels, 1920, 1080, jpeg_encoder::ColorType::Rgb)
        .expect("encodes");
    out
}

fn bench(c: &mut Criterion) {
    let (name, depth) = depth_frame();
    let calibration = Calibration::KINECT_V2_TYPICAL;
    let registration = Registration::new(&calibration, 512, 424).expect("typical calibration");
    let color = color_picture();
    let jpeg = jpeg_of(&color);
    eprintln!(
        "registration: depth {name}, colour JPEG {} bytes (4:2:2, q90)",
        jpeg.len()
    );

    let mut group = c.benchmark_group("registration");
    group.bench_function("tables 512x424", |b| {
        b.iter(|| Registration::new(&calibration, 512, 424).expect("typical calibration"))
    });
    group.bench_function("point_cloud", |b| {
        b.iter(|| registration.point_cloud(&depth).expect("right shape"))
    });
    group.bench_function("colored_point_cloud 1920x1080", |b| {
        b.iter(|| {
            registration
                .colored_point_cloud(&depth, color.view())
                .expect("right shape")
        })
    });
    group.bench_function("decode_jpeg 1920x1080", |b| {
        b.iter(|| color_image::decode_jpeg(&jpeg).expect("valid JPEG"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
