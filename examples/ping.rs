//! Finds streamkinect2 servers and pings each of them, like the original's ping example.
//!
//! Discovery uses mDNS on your network; `--connect` skips it:
//!
//! ```text
//! cargo run --example ping                                  # browse 3 s, ping what answers
//! cargo run --example ping -- --connect tcp://localhost:5555 --count 10
//! ```

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use sk2_client::{Browser, Client, ClientConfig};
use streamkinect2::keys;

#[derive(Parser, Debug)]
struct Args {
    /// Control endpoints to ping instead of browsing mDNS.
    #[arg(long, value_name = "tcp://host:port")]
    connect: Vec<String>,
    /// Seconds to browse for servers.
    #[arg(long, default_value_t = 3)]
    browse_seconds: u64,
    /// Pings per server.
    #[arg(long, default_value_t = 5)]
    count: u32,
    /// --server-key / --client-key: reach a secure server (docs/security.md).
    #[command(flatten)]
    keys: streamkinect2::keys::ClientKeyArgs,
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        eprintln!("ping: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let curve = args.keys.load()?;
    // (endpoint, config) per server: discovered ones carry their mDNS address for `.local` names.
    let mut targets: Vec<(String, ClientConfig)> = args
        .connect
        .iter()
        .map(|endpoint| {
            (
                endpoint.clone(),
                keys::configure(ClientConfig::default(), curve.as_ref()),
            )
        })
        .collect();
    if targets.is_empty() {
        let browser = Browser::new().context("cannot browse mDNS")?;
        std::thread::sleep(Duration::from_secs(args.browse_seconds));
        for server in browser.servers() {
            println!("found {:?} at {}", server.name, server.control_endpoint());
            targets.push((
                server.control_endpoint(),
                keys::configure(ClientConfig::default(), curve.as_ref())
                    .with_host_addresses(server.host_addresses()),
            ));
        }
    }
    if targets.is_empty() {
        bail!("no servers found");
    }
    for (endpoint, config) in targets {
        let client = match Client::connect_blocking(&endpoint, config, Duration::from_secs(5)) {
            Ok(client) => client,
            Err(error) => {
                println!("{endpoint}: {error}");
                continue;
            }
        };
        let name = client.name().unwrap_or_default();
        for _ in 0..args.count {
            match client.ping() {
                Ok(rtt) => println!(
                    "{name} ({endpoint}): pong in {:.3} ms",
                    rtt.as_secs_f64() * 1e3
                ),
                Err(error) => println!("{name} ({endpoint}): {error}"),
            }
        }
    }
    Ok(())
}
