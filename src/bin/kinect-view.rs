//! `kinect-view`: watch a live depth stream in your browser.
//!
//! Serves a page on `--listen` (default http://127.0.0.1:8080) showing the sensor's depth,
//! colour-mapped over a range fitted to the scene (the 2nd to 98th percentile of the measured
//! pixels, smoothed over frames) or a fixed near/far range, with a legend of the range in use, the
//! depth under the pointer and a status line. Servers are listed by name, with 8-digit sensor ids,
//! and told apart by control endpoint (two may share a name). Servers are found
//! with mDNS, given with `--connect tcp://host:port`, or, with `--zenoh`, found on Zenoh where
//! bridges publish them. `--server-key` (and `--client-key`) reach a secure server
//! (docs/security.md). SIGINT, SIGTERM or SIGHUP stops it
//! (exit status 0), however it was started.

use std::net::TcpListener;

use anyhow::{Context, Result};
use clap::Parser;
use sk2_client::ClientConfig;
use sk2_view::{FrameSource, Hub, NetworkSource, SyntheticSource, ViewConfig, ViewServer};
use streamkinect2::keys::{self, ClientKeyArgs};
use streamkinect2::zenoh_flags::ZenohFlags;

#[derive(Parser, Debug)]
#[command(
    name = "kinect-view",
    version,
    about = "Show live depth frames in a browser"
)]
struct Args {
    /// Where the page is served. Keep it on 127.0.0.1 unless you mean others to see your sensor.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// A server's control endpoint, `tcp://host:port`; repeat for several. Without it, servers
    /// are found with mDNS.
    #[arg(long, value_name = "ENDPOINT")]
    connect: Vec<String>,
    /// Look for servers with mDNS even when --connect is given.
    #[arg(long)]
    discover: bool,
    /// Open on this sensor id (whichever server has it); its absence is reported.
    #[arg(long, value_name = "ID")]
    sensor: Option<String>,
    /// Show a made-up sensor with a known picture instead of a real server (for trying the page).
    #[arg(long)]
    synthetic: bool,
    /// Frames per second of the synthetic sensor.
    #[arg(long, default_value_t = 30.0, requires = "synthetic")]
    synthetic_fps: f64,
    /// Show the servers that bridges publish on Zenoh (found by their liveliness tokens, not
    /// mDNS; docs/distributed.md). Needs a build with `--features zenoh`.
    #[arg(long)]
    zenoh: bool,
    #[command(flatten)]
    zenoh_flags: ZenohFlags,
    #[command(flatten)]
    keys: ClientKeyArgs,
}

fn main() {
    streamkinect2::init_logging("info");
    if let Err(error) = run(Args::parse()) {
        eprintln!("kinect-view: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.zenoh_flags.any() && !args.zenoh {
        anyhow::bail!("the --zenoh-* flags configure --zenoh, which is not given");
    }
    if args.zenoh && cfg!(not(feature = "zenoh")) {
        anyhow::bail!(streamkinect2::zenoh_flags::NOT_BUILT);
    }
    // Read now: a bad key file is one line and exit 1, before anything starts.
    let keys = args.keys.load()?;
    let stop = streamkinect2::stop_signal()?;
    let hub = Hub::new();
    let listener = TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let server = ViewServer::start(listener, hub.clone(), ViewConfig::default())?;
    // Printed on stdout (logs go to stderr) so scripts and tests can read the address.
    streamkinect2::print_banner([format!("kinect-view: open {}", server.url())]);

    hub.set_preferred_sensor(args.sensor.as_deref());
    let mut sources: Vec<Box<dyn FrameSource>> = Vec::new();
    if args.synthetic {
        sources.push(Box::new(SyntheticSource {
            fps: args.synthetic_fps,
            ..SyntheticSource::default()
        }));
    }
    #[cfg(feature = "zenoh")]
    if args.zenoh {
        sources.push(Box::new(sk2_view::ZenohSource {
            config: args
                .zenoh_flags
                .config(sk2_client::zenoh::ZenohMode::Client)?,
        }));
    }
    let discover = args.discover || (args.connect.is_empty() && !args.synthetic && !args.zenoh);
    if discover || !args.connect.is_empty() {
        sources.push(Box::new(NetworkSource {
            connect: args.connect,
            discover,
            sensor: args.sensor,
            client: keys::configure(ClientConfig::default(), keys.as_ref()),
        }));
    }
    // Dropping `shutdown` tells the sources to stop.
    let (shutdown, shutdown_rx) = crossbeam_channel::bounded::<()>(0);
    let threads: Vec<_> = sources
        .into_iter()
        .map(|source| {
            let (hub, shutdown) = (hub.clone(), shutdown_rx.clone());
            std::thread::Builder::new()
                .name("view-source".to_owned())
                .spawn(move || source.run(hub, shutdown))
                .context("cannot start a source thread")
        })
        .collect::<Result<_>>()?;
    // SIGINT, SIGTERM or SIGHUP: stop the sources, then the page server (which answers waiting
    // tabs at once), and exit 0.
    let _ = stop.recv();
    tracing::info!("shutting down");
    drop(shutdown);
    for thread in threads {
        let _ = thread.join();
    }
    server.stop();
    Ok(())
}
