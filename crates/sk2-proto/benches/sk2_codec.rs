//! Encode and decode speed of the original sk2 format on real Kinect v2 frames.
//!
//! Run: `SK2_CORPUS=../shared/corpus cargo bench -p sk2-proto --bench sk2_codec`
//! (the directory of `.u16` frames named `<source>-<n>-<W>x<H>.u16`). Without it the bench uses
//! synthetic frames and says so, since their figures are not representative.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sk2_proto::{sk2, DepthFrame};

/// Kinect v2 frames (512 x 424) from the corpus, or one synthetic frame if there is none.
fn frames() -> Vec<(String, DepthFrame)> {
    let corpus = std::env::var_os("SK2_CORPUS").map(PathBuf::from);
    let mut frames = Vec::new();
    if let Some(dir) = &corpus {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !(name.ends_with("-512x424.u16")) {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let pixels = bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            if let Ok(frame) = DepthFrame::new(512, 424, pixels) {
                frames.push((name, frame));
            }
        }
    }
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
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
