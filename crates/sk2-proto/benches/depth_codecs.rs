//! Ratio, encode time and decode time of every depth codec on real frames.
//!
//! Run: `SK2_CORPUS=<corpus-dir> cargo bench -p sk2-proto --bench depth_codecs`
//! (a directory of `.u16` frames named `<source>-<n>-<W>x<H>.u16`). It first prints the ratio of
//! each codec on each file (checking every round trip), then criterion times encode and decode.
//! Codecs: sk2 (the original, lossy at >= 4096 mm), zstd-1 of the raw bytes (baseline), and the
//! exact `depth_v2` codecs RVL, MEDANS and MEDHUF as complete messages. Without SK2_CORPUS the
//! bench uses one synthetic frame and says so, since its figures are not representative.

mod corpus;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::{sk2, CapturedFrame, DepthFrame};

fn frames() -> Vec<(String, CapturedFrame)> {
    let mut frames: Vec<_> = corpus::frames(|_| true)
        .into_iter()
        .map(|(name, depth)| (name, captured(depth)))
        .collect();
    if frames.is_empty() {
        eprintln!(
            "depth_codecs: no frames found (set SK2_CORPUS to the corpus directory); using a \
             synthetic frame, whose figures are NOT representative of real scenes"
        );
        let pixels = (0..512 * 424u32)
            .map(|i| {
                if i % 97 < 9 {
                    0
                } else {
                    (1000 + (i / 512) * 3 + (i % 7) * 2) as u16
                }
            })
            .collect();
        let depth = DepthFrame::new(512, 424, pixels).expect("512x424 values");
        frames.push(("synthetic-512x424".into(), captured(depth)));
    }
    frames
}

fn captured(depth: DepthFrame) -> CapturedFrame {
    CapturedFrame {
        depth,
        sequence: 0,
        device_timestamp: 0,
        capture_time_ns: 0,
    }
}

fn raw_bytes(frame: &DepthFrame) -> Vec<u8> {
    frame
        .depth_mm()
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect()
}

const EXACT: [Codec; 3] = [Codec::Rvl, Codec::MedAns, Codec::MedHuf];

fn print_ratios(frames: &[(String, CapturedFrame)]) {
    eprintln!(
        "{:<30} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "file", "sk2", "zstd-1", "rvl", "medans", "medhuf"
    );
    for (name, frame) in frames {
        let raw = raw_bytes(&frame.depth);
        let ratio = |len: usize| raw.len() as f64 / len as f64;
        let sk2 =
            sk2::encode(&frame.depth).map_or("-".to_owned(), |m| format!("{:.2}", ratio(m.len())));
        let zstd = zstd::bulk::compress(&raw, 1).expect("zstd compresses");
        assert_eq!(
            zstd::bulk::decompress(&zstd, raw.len()).expect("zstd decompresses"),
            raw
        );
        let mut row = format!("{name:<30} {sk2:>7} {:>7.2}", ratio(zstd.len()));
        for codec in EXACT {
            let message = depth_v2::encode(frame, codec);
            let (_, decoded) = depth_v2::decode(&message).expect("own message decodes");
            assert_eq!(decoded, frame.depth, "{codec} round trip on {name}");
            row += &format!(" {:>7.2}", ratio(message.len()));
        }
        eprintln!("{row}");
    }
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    print_ratios(&frames);
    let mut group = c.benchmark_group("depth");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in &frames {
        let (width, height) = (frame.depth.width(), frame.depth.height());
        if let Ok(message) = sk2::encode(&frame.depth) {
            let mut raw = Vec::new();
            group.bench_with_input(BenchmarkId::new("encode/sk2", name), frame, |b, frame| {
                b.iter(|| sk2::encode_with(&frame.depth, &mut raw).expect("even width"))
            });
            group.bench_with_input(BenchmarkId::new("decode/sk2", name), &message, |b, m| {
                b.iter(|| sk2::decode_with(m, width, height, &mut raw).expect("own message"))
            });
        }
        let raw = raw_bytes(&frame.depth);
        let compressed = zstd::bulk::compress(&raw, 1).expect("zstd compresses");
        group.bench_with_input(BenchmarkId::new("encode/zstd-1", name), &raw, |b, raw| {
            b.iter(|| zstd::bulk::compress(raw, 1).expect("zstd compresses"))
        });
        group.bench_with_input(
            BenchmarkId::new("decode/zstd-1", name),
            &compressed,
            |b, m| b.iter(|| zstd::bulk::decompress(m, raw.len()).expect("zstd decompresses")),
        );
        for codec in EXACT {
            let message = depth_v2::encode(frame, codec);
            let mut out = Vec::new();
            group.bench_with_input(
                BenchmarkId::new(format!("encode/{codec}"), name),
                frame,
                |b, f| b.iter(|| depth_v2::encode_into(f, codec, &mut out)),
            );
            group.bench_with_input(
                BenchmarkId::new(format!("decode/{codec}"), name),
                &message,
                |b, m| b.iter(|| depth_v2::decode(m).expect("own message")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
