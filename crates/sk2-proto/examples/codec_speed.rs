//! Speed probe for the modelled lossless codecs (MEDHUF, MEDANS): encodes and decodes every
//! `<name>-<W>x<H>.u16` file of a directory `--repeat` times and prints the best wall time per
//! frame for the bare codec (no `depth_v2` header, no allocation of the output frame). Small
//! enough to run under `valgrind --tool=callgrind` (instruction counts do not depend on the
//! machine's load). With `--dump DIR` it also writes each payload to `DIR/<name>.<codec>`, so
//! two builds can be compared byte for byte.
//!
//! `cargo run --release -p sk2-proto --example codec_speed -- <corpus-dir>
//! [--codec medhuf|medans] [--repeat N] [--only encode|decode] [--dump DIR]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::{Parser, ValueEnum};
use sk2_proto::codec::{medans, medhuf, CodecError};
use sk2_proto::{shape_from_file_name as shape, DepthFrame};

type Encode = fn(&[u16], usize, &mut Vec<u8>);
type Decode = fn(&[u8], usize, &mut [u16]) -> Result<(), CodecError>;

#[derive(Debug, Parser)]
#[command(
    name = "codec_speed",
    about = "Best-of encode and decode times of MEDHUF or MEDANS on every frame of a directory"
)]
struct Cli {
    /// Directory of `<name>-<W>x<H>.u16` frames (raw little-endian u16 depths).
    dir: PathBuf,
    /// The codec to time.
    #[arg(long, value_enum, default_value_t = Codec::Medhuf)]
    codec: Codec,
    /// Runs per frame; the best is reported.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Time only one direction (the other runs once, unreported), e.g. under callgrind.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Also write each payload to `DIR/<name>.<codec>`, to compare two builds byte for byte.
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Codec {
    Medhuf,
    Medans,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    Encode,
    Decode,
}

fn main() {
    if let Err(error) = run(&Cli::parse()) {
        eprintln!("codec_speed: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    let (encode, decode, codec): (Encode, Decode, &str) = match cli.codec {
        Codec::Medhuf => (medhuf::encode, medhuf::decode, "medhuf"),
        Codec::Medans => (medans::encode, medans::decode, "medans"),
    };
    let (dir, repeat) = (&cli.dir, cli.repeat);
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading directory {}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| shape(name).is_some())
        .collect();
    names.sort();
    ensure!(
        !names.is_empty(),
        "no <name>-<W>x<H>.u16 frames in {}",
        dir.display()
    );
    for name in names {
        // Cannot fail: the names were filtered on their shape above.
        let (width, height) = shape(&name).unwrap();
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let depth = DepthFrame::from_le_bytes(width, height, &bytes)
            .with_context(|| name.clone())?
            .into_vec();
        let mut payload = Vec::new();
        encode(&depth, width, &mut payload);
        let mut best_encode = Duration::MAX;
        if cli.only != Some(Only::Decode) {
            for _ in 0..repeat {
                let start = Instant::now();
                payload.clear();
                encode(&depth, width, &mut payload);
                best_encode = best_encode.min(start.elapsed());
            }
        }
        let mut decoded = vec![0u16; depth.len()];
        let mut best_decode = Duration::MAX;
        if cli.only != Some(Only::Encode) {
            for _ in 0..repeat {
                let start = Instant::now();
                decode(&payload, width, &mut decoded)
                    .with_context(|| format!("{name}: decoding its own payload"))?;
                best_decode = best_decode.min(start.elapsed());
            }
            ensure!(decoded == depth, "{name}: the round trip changed the frame");
        }
        if let Some(dump) = &cli.dump {
            let path = dump.join(format!("{name}.{codec}"));
            std::fs::write(&path, &payload)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        println!(
            "{name}: {} bytes, encode {:.3} ms, decode {:.3} ms (best of {repeat})",
            payload.len(),
            best_encode.as_secs_f64() * 1e3,
            best_decode.as_secs_f64() * 1e3,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use clap::error::ErrorKind;

    #[test]
    fn the_documented_command_lines_parse() {
        let cli = Cli::try_parse_from([
            "codec_speed",
            "frames",
            "--codec",
            "medans",
            "--repeat",
            "300",
        ])
        .unwrap();
        assert_eq!(cli.dir, Path::new("frames"));
        assert_eq!(
            (cli.codec, cli.repeat, cli.only),
            (Codec::Medans, 300, None)
        );
        let cli = Cli::try_parse_from([
            "codec_speed",
            "frames",
            "--repeat",
            "1",
            "--only",
            "decode",
            "--dump",
            "/tmp/p",
        ])
        .unwrap();
        assert_eq!((cli.codec, cli.only), (Codec::Medhuf, Some(Only::Decode)));
        assert_eq!(cli.dump.as_deref(), Some(Path::new("/tmp/p")));
    }

    #[test]
    fn a_bad_repeat_or_an_unknown_flag_is_an_error_not_ignored_or_taken_for_the_directory() {
        let kind = |args: &[&str]| Cli::try_parse_from(args).unwrap_err().kind();
        assert_eq!(
            kind(&["codec_speed", "frames", "--repeat", "many"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["codec_speed", "frames", "--repeat", "0"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["codec_speed", "frames", "--codec", "rvl"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            kind(&["codec_speed", "frames", "--fast"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            kind(&["codec_speed", "--repeat", "5"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(kind(&["codec_speed", "--help"]), ErrorKind::DisplayHelp);
    }
}
