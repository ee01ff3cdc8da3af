//! Receives depth frames from every sensor of one server and prints, once a second per sensor,
//! frames per second, latency (on endpoints that carry a capture time) and drops.
//!
//! ```text
//! cargo run --release --example depth_client -- --connect tcp://localhost:5555 --seconds 10
//! cargo run --release --example depth_client            # the first server mDNS finds
//! cargo run --release --example depth_client -- --connect tcp://host:5555 --server-key server.key
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use sk2_client::{Browser, Client, ClientConfig, Subscription};
use streamkinect2::keys;

#[derive(Parser, Debug)]
struct Args {
    /// The server's control endpoint; without it, the first server found by mDNS.
    #[arg(long, value_name = "tcp://host:port")]
    connect: Option<String>,
    /// How long to run (0 = until interrupted).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// --server-key / --client-key: reach a secure server (docs/security.md).
    #[command(flatten)]
    keys: streamkinect2::keys::ClientKeyArgs,
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        eprintln!("depth_client: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let curve = args.keys.load()?;
    let (endpoint, config) = match args.connect {
        Some(endpoint) => (
            endpoint,
            keys::configure(ClientConfig::default(), curve.as_ref()),
        ),
        None => {
            let browser = Browser::new().context("cannot browse mDNS")?;
            let found = browser
                .events()
                .recv_timeout(Duration::from_secs(10))
                .ok()
                .and_then(|_| browser.servers().into_iter().next())
                .context("no server found within 10 s")?;
            (
                found.control_endpoint(),
                keys::configure(ClientConfig::default(), curve.as_ref())
                    .with_host_addresses(found.host_addresses()),
            )
        }
    };
    let client = Client::connect_blocking(&endpoint, config, Duration::from_secs(5))?;
    let me = client.me().context("connected without a `me`")?;
    if me.devices.is_empty() {
        bail!("{} has no sensors", me.name);
    }
    let subscriptions: Vec<Subscription> = me
        .devices
        .iter()
        .map(|device| client.subscribe(&device.id))
        .collect::<Result<_, _>>()?;
    println!("{}: {} sensor(s)", me.name, subscriptions.len());

    // Per sensor: frames and summed latency in the current one-second window.
    let mut window: BTreeMap<String, (u32, Duration, u32)> = BTreeMap::new();
    let started = Instant::now();
    let mut next_report = started + Duration::from_secs(1);
    let mut select = crossbeam_channel::Select::new();
    for subscription in &subscriptions {
        select.recv(subscription.frames());
    }
    while args.seconds == 0 || started.elapsed() < Duration::from_secs(args.seconds) {
        if let Ok(ready) = select.ready_timeout(Duration::from_millis(100)) {
            while let Some(frame) = subscriptions[ready].try_recv() {
                let entry = window.entry(frame.device_id.clone()).or_default();
                entry.0 += 1;
                if let Some(latency) = frame.latency() {
                    entry.1 += latency;
                    entry.2 += 1;
                }
            }
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(1);
            for subscription in &subscriptions {
                let (frames, latency, timed) =
                    window.remove(subscription.device_id()).unwrap_or_default();
                let stats = subscription.stats();
                let latency = if timed > 0 {
                    format!("{:.1} ms", (latency / timed).as_secs_f64() * 1e3)
                } else {
                    "n/a".to_owned()
                };
                println!(
                    "{}  {frames:>3} fps  latency {latency:>8}  dropped {}  skipped {}  lost {}  bad {}",
                    &subscription.device_id()[..8.min(subscription.device_id().len())],
                    stats.dropped,
                    stats.skipped,
                    stats.lost,
                    stats.decode_errors
                );
            }
        }
    }
    Ok(())
}
