//! Saves one depth frame as a colour-mapped PNG: near is warm, far is cool, no reading is black.
//!
//! ```text
//! cargo run --example snapshot -- --connect tcp://localhost:5555 --out depth.png
//! cargo run --example snapshot -- --min-mm 500 --max-mm 4500   # the first server mDNS finds
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use sk2_client::{Browser, Client, ClientConfig};
use sk2_proto::DepthFrame;
use streamkinect2::keys;

#[derive(Parser, Debug)]
struct Args {
    /// The server's control endpoint; without it, the first server found by mDNS.
    #[arg(long, value_name = "tcp://host:port")]
    connect: Option<String>,
    /// Sensor id (default: the server's first sensor).
    #[arg(long)]
    device: Option<String>,
    /// Where to write the PNG.
    #[arg(long, default_value = "depth.png")]
    out: PathBuf,
    /// Depth shown as the warmest colour.
    #[arg(long, default_value_t = 500)]
    min_mm: u16,
    /// Depth shown as the coolest colour; anything farther is clamped.
    #[arg(long, default_value_t = 4500)]
    max_mm: u16,
    /// --server-key / --client-key: reach a secure server (docs/security.md).
    #[command(flatten)]
    keys: streamkinect2::keys::ClientKeyArgs,
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        eprintln!("snapshot: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let curve = args.keys.load()?;
    ensure!(args.min_mm < args.max_mm, "--min-mm must be below --max-mm");
    let (endpoint, config) = match &args.connect {
        Some(endpoint) => (
            endpoint.clone(),
            keys::configure(ClientConfig::default(), curve.as_ref()),
        ),
        None => {
            let browser = Browser::new().context("cannot browse mDNS")?;
            let _ = browser.events().recv_timeout(Duration::from_secs(10));
            let found = browser
                .servers()
                .into_iter()
                .next()
                .context("no server found within 10 s")?;
            (
                found.control_endpoint(),
                keys::configure(ClientConfig::default(), curve.as_ref())
                    .with_host_addresses(found.host_addresses()),
            )
        }
    };
    let client = Client::connect_blocking(&endpoint, config, Duration::from_secs(5))?;
    let device = match args.device {
        Some(device) => device,
        None => client
            .me()
            .and_then(|me| me.devices.first().map(|device| device.id.clone()))
            .context("the server has no sensors")?,
    };
    let frame = client
        .subscribe(&device)?
        .recv_timeout(Duration::from_secs(5))
        .context("no frame within 5 s")?;
    let rgb = colour_map(&frame.depth, args.min_mm, args.max_mm);
    let file =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut encoder = png::Encoder::new(
        BufWriter::new(file),
        u32::try_from(frame.depth.width())?,
        u32::try_from(frame.depth.height())?,
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&rgb)?;
    println!(
        "{}: {}x{} frame of sensor {device} saved to {}",
        client.name().unwrap_or_default(),
        frame.depth.width(),
        frame.depth.height(),
        args.out.display()
    );
    Ok(())
}

/// Colour stops from near to far (a perceptually ordered "turbo"-like ramp).
const STOPS: [[u8; 3]; 6] = [
    [122, 4, 3],    // dark red
    [249, 87, 56],  // orange-red
    [246, 219, 56], // yellow
    [99, 246, 117], // green
    [40, 162, 248], // blue
    [48, 18, 59],   // deep indigo
];

/// RGB bytes, row-major: `0` (no reading) is black, depths clamp to `min_mm..=max_mm`.
fn colour_map(depth: &DepthFrame, min_mm: u16, max_mm: u16) -> Vec<u8> {
    let span = f32::from(max_mm - min_mm);
    let mut rgb = Vec::with_capacity(depth.depth_mm().len() * 3);
    for &mm in depth.depth_mm() {
        if mm == 0 {
            rgb.extend([0, 0, 0]);
            continue;
        }
        let t = f32::from(mm.clamp(min_mm, max_mm) - min_mm) / span * (STOPS.len() - 1) as f32;
        let low = (t.floor() as usize).min(STOPS.len() - 2);
        let frac = t - low as f32;
        for (&a, &b) in STOPS[low].iter().zip(&STOPS[low + 1]) {
            let (a, b) = (f32::from(a), f32::from(b));
            rgb.push((a + (b - a) * frac).round() as u8);
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_reading_is_black_and_the_ends_of_the_range_get_the_end_colours() {
        let depth = DepthFrame::new(4, 1, vec![0, 500, 4500, 9000]).unwrap();
        let rgb = colour_map(&depth, 500, 4500);
        assert_eq!(&rgb[0..3], &[0, 0, 0]);
        assert_eq!(&rgb[3..6], &STOPS[0]);
        assert_eq!(&rgb[6..9], &STOPS[5]);
        assert_eq!(&rgb[9..12], &STOPS[5], "beyond the range clamps");
    }

    #[test]
    fn nearer_is_redder() {
        let depth = DepthFrame::new(2, 1, vec![800, 3000]).unwrap();
        let rgb = colour_map(&depth, 500, 4500);
        assert!(rgb[0] > rgb[3] && rgb[2] < rgb[5], "{rgb:?}");
    }
}
