//! The Rust side of the Python decode benchmark (`bench/bench.py`): encodes every
//! `<name>-<W>x<H>.u16` file of a directory as a `depth_v2` MEDHUF message and times
//! `depth_v2::decode` on it (header checks, allocation of the frame, payload decode: the work
//! `streamkinect2.codecs.decode_depth_v2` does before handing the buffer to numpy). Prints one line
//! per file: `<file> <median µs per decode>`.
//!
//! ```text
//! cargo run --release -p sk2-python --example decode_timing -- DIR [REPEAT]
//! ```

use std::time::Instant;

use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::{shape_from_file_name, CapturedFrame, DepthFrame};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("decode_timing: usage: decode_timing DIR [REPEAT]");
        std::process::exit(2);
    };
    let repeat: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(300);
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(error) => {
            eprintln!("decode_timing: cannot read {dir}: {error}");
            std::process::exit(1);
        }
    };
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let Some((width, height)) = shape_from_file_name(&name) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(depth) = DepthFrame::from_le_bytes(width, height, &bytes) else {
            continue;
        };
        let frame = CapturedFrame {
            depth,
            sequence: 0,
            device_timestamp: 0,
            capture_time_ns: 0,
        };
        let message = depth_v2::encode(&frame, Codec::MedHuf);
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let started = Instant::now();
            let decoded = depth_v2::decode(std::hint::black_box(&message));
            times.push(started.elapsed());
            assert!(
                decoded.is_ok(),
                "{name}: a message just encoded must decode"
            );
        }
        times.sort();
        println!("{name} {:.1}", times[times.len() / 2].as_secs_f64() * 1e6);
    }
}
