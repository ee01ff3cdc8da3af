//! How closely a replayed recording keeps its recorded pace, measured where the frames leave the
//! replay (the sensor's sink), without server, network or client: for each frame, its delivery
//! time minus its recorded capture time (divided by the rate) is the same when the pace is kept;
//! the jitter is how far each is from the median. Prints p50, p99 and the largest, and the CPU
//! the process used per second of playback (the replay's final stretch before each frame yields
//! instead of sleeping; Linux only, from `/proc/self/task/*/schedstat`).
//!
//! `cargo run --release -p sk2-mock --example replay_pacing -- FILE.mcap [RATE]`
//! (docs/recording.md has the figures).

use std::sync::mpsc;
use std::time::Instant;

use sk2_mock::{PlaybackConfig, RecordingSensor};
use sk2_proto::Sensor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: replay_pacing FILE.mcap [RATE]")?;
    let rate: f64 = args.next().map_or(Ok(1.0), |rate| rate.parse())?;
    let playback = PlaybackConfig {
        rate,
        looping: false,
    };
    let mut sensors = RecordingSensor::open_all(&path, playback)?;
    let sensor = sensors.first_mut().ok_or("no sensor in the recording")?;
    let frames = sensor.recorded().frames as usize;
    let (sender, delivered) = mpsc::channel();
    let cpu_before_ns = cpu_ns();
    let started = Instant::now();
    sensor.start(Box::new(move |frame| {
        let _ = sender.send((Instant::now(), frame.capture_time_ns));
    }))?;
    let delivered: Vec<(Instant, u64)> = delivered.iter().take(frames).collect();
    let played_s = started.elapsed().as_secs_f64();
    let cpu_used_ns = cpu_ns()
        .zip(cpu_before_ns)
        .map(|(after, before)| after - before);
    sensor.stop();
    let (first_at, first_capture) = delivered[0];
    let mut errors_ms: Vec<f64> = delivered
        .iter()
        .map(|&(at, capture)| {
            let since_first = at.duration_since(first_at).as_secs_f64();
            let recorded = (capture - first_capture) as f64 / 1e9 / rate;
            (since_first - recorded) * 1e3
        })
        .collect::<Vec<f64>>();
    let mut sorted = errors_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    for error in &mut errors_ms {
        *error = (*error - median).abs();
    }
    errors_ms.sort_by(f64::total_cmp);
    let quantile = |q: f64| errors_ms[((errors_ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{} frames at rate {rate}: |delivery - recorded pace| p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        errors_ms.len(),
        quantile(0.5),
        quantile(0.99),
        quantile(1.0)
    );
    if let Some(used_ns) = cpu_used_ns {
        println!(
            "CPU: {:.1} ms per second of playback ({:.2} % of one core)",
            used_ns as f64 / 1e6 / played_s,
            used_ns as f64 / 1e7 / played_s
        );
    }
    Ok(())
}

/// Time this process's threads have spent on a CPU, in ns (`None` where `/proc` lacks it).
fn cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let schedstat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}
