//! Speed of the float-to-u16 depth conversion every Kinect v2 frame goes through on the capture
//! thread (512 x 424 pixels at 30 fps: it must stay far below the 33 ms frame period).
//!
//! Run: `cargo bench -p sk2-freenect2 --bench convert`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sk2_freenect2::convert::depth_mm_from_ne_f32_bytes;

const WIDTH: usize = 512;
const HEIGHT: usize = 424;

/// A frame like libfreenect2's: mostly 500..8500 mm with fractions, some NaN/0 holes.
fn frame_bytes() -> Vec<u8> {
    (0..WIDTH * HEIGHT)
        .flat_map(|index| {
            let depth_mm = match index % 97 {
                0 => f32::NAN,
                1 => 0.0,
                _ => 500.0 + (index % 8000) as f32 + 0.37,
            };
            depth_mm.to_ne_bytes()
        })
        .collect()
}

fn convert(c: &mut Criterion) {
    let bytes = frame_bytes();
    let mut out = Vec::with_capacity(WIDTH * HEIGHT);
    let mut group = c.benchmark_group("depth_mm_from_ne_f32_bytes");
    group.throughput(Throughput::Elements((WIDTH * HEIGHT) as u64));
    group.bench_function("512x424", |b| {
        b.iter(|| {
            depth_mm_from_ne_f32_bytes(std::hint::black_box(&bytes), &mut out);
            std::hint::black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, convert);
criterion_main!(benches);
