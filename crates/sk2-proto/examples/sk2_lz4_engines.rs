//! Where the sk2 encoder's time goes, and whether another LZ4 engine would change it: for every
//! Kinect v2 file (`kv2_*-512x424.u16`) of a directory, the best time of `--repeat` runs of
//!
//! - `encode`: [`sk2::encode_with`] as the server runs it (12-bit packing + LZ4 + message);
//! - `pack`: the 12-bit packing alone;
//! - `lz4_flex`: the LZ4 block of the packed image alone, as `encode` does it (safe features);
//! - `liblz4`: the same block by the C reference library (the one python-lz4 uses), default mode;
//! - `liblz4-fast2`: the C library with acceleration 2 (a valid block, a little larger).
//!
//! It prints each time and its ratio to `encode`'s, all measured in the same run, and the size
//! of each block. The target for `encode` is at most 0.4 ms.
//!
//! `cargo run --release -p sk2-proto --example sk2_lz4_engines -- <corpus-dir> [--repeat N]`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use lz4::block::CompressionMode;
use sk2_proto::{shape_from_file_name, sk2, DepthFrame};

fn best_ms(repeat: u32, mut run: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut len = 0;
    for _ in 0..repeat {
        let start = Instant::now();
        len = std::hint::black_box(run());
        best = best.min(start.elapsed().as_secs_f64() * 1e3);
    }
    (best, len)
}

#[derive(Debug, Parser)]
#[command(
    name = "sk2_lz4_engines",
    about = "Where the sk2 encoder's time goes, against the C LZ4 library, per Kinect v2 frame"
)]
struct Cli {
    /// Directory of depth frames; its `kv2_*-512x424.u16` files are timed.
    dir: PathBuf,
    /// Runs of each step per frame; the best is reported.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
}

fn main() {
    if let Err(error) = run(&Cli::parse()) {
        eprintln!("sk2_lz4_engines: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    let (dir, repeat) = (&cli.dir, cli.repeat);
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading directory {}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("kv2_") && shape_from_file_name(name).is_some())
        .collect();
    names.sort();
    ensure!(
        !names.is_empty(),
        "no kv2_*-512x424.u16 frames in {}",
        dir.display()
    );
    println!(
        "{:<28} {:>13} {:>13} {:>13} {:>13} {:>13}   block bytes: lz4_flex / liblz4 / fast2",
        "file (ms, x encode)", "encode", "pack", "lz4_flex", "liblz4", "liblz4-fast2"
    );
    for name in names {
        // Cannot fail: the names were filtered on their shape above.
        let (width, height) = shape_from_file_name(&name).unwrap();
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let frame =
            DepthFrame::from_le_bytes(width, height, &bytes).with_context(|| name.clone())?;
        let mut scratch = Vec::new();
        let (encode, _) = best_ms(repeat, || {
            sk2::encode_with(&frame, &mut scratch)
                .expect("encodes")
                .len()
        });
        let mut packed = Vec::new();
        let (pack, _) = best_ms(repeat, || {
            sk2::pack(frame.depth_mm(), &mut packed);
            packed.len()
        });
        let mut table = lz4_flex::block::CompressTable::large();
        let mut block = vec![0; lz4_flex::block::get_maximum_output_size(packed.len())];
        let (flex, flex_len) = best_ms(repeat, || {
            lz4_flex::block::compress_into_with_table(&packed, &mut block, &mut table)
                .expect("room for the worst case")
        });
        let mut c_block = vec![0; block.len() + 4];
        let mut c_run = |mode: CompressionMode| {
            best_ms(repeat, || {
                lz4::block::compress_to_buffer(&packed, Some(mode), false, &mut c_block)
                    .expect("room for the worst case")
            })
        };
        let (c_default, c_len) = c_run(CompressionMode::DEFAULT);
        let (c_fast, fast_len) = c_run(CompressionMode::FAST(2));
        let cell = |ms: f64| format!("{ms:.3} {:>5.2}x", ms / encode);
        println!(
            "{:<28} {:>13} {:>13} {:>13} {:>13} {:>13}   {flex_len} / {c_len} / {fast_len}",
            name,
            cell(encode),
            cell(pack),
            cell(flex),
            cell(c_default),
            cell(c_fast)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    #[test]
    fn a_bad_repeat_or_an_unknown_flag_is_an_error() {
        let cli = Cli::try_parse_from(["sk2_lz4_engines", "frames", "--repeat", "300"]).unwrap();
        assert_eq!((cli.dir, cli.repeat), (PathBuf::from("frames"), 300));
        let kind = |args: &[&str]| Cli::try_parse_from(args).unwrap_err().kind();
        assert_eq!(
            kind(&["sk2_lz4_engines", "frames", "--repeat", "x"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["sk2_lz4_engines", "frames", "--fast"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(kind(&["sk2_lz4_engines", "--help"]), ErrorKind::DisplayHelp);
    }
}
