//! What the mock's extra streams cost and weigh: for infrared, every `u16` codec side by side
//! (bytes per frame, encode and decode time); for colour, the time to draw a 1080p picture and
//! to JPEG-encode it, and the JPEG's size. Frames are the mock's, plain and realistic; with a
//! directory argument, also every `*.ir.u16` infrared recording in it (named like depth
//! recordings: `<anything>-<W>x<H>.ir.u16`).
//!
//! `cargo run --release -p sk2-mock --example stream_costs -- [IR_DIR]`
//! (docs/performance.md has the figures).

use std::time::{Duration, Instant};

use sk2_mock::{MockConfig, MockKinect, MockMode};
use sk2_proto::depth_v2::Codec;
use sk2_proto::IrFrame;

/// Frames per measurement: a second of video at 30 fps.
const FRAMES: u64 = 30;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut sets: Vec<(String, Vec<IrFrame>)> = Vec::new();
    for mode in [MockMode::Plain, MockMode::Realistic] {
        let mock = MockKinect::new(MockConfig::default().with_mode(mode));
        let frames = (0..FRAMES)
            .map(|sequence| mock.ir_frame(sequence))
            .collect();
        sets.push((format!("mock {mode}"), frames));
    }
    if let Some(dir) = std::env::args().nth(1) {
        let mut frames = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".ir.u16") else {
                continue;
            };
            let shape = sk2_proto::shape_from_file_name(&format!("{stem}.u16"))
                .ok_or_else(|| format!("{name}: no -<W>x<H> in the name"))?;
            frames.push(IrFrame::from_le_bytes(
                shape.0,
                shape.1,
                &std::fs::read(entry.path())?,
            )?);
        }
        sets.push((format!("{dir} ({} files)", frames.len()), frames));
    }

    println!("infrared, per frame (mean of {FRAMES} frames)");
    println!(
        "{:<24} {:<7} {:>9} {:>7} {:>10} {:>10}",
        "frames", "codec", "bytes", "ratio", "encode", "decode"
    );
    for (label, frames) in &sets {
        for &codec in Codec::ALL {
            let (bytes, encode, decode) = measure_ir(frames, codec)?;
            let raw = frames
                .iter()
                .map(|f| f.amplitude().len() * 2)
                .sum::<usize>()
                / frames.len();
            println!(
                "{label:<24} {codec:<7} {bytes:>9} {:>6.2}x {:>8.2}ms {:>8.2}ms",
                raw as f64 / bytes as f64,
                ms(encode),
                ms(decode)
            );
        }
    }

    println!(
        "\ncolour 1920x1080, per frame (mean of {FRAMES} frames, quality {})",
        sk2_mock::DEFAULT_JPEG_QUALITY
    );
    println!(
        "{:<24} {:>10} {:>12} {:>10}",
        "frames", "draw", "draw+jpeg", "bytes"
    );
    for mode in [MockMode::Plain, MockMode::Realistic] {
        let mock = MockKinect::new(MockConfig::default().with_mode(mode));
        let started = Instant::now();
        for sequence in 0..FRAMES {
            std::hint::black_box(mock.color_rgb(sequence));
        }
        let draw = started.elapsed() / FRAMES as u32;
        let started = Instant::now();
        let mut bytes = 0;
        for sequence in 0..FRAMES {
            bytes += mock.color_frame(sequence).bytes().len();
        }
        let both = started.elapsed() / FRAMES as u32;
        println!(
            "{:<24} {:>8.2}ms {:>10.2}ms {:>10}",
            format!("mock {mode}"),
            ms(draw),
            ms(both),
            bytes / FRAMES as usize
        );
    }
    Ok(())
}

/// Mean payload bytes, encode time and decode time per frame; checks every round trip.
fn measure_ir(frames: &[IrFrame], codec: Codec) -> Result<(usize, Duration, Duration), String> {
    let mut bytes = 0;
    let mut encode = Duration::ZERO;
    let mut decode = Duration::ZERO;
    for frame in frames {
        let mut payload = Vec::new();
        let started = Instant::now();
        codec.encode_payload(frame.amplitude(), frame.width(), &mut payload);
        encode += started.elapsed();
        let mut back = vec![0u16; frame.amplitude().len()];
        let started = Instant::now();
        codec
            .decode_payload(&payload, frame.width(), &mut back)
            .map_err(|error| format!("{codec}: {error}"))?;
        decode += started.elapsed();
        if back != frame.amplitude() {
            return Err(format!("{codec} did not round-trip"));
        }
        bytes += payload.len();
    }
    let n = frames.len().max(1);
    Ok((bytes / n, encode / n as u32, decode / n as u32))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
