//! Encode and decode speed of the original sk2 format on real Kinect v2 frames.
//!
//! Run: `SK2_CORPUS=<corpus-dir> cargo bench -p sk2-proto --bench sk2_codec`
//! (the directory of `.u16` frames named `<source>-<n>-<W>x<H>.u16`). Without it the bench uses
//! synthetic frames and says so, since their figures are not representative.
//!
//! Each frame is also run through `reference_encode`/`reference_decode`, the first
//! implementation (iterator packing, `compress_prepend_size`, zero-filled buffers), so that the
//! speed-up is a ratio measured in the same run on the same (noisy, shared) machine.

mod corpus;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sk2_proto::{sk2, DepthFrame};

/// Kinect v2 frames (512 x 424) from the corpus, or one synthetic frame if there is none.
fn frames() -> Vec<(String, DepthFrame)> {
    let mut frames = corpus::frames(|name| name.ends_with("-512x424.u16"));
    if frames.is_empty() {
        eprintln!(
            "sk2_codec: no 512x424 frames found (set SK2_CORPUS to the corpus directory); \
             using a synthetic frame, whose figures are NOT representative of real scenes"
        );
        let pixels = (0..512 * 424u32)
            .map(|i| (1000 + (i / 512) * 3 + (i % 7) * 2) as u16)
            .collect();
        frames.push((
            "synthetic".into(),
            DepthFrame::new(512, 424, pixels).unwrap(),
        ));
    }
    frames
}

/// The first implementation of `sk2::encode_with`, kept as the yardstick.
fn reference_encode(frame: &DepthFrame, raw: &mut Vec<u8>) -> Vec<u8> {
    let depth_mm = frame.depth_mm();
    raw.clear();
    raw.reserve(sk2::raw_len(depth_mm.len(), 1));
    raw.extend(depth_mm.iter().map(|&d| (d >> 4) as u8));
    raw.extend(
        depth_mm
            .chunks_exact(2)
            .map(|pair| (((pair[0] & 0xF) << 4) | (pair[1] & 0xF)) as u8),
    );
    lz4_flex::block::compress_prepend_size(raw)
}

/// The first implementation of `sk2::decode_with` (without its error checks, which cost nothing).
fn reference_decode(message: &[u8], width: usize, height: usize, raw: &mut Vec<u8>) -> Vec<u16> {
    raw.clear();
    raw.resize(sk2::raw_len(width, height), 0);
    lz4_flex::block::decompress_into(&message[4..], raw).unwrap();
    let mut depth_mm = vec![0u16; width * height];
    sk2::unpack(raw, &mut depth_mm);
    depth_mm
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sk2");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in frames() {
        let mut raw = Vec::new();
        let message = sk2::encode(&frame).unwrap();
        group.bench_with_input(BenchmarkId::new("encode", &name), &frame, |b, frame| {
            b.iter(|| sk2::encode_with(frame, &mut raw).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("decode", &name), &message, |b, message| {
            b.iter(|| sk2::decode_with(message, 512, 424, &mut raw).unwrap())
        });
        group.bench_with_input(
            BenchmarkId::new("reference_encode", &name),
            &frame,
            |b, frame| b.iter(|| reference_encode(frame, &mut raw)),
        );
        group.bench_with_input(
            BenchmarkId::new("reference_decode", &name),
            &message,
            |b, message| b.iter(|| reference_decode(message, 512, 424, &mut raw)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
