//! How much CPU the colour passthrough costs: runs a `Freenect2Sensor` with depth and colour
//! sinks for a while and reads, per thread, the CPU time the kernel accounted
//! (`/proc/self/task/<tid>/schedstat`, nanoseconds). The colour sink does what the server does
//! per colour frame before the socket: builds the `color` message (header + JPEG). Linux only.
//!
//! Against the libfreenect2 stand-in (its fake device streams at 30 fps; pad its JPEGs to the
//! size of a real Kinect's):
//!
//! ```sh
//! export PKG_CONFIG_PATH=$(crates/sk2-freenect2/tests/fixtures/build-standin.sh | tail -n1)
//! SK2_STANDIN_SERIALS=AAA SK2_STANDIN_COLOR_JPEG_BYTES=250000 \
//!   cargo run --release -p sk2-freenect2 --features ffi --example color_passthrough_cpu -- 20
//! ```
//!
//! With a real Kinect v2 the same command without the `SK2_STANDIN_*` variables measures the
//! real thing. The argument is the measuring time in seconds (default 20).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sk2_freenect2::{Freenect2Sensor, OpenOptions};
use sk2_proto::{CapturedColorFrame, Sensor, StreamSinks};

/// Frames before the measurement starts: the first second includes start-up work.
const WARM_UP: Duration = Duration::from_secs(2);

fn main() -> Result<()> {
    let seconds: u64 = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .context("the argument is the measuring time in seconds")?,
        None => 20,
    };
    if seconds == 0 {
        bail!("the measuring time must be at least 1 s");
    }
    let mut sensor = Freenect2Sensor::open(&OpenOptions::default())?;
    let depth_frames = Arc::new(AtomicU64::new(0));
    let color_frames = Arc::new(AtomicU64::new(0));
    let color_bytes = Arc::new(AtomicU64::new(0));
    let mut message = Vec::new();
    sensor.start_streams(StreamSinks {
        depth: Box::new({
            let depth_frames = Arc::clone(&depth_frames);
            move |_frame| {
                depth_frames.fetch_add(1, Ordering::Relaxed);
            }
        }),
        ir: None,
        color: Some(Box::new({
            let (color_frames, color_bytes) = (Arc::clone(&color_frames), Arc::clone(&color_bytes));
            move |frame: CapturedColorFrame| {
                sk2_proto::color::encode_into(&frame, &mut message);
                color_frames.fetch_add(1, Ordering::Relaxed);
                color_bytes.fetch_add(frame.jpeg.bytes().len() as u64, Ordering::Relaxed);
            }
        })),
    })?;
    std::thread::sleep(WARM_UP);
    let before = thread_cpu_ns()?;
    let (depth_before, color_before) = (
        depth_frames.load(Ordering::Relaxed),
        color_frames.load(Ordering::Relaxed),
    );
    let bytes_before = color_bytes.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let after = thread_cpu_ns()?;
    let elapsed = started.elapsed().as_secs_f64();
    let depth = depth_frames.load(Ordering::Relaxed) - depth_before;
    let color = color_frames.load(Ordering::Relaxed) - color_before;
    let bytes = color_bytes.load(Ordering::Relaxed) - bytes_before;
    sensor.stop();

    println!(
        "{elapsed:.1} s: {depth} depth frames ({:.1} fps), {color} colour frames ({:.1} fps, \
         {:.0} kB each); {:?}",
        depth as f64 / elapsed,
        color as f64 / elapsed,
        bytes as f64 / color.max(1) as f64 / 1000.0,
        sensor.stats()
    );
    println!(
        "{:<18} {:>10} {:>12} {:>14}",
        "thread", "CPU ms", "% of a core", "µs per frame"
    );
    for (name, end_ns) in &after {
        let spent_ns = end_ns.saturating_sub(before.get(name).copied().unwrap_or(0));
        let frames = if name.starts_with("freenect2-rgb") || name == "standin-rgb" {
            color
        } else {
            depth
        };
        println!(
            "{name:<18} {:>10.1} {:>11.2}% {:>14.1}",
            spent_ns as f64 / 1e6,
            spent_ns as f64 / 1e9 / elapsed * 100.0,
            spent_ns as f64 / 1e3 / frames.max(1) as f64
        );
    }
    Ok(())
}

/// CPU time (ns) of this process's threads by name, summed over threads of the same name, for
/// the names that matter here: the binding's capture threads and the stand-in's fake driver.
fn thread_cpu_ns() -> Result<BTreeMap<String, u64>> {
    let mut by_name = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task").context("reading /proc/self/task")? {
        let path = entry?.path();
        let (Ok(name), Ok(schedstat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("schedstat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        let name = name.trim().to_owned();
        if !(name.starts_with("freenect2-") || name.starts_with("standin-")) {
            continue;
        }
        let on_cpu_ns: u64 = schedstat
            .split_whitespace()
            .next()
            .and_then(|field| field.parse().ok())
            .context("unexpected /proc/<pid>/task/<tid>/schedstat")?;
        *by_name.entry(name).or_insert(0) += on_cpu_ns;
    }
    Ok(by_name)
}
