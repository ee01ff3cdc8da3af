//! Speed probe for the modelled lossless codecs (MEDHUF, MEDANS): encodes and decodes every
//! `<name>-<W>x<H>.u16` file of a directory `--repeat` times and prints the best wall time per
//! frame for the bare codec (no `depth_v2` header, no allocation of the output frame). Small
//! enough to run under `valgrind --tool=callgrind` (instruction counts do not depend on the
//! machine's load). With `--dump DIR` it also writes each payload to `DIR/<name>.<codec>`, so
//! two builds can be compared byte for byte.
//!
//! `cargo run --release -p sk2-proto --example codec_speed -- /work/shared/corpus
//! [--codec medhuf|medans] [--repeat N] [--only encode|decode] [--dump DIR]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sk2_proto::codec::{medans, medhuf, CodecError};
use sk2_proto::{shape_from_file_name as shape, DepthFrame};

type Encode = fn(&[u16], usize, &mut Vec<u8>);
type Decode = fn(&[u8], usize, &mut [u16]) -> Result<(), CodecError>;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut repeat = 20usize;
    let mut only = String::new();
    let mut dump: Option<PathBuf> = None;
    let mut codec = String::from("medhuf");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeat" => repeat = args.next().and_then(|v| v.parse().ok()).unwrap_or(repeat),
            "--only" => only = args.next().unwrap_or_default(),
            "--dump" => dump = args.next().map(PathBuf::from),
            "--codec" => codec = args.next().unwrap_or_default(),
            _ => dir = Some(PathBuf::from(arg)),
        }
    }
    let (encode, decode): (Encode, Decode) = match codec.as_str() {
        "medhuf" => (medhuf::encode, medhuf::decode),
        "medans" => (medans::encode, medans::decode),
        _ => {
            eprintln!("codec_speed: --codec is medhuf or medans, not {codec:?}");
            std::process::exit(2);
        }
    };
    let Some(dir) = dir else {
        eprintln!(
            "usage: codec_speed DIR [--codec medhuf|medans] [--repeat N] [--only encode|decode] \
             [--dump DIR]"
        );
        std::process::exit(2);
    };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("readable directory")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| shape(name).is_some())
        .collect();
    names.sort();
    for name in names {
        let (width, height) = shape(&name).expect("filtered");
        let bytes = std::fs::read(dir.join(&name)).expect("readable file");
        let depth = DepthFrame::from_le_bytes(width, height, &bytes)
            .unwrap_or_else(|error| panic!("{name}: {error}"))
            .into_vec();
        let mut payload = Vec::new();
        encode(&depth, width, &mut payload);
        let mut best_encode = Duration::MAX;
        if only != "decode" {
            for _ in 0..repeat {
                let start = Instant::now();
                payload.clear();
                encode(&depth, width, &mut payload);
                best_encode = best_encode.min(start.elapsed());
            }
        }
        let mut decoded = vec![0u16; depth.len()];
        let mut best_decode = Duration::MAX;
        if only != "encode" {
            for _ in 0..repeat {
                let start = Instant::now();
                decode(&payload, width, &mut decoded).expect("decodes");
                best_decode = best_decode.min(start.elapsed());
            }
            assert_eq!(decoded, depth, "{name}: round trip");
        }
        if let Some(dump) = &dump {
            std::fs::write(dump.join(format!("{name}.{codec}")), &payload).expect("writable");
        }
        println!(
            "{name}: {} bytes, encode {:.3} ms, decode {:.3} ms (best of {repeat})",
            payload.len(),
            best_encode.as_secs_f64() * 1e3,
            best_decode.as_secs_f64() * 1e3,
        );
    }
}
