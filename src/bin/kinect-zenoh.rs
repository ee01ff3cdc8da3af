//! `kinect-zenoh`: publish a streamkinect2 server's depth streams on Zenoh (docs/distributed.md).
//!
//! `kinect-zenoh --connect tcp://host:port --zenoh-listen tcp/0.0.0.0:7447` reads the server at
//! that control endpoint (ours, or the 2014 Python one) and publishes every sensor on
//! `kinect2/<server-id>/<sensor-id>/depth_v2` (or `/depth` for a server that has only the
//! original format), its `me` as a queryable `kinect2/<server-id>/me`, and a liveliness token
//! `kinect2/<server-id>` while the server answers. `kinect-zenoh --router` runs a bare Zenoh router
//! instead (Zenoh's routing, without `zenohd`'s plugins). Stops on SIGINT, SIGTERM or SIGHUP.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use sk2_zenoh::{Bridge, BridgeConfig, ZenohMode};
use streamkinect2::zenoh_flags::ZenohFlags;

/// How often the bridge's counters are logged.
const STATS_EVERY: Duration = Duration::from_secs(10);

#[derive(Parser, Debug)]
#[command(
    name = "kinect-zenoh",
    version,
    about = "Publish a streamkinect2 server's depth streams on Zenoh"
)]
struct Args {
    /// The server's control endpoint, `tcp://host:port`.
    #[arg(
        long,
        value_name = "tcp://host:port",
        required_unless_present = "router"
    )]
    connect: Option<String>,
    /// The server's id in Zenoh keys (default: the server's name).
    #[arg(long, value_name = "ID")]
    server_id: Option<String>,
    /// Run a Zenoh router instead of a bridge (give it --zenoh-listen).
    #[arg(long, conflicts_with_all = ["connect", "server_id"])]
    router: bool,
    #[command(flatten)]
    zenoh: ZenohFlags,
}

fn main() {
    streamkinect2::init_logging("info");
    if let Err(error) = run(Args::parse()) {
        eprintln!("kinect-zenoh: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let stop = streamkinect2::stop_signal()?;
    let default_mode = if args.router {
        ZenohMode::Router
    } else {
        ZenohMode::Peer
    };
    let zenoh = args.zenoh.config(default_mode)?;
    if args.router {
        let session = sk2_zenoh::start_node(&zenoh)?;
        streamkinect2::print_banner([format!("zenoh router: {}", session.zid())]);
        let _ = stop.recv();
        drop(session);
        return Ok(());
    }
    let Some(upstream) = args.connect else {
        bail!("--connect tcp://host:port is required");
    };
    if args.server_id.as_deref() == Some("") {
        bail!("--server-id cannot be empty");
    }
    let bridge = Bridge::start(
        BridgeConfig::new(upstream.clone())
            .with_server_id(args.server_id)
            .with_zenoh(zenoh),
    )
    .with_context(|| format!("starting the bridge to {upstream}"))?;
    streamkinect2::print_banner([format!("bridging {upstream} to Zenoh")]);
    // Counters every STATS_EVERY until a stop signal.
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(STATS_EVERY) {
        tracing::info!(server_id = ?bridge.server_id(), stats = ?bridge.stats(), "bridge");
    }
    tracing::info!("shutting down");
    bridge.stop();
    Ok(())
}
