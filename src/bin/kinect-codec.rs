//! `kinect-codec`: try the depth codecs on your own recordings.
//!
//! Each input is a raw `.u16` file (little-endian `u16` millimetres, row-major). The shape comes
//! from `--width`/`--height` or from a name ending in `-<W>x<H>.u16`. For every file the tool
//! encodes, decodes, checks the round trip and prints the ratio and the time of each step.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use sk2_proto::{sk2, DepthFrame};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Encode and decode raw .u16 depth files and report ratio and speed"
)]
struct Args {
    /// Raw little-endian u16 depth files, or directories of them.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Frame width in pixels (default: parsed from a name like `x-512x424.u16`).
    #[arg(long)]
    width: Option<usize>,
    /// Frame height in pixels (default: parsed from the name).
    #[arg(long)]
    height: Option<usize>,
    /// Timing repetitions per file; the median is reported.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        eprintln!("kinect-codec: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    ensure!(args.repeat > 0, "--repeat must be at least 1");
    let mut files = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            let mut found: Vec<_> = std::fs::read_dir(input)
                .with_context(|| format!("reading {}", input.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "u16"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    ensure!(!files.is_empty(), "no .u16 files found");
    println!(
        "{:<34} {:>9} {:>6} {:>10} {:>10} {:>10}  round trip",
        "file", "shape", "codec", "ratio", "encode ms", "decode ms"
    );
    for path in files {
        let frame = load(&path, args.width, args.height)?;
        report(&path, &frame, args.repeat)?;
    }
    Ok(())
}

fn load(path: &Path, width: Option<usize>, height: Option<usize>) -> Result<DepthFrame> {
    let (width, height) = match (width, height) {
        (Some(w), Some(h)) => (w, h),
        _ => shape_from_name(path).with_context(|| {
            format!(
                "{}: give --width and --height, or name it like x-512x424.u16",
                path.display()
            )
        })?,
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        bytes.len() == width * height * 2,
        "{}: {} bytes, but a {width}x{height} u16 frame is {} bytes",
        path.display(),
        bytes.len(),
        width * height * 2
    );
    let pixels = bytes
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    Ok(DepthFrame::new(width, height, pixels)?)
}

/// `anything-<W>x<H>.u16` -> `(W, H)`.
fn shape_from_name(path: &Path) -> Option<(usize, usize)> {
    let stem = path.file_stem()?.to_str()?;
    let (width, height) = stem.rsplit('-').next()?.split_once('x')?;
    Some((width.parse().ok()?, height.parse().ok()?))
}

fn median_ms(repeat: usize, mut work: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..repeat)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn report(path: &Path, frame: &DepthFrame, repeat: usize) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let shape = format!("{}x{}", frame.width(), frame.height());
    if frame.width() % 2 != 0 {
        bail!("{name}: the sk2 codec needs an even width");
    }
    let mut raw = Vec::new();
    let message = sk2::encode_with(frame, &mut raw)?;
    let decoded = sk2::decode_with(&message, frame.width(), frame.height(), &mut raw)?;
    // sk2 drops bits 12..15 by design; count the pixels it could not keep.
    let lost = frame
        .depth_mm()
        .iter()
        .zip(decoded.depth_mm())
        .filter(|(a, b)| a != b)
        .count();
    let expected_lost = frame
        .depth_mm()
        .iter()
        .filter(|&&v| v >= sk2::FIRST_LOSSY_DEPTH_MM)
        .count();
    ensure!(
        lost == expected_lost,
        "{name}: sk2 round trip changed {lost} pixels, expected {expected_lost}"
    );
    let encode_ms = median_ms(repeat, || {
        std::hint::black_box(sk2::encode_with(frame, &mut raw).ok());
    });
    let decode_ms = median_ms(repeat, || {
        std::hint::black_box(
            sk2::decode_with(&message, frame.width(), frame.height(), &mut raw).ok(),
        );
    });
    let ratio = (frame.depth_mm().len() * 2) as f64 / message.len() as f64;
    let verdict = if lost == 0 {
        "exact".to_owned()
    } else {
        format!("lossy: {lost} px >= 4096 mm")
    };
    println!(
        "{name:<34} {shape:>9} {:>6} {ratio:>10.2} {encode_ms:>10.3} {decode_ms:>10.3}  {verdict}",
        "sk2"
    );
    Ok(())
}
