//! `kinect-codec`: try the depth codecs on your own recordings.
//!
//! Each input is a raw `.u16` file (little-endian `u16` millimetres, row-major), or an MCAP
//! recording made by `kinect-record` (`.mcap`, every `--every`-th frame of each recorded sensor).
//! A `.u16` file's shape comes from `--width`/`--height` or from a name ending in `-<W>x<H>.u16`. For every file and codec the
//! tool encodes, decodes, checks the round trip and prints the ratio and the median time of each
//! step (the best of `--repeat` runs), then the median ratio per source (the name up to its first `-`;
//! for a recording, the file name).
//!
//! Codecs: `sk2` (the original `depth` format, lossy at >= 4096 mm), `zstd1` (zstd level 1 of the
//! raw bytes, a general-purpose baseline), and every `depth_v2` codec (`raw`, `rvl`, `medans`, `medhuf`),
//! measured as complete `depth_v2` messages, 44-byte header included.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::{shape_from_file_name, sk2, CapturedFrame, DepthFrame};
use sk2_record::RecordingReader;

#[derive(Parser, Debug)]
#[command(
    name = "kinect-codec",
    version,
    about = "Encode and decode raw .u16 depth files or MCAP recordings and report ratio and speed"
)]
struct Args {
    /// Raw little-endian u16 depth files, directories of them, or `.mcap` recordings.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Frame width in pixels (default: parsed from a name like `x-512x424.u16`).
    #[arg(long)]
    width: Option<usize>,
    /// Frame height in pixels (default: parsed from the name).
    #[arg(long)]
    height: Option<usize>,
    /// Timing repetitions per file and codec; the fastest is reported, since on a shared
    /// machine the slower runs measure the other processes, not the codec.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Codecs to run, comma-separated: sk2, zstd1, raw, rvl, medans, medhuf, or all.
    #[arg(long, default_value = "all", value_delimiter = ',')]
    codec: Vec<String>,
    /// In a recording, measure every N-th frame of each sensor (1: all of them).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
}

/// One codec as the tool runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// The original `depth` format.
    Sk2,
    /// zstd level 1 of the raw little-endian bytes.
    Zstd1,
    /// A complete `depth_v2` message with this codec.
    V2(Codec),
}

impl Subject {
    fn name(self) -> String {
        match self {
            Subject::Sk2 => "sk2".into(),
            Subject::Zstd1 => "zstd1".into(),
            Subject::V2(codec) => codec.to_string(),
        }
    }

    fn all() -> Vec<Subject> {
        let mut all = vec![Subject::Sk2, Subject::Zstd1];
        all.extend(Codec::ALL.iter().map(|&codec| Subject::V2(codec)));
        all
    }

    fn parse(names: &[String]) -> Result<Vec<Subject>> {
        let mut subjects = Vec::new();
        for name in names {
            match name.as_str() {
                "all" => subjects.extend(Subject::all()),
                "sk2" => subjects.push(Subject::Sk2),
                "zstd1" => subjects.push(Subject::Zstd1),
                other => subjects.push(Subject::V2(other.parse()?)),
            }
        }
        subjects.dedup();
        Ok(subjects)
    }

    fn encode(self, frame: &CapturedFrame, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Subject::Sk2 => *out = sk2::encode(&frame.depth)?,
            Subject::Zstd1 => {
                let raw: Vec<u8> = frame
                    .depth
                    .depth_mm()
                    .iter()
                    .flat_map(|d| d.to_le_bytes())
                    .collect();
                *out = zstd::bulk::compress(&raw, 1).context("zstd compress")?;
            }
            Subject::V2(codec) => depth_v2::encode_into(frame, codec, out),
        }
        Ok(())
    }

    fn decode(self, message: &[u8], width: usize, height: usize) -> Result<DepthFrame> {
        Ok(match self {
            Subject::Sk2 => sk2::decode(message, width, height)?,
            Subject::Zstd1 => {
                let raw = zstd::bulk::decompress(message, width * height * 2)
                    .context("zstd decompress")?;
                DepthFrame::from_le_bytes(width, height, &raw)?
            }
            Subject::V2(_) => depth_v2::decode(message)?.1,
        })
    }
}

/// `println!` that returns the write error instead of panicking, so that a closed pipe
/// (`kinect-codec DIR | head`) ends the tool quietly instead of crashing it.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        if streamkinect2::is_broken_pipe(&error) {
            // The reader has all it wanted, as with `head`: not an error.
            return;
        }
        eprintln!("kinect-codec: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    ensure!(args.repeat > 0, "--repeat must be at least 1");
    let subjects = Subject::parse(&args.codec)?;
    let mut files = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            let mut found: Vec<_> = std::fs::read_dir(input)
                .with_context(|| format!("reading {}", input.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| {
                    path.extension().is_some_and(|ext| ext == "u16") || is_recording(path)
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    ensure!(!files.is_empty(), "no .u16 or .mcap files found");
    say!(
        "{:<34} {:>9} {:>7} {:>8} {:>10} {:>10}  round trip",
        "file",
        "shape",
        "codec",
        "ratio",
        "encode ms",
        "decode ms"
    );
    // (source, codec) -> ratios, for the per-source medians at the end.
    let mut ratios: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut measure = |name: &str, source: &str, frame: &CapturedFrame| -> Result<()> {
        for &subject in &subjects {
            if let Some(ratio) = report(name, frame, subject, args.repeat)? {
                ratios
                    .entry((source.to_owned(), subject.name()))
                    .or_default()
                    .push(ratio);
            }
        }
        Ok(())
    };
    for path in files {
        let file_name = path.file_name().unwrap_or_default().to_string_lossy();
        if is_recording(&path) {
            let source = file_name.trim_end_matches(".mcap").to_owned();
            for_each_recorded_frame(&path, args.every, |topic, frame| {
                let name = format!("{file_name}{topic}#{}", frame.sequence);
                measure(&name, &source, frame)
            })?;
            continue;
        }
        let frame = load(&path, args.width, args.height)?;
        let source = file_name.split('-').next().unwrap_or_default().to_owned();
        measure(&file_name, &source, &frame)?;
    }
    say!("\nmedian ratio per source:");
    for ((source, codec), mut values) in ratios {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        say!("  {source:<14} {codec:>7} {median:>6.2}  ({n} files)");
    }
    Ok(())
}

/// Whether `path` names an MCAP recording rather than a raw frame.
fn is_recording(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "mcap")
}

/// Calls `measure` with every `every`-th frame of each depth channel of the recording at `path`.
/// A recording that was not closed (its recorder killed) is read up to its last complete record,
/// with a warning; any other damage is an error naming the place.
fn for_each_recorded_frame(
    path: &Path,
    every: u64,
    mut measure: impl FnMut(&str, &CapturedFrame) -> Result<()>,
) -> Result<()> {
    let mut seen: BTreeMap<u16, u64> = BTreeMap::new();
    let mut measured = 0u64;
    for message in
        RecordingReader::open(path).with_context(|| format!("opening {}", path.display()))?
    {
        let message = match message {
            Ok(message) => message,
            Err(error) if error.is_truncation() => {
                eprintln!("kinect-codec: warning: {}: {error}", path.display());
                break;
            }
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
        };
        if !message.channel.kind.is_depth() {
            continue;
        }
        let count = seen.entry(message.channel.id).or_default();
        *count += 1;
        if (*count - 1) % every != 0 {
            continue;
        }
        let frame = message
            .decode()
            .with_context(|| format!("reading {}", path.display()))?;
        measure(&message.channel.topic, &frame)?;
        measured += 1;
    }
    ensure!(
        measured > 0,
        "{}: no depth frames (no depth_v2 or RawImage channel)",
        path.display()
    );
    Ok(())
}

fn load(path: &Path, width: Option<usize>, height: Option<usize>) -> Result<CapturedFrame> {
    let (width, height) = match (width, height) {
        (Some(w), Some(h)) => (w, h),
        _ => path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(shape_from_file_name)
            .with_context(|| {
                format!(
                    "{}: give --width and --height, or name it like x-512x424.u16",
                    path.display()
                )
            })?,
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        Some(bytes.len()) == width.checked_mul(height).and_then(|p| p.checked_mul(2)),
        "{}: {} bytes, but a {width}x{height} u16 frame is {} bytes",
        path.display(),
        bytes.len(),
        width.saturating_mul(height).saturating_mul(2)
    );
    Ok(CapturedFrame {
        depth: DepthFrame::from_le_bytes(width, height, &bytes)?,
        sequence: 0,
        device_timestamp: 0,
        capture_time_ns: 0,
    })
}

fn best_ms(repeat: usize, mut work: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..repeat)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[0]
}

/// Prints one row; returns the ratio, or `None` if the codec cannot take this frame.
fn report(
    name: &str,
    captured: &CapturedFrame,
    subject: Subject,
    repeat: usize,
) -> Result<Option<f64>> {
    let frame = &captured.depth;
    let shape = format!("{}x{}", frame.width(), frame.height());
    let codec = subject.name();
    if subject == Subject::Sk2 && frame.width() % 2 != 0 {
        say!("{name:<34} {shape:>9} {codec:>7}        -          -          -  odd width");
        return Ok(None);
    }
    let mut message = Vec::new();
    subject.encode(captured, &mut message)?;
    let decoded = subject
        .decode(&message, frame.width(), frame.height())
        .with_context(|| format!("{name}: {codec} cannot decode its own output"))?;
    let lost = frame
        .depth_mm()
        .iter()
        .zip(decoded.depth_mm())
        .filter(|(a, b)| a != b)
        .count();
    let verdict = if subject == Subject::Sk2 {
        // sk2 drops bits 12..15 by design; only those pixels may differ.
        let expected_lost = frame
            .depth_mm()
            .iter()
            .filter(|&&v| v >= sk2::FIRST_LOSSY_DEPTH_MM)
            .count();
        ensure!(
            lost == expected_lost,
            "{name}: sk2 round trip changed {lost} pixels, expected {expected_lost}"
        );
        if lost == 0 {
            "exact".to_owned()
        } else {
            format!("lossy: {lost} px >= 4096 mm")
        }
    } else if lost == 0 {
        "exact".to_owned()
    } else {
        bail!("{name}: {codec} changed {lost} pixels in a round trip");
    };
    let mut scratch = Vec::new();
    let encode_ms = best_ms(repeat, || {
        std::hint::black_box(subject.encode(captured, &mut scratch).ok());
    });
    let decode_ms = best_ms(repeat, || {
        std::hint::black_box(subject.decode(&message, frame.width(), frame.height()).ok());
    });
    let ratio = (frame.depth_mm().len() * 2) as f64 / message.len() as f64;
    say!(
        "{name:<34} {shape:>9} {codec:>7} {ratio:>8.2} {encode_ms:>10.3} {decode_ms:>10.3}  {verdict}"
    );
    Ok(Some(ratio))
}
