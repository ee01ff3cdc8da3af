//! `kinect-browse`: find streamkinect2 servers and show their sensors and ping times.
//!
//! By default it watches the network (mDNS) and shows servers as they come and go, refreshing
//! live. `--once --timeout S` prints what it found in S seconds and exits; `--json` prints JSON
//! (one array with `--once`, one object per line when watching); `--connect tcp://host:port` skips
//! discovery and talks to the given servers directly; `--zenoh` lists the servers bridges publish
//! on Zenoh (a build with `--features zenoh`). Secure servers (docs/security.md) are shown as
//! such, with the key they announce; `--server-key` (and `--client-key`) talk to one.

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use sk2_client::{ClientConfig, Endpoint};
use streamkinect2::browse::BrowseOptions;
use streamkinect2::keys::{self, ClientKeyArgs, ClientKeys};

/// Exit status for a server that could not be reached (`--connect`) or mDNS that cannot start.
const EXIT_FAILURE: i32 = 1;
/// Exit status for bad command-line arguments (clap uses 2 as well).
const EXIT_USAGE: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "kinect-browse",
    version,
    about = "Find streamkinect2 servers and show their sensors and ping times"
)]
struct Args {
    /// Print what is found within --timeout and exit, instead of watching.
    #[arg(long)]
    once: bool,
    /// Seconds to search (with --once) or to wait for each server's answer.
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    timeout: f64,
    /// Machine-readable output: a JSON array with --once, JSON Lines events when watching.
    #[arg(long)]
    json: bool,
    /// Talk to this control endpoint instead of browsing mDNS (repeatable).
    #[arg(long, value_name = "tcp://host:port")]
    connect: Vec<String>,
    /// Seconds between ping refreshes when watching.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    refresh: f64,
    /// List the servers that bridges publish on Zenoh (their liveliness tokens) instead of
    /// browsing mDNS (docs/distributed.md). Needs a build with `--features zenoh`.
    #[arg(long, conflicts_with = "connect")]
    zenoh: bool,
    #[command(flatten)]
    zenoh_flags: streamkinect2::zenoh_flags::ZenohFlags,
    #[command(flatten)]
    key_args: ClientKeyArgs,
    /// The keys `key_args` names, read once before anything starts.
    #[arg(skip)]
    keys: Option<ClientKeys>,
}

fn main() {
    streamkinect2::init_logging("warn");
    let mut args = Args::parse();
    let result = args.key_args.load().and_then(|keys| {
        args.keys = keys;
        check(&args)?;
        run(&args)
    });
    let code = match result {
        Ok(code) => code,
        // The reader of our output has gone (`kinect-browse --once | head -1`): it has all it
        // wanted, so this is not a failure, as with any Unix filter.
        Err(error) if streamkinect2::is_broken_pipe(&error) => 0,
        Err(error) => {
            eprintln!("kinect-browse: {error:#}");
            if error.is::<UsageError>() {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            }
        }
    };
    std::process::exit(code);
}

/// Tags a bad-argument error so `main` exits with [`EXIT_USAGE`].
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn check(args: &Args) -> Result<()> {
    let usage = |text: String| Err(anyhow::Error::new(UsageError(text)));
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout < 86_400.0) {
        return usage(format!(
            "--timeout must be a positive number of seconds, got {}",
            args.timeout
        ));
    }
    if !(args.refresh.is_finite() && args.refresh >= 0.1 && args.refresh < 86_400.0) {
        return usage(format!(
            "--refresh must be at least 0.1 s, got {}",
            args.refresh
        ));
    }
    for endpoint in &args.connect {
        if let Err(error) = endpoint.parse::<Endpoint>() {
            return usage(error.to_string());
        }
    }
    if args.zenoh_flags.any() && !args.zenoh {
        return usage("the --zenoh-* flags configure --zenoh, which is not given".to_owned());
    }
    Ok(())
}

#[cfg(feature = "zenoh")]
fn zenoh(args: &Args) -> Result<i32> {
    let stop = streamkinect2::stop_signal()?;
    let options = streamkinect2::zenoh_browse::BrowseOptions {
        config: args
            .zenoh_flags
            .config(sk2_client::zenoh::ZenohMode::Client)?,
        once: args.once,
        timeout: Duration::from_secs_f64(args.timeout),
        json: args.json,
    };
    streamkinect2::zenoh_browse::run(&options, &stop)
}

#[cfg(not(feature = "zenoh"))]
fn zenoh(_args: &Args) -> Result<i32> {
    anyhow::bail!(streamkinect2::zenoh_flags::NOT_BUILT)
}

fn config(args: &Args) -> ClientConfig {
    let timeout = Duration::from_secs_f64(args.timeout);
    // Heartbeats keep the sensor list live while watching; the timeout doubles as the answer time.
    let config = ClientConfig::default()
        .with_request_timeout(timeout)
        .with_heartbeat(Duration::from_secs_f64(args.refresh).max(timeout));
    keys::configure(config, args.keys.as_ref())
}

fn run(args: &Args) -> Result<i32> {
    if args.zenoh {
        return zenoh(args);
    }
    streamkinect2::browse::run(&BrowseOptions {
        client: config(args),
        connect: args.connect.clone(),
        once: args.once,
        timeout: Duration::from_secs_f64(args.timeout),
        refresh: Duration::from_secs_f64(args.refresh),
        json: args.json,
    })
}
