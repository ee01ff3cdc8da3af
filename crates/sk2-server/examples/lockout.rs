//! Lock-out benchmark: can idle and silent peers keep a client out of the control endpoint?
//!
//! Starts a server on 127.0.0.1 (default limits), then two crowds: `--crowd` connections from
//! 127.0.0.2 that complete the ZMTP handshake and stay idle, and as many from 127.0.0.3 that never
//! send a byte; both reopen whatever the server closes. A client on 127.0.0.1 then pings
//! `--pings` times, and the program prints the latency percentiles, the most descriptors the
//! server held on its port and its resident memory. Exits 1 if any ping goes unanswered or the
//! p99 exceeds `--max-p99-ms`. Linux (the crowds use 127.0.0.0/8, the figures /proc).
//!
//! ```text
//! cargo run --release -p sk2-server --example lockout
//! ```

#[path = "../tests/common/horde.rs"]
#[allow(dead_code)] // the test helpers not used here
mod horde;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::Parser;
use sk2_proto::control::{Reply, Request};
use sk2_server::{Config, Server};

use horde::{descriptors_on_port, raise_open_files_limit, resident_bytes, Behaviour, Horde};

#[derive(Debug, Parser)]
#[command(
    name = "lockout",
    about = "Ping latency while idle and silent crowds attack"
)]
struct Settings {
    /// Connections in each crowd.
    #[arg(long, default_value_t = 1000)]
    crowd: usize,
    /// Pings the client sends, 10 ms apart.
    #[arg(long, default_value_t = 1000)]
    pings: usize,
    /// Fail if the 99th percentile of the ping latency exceeds this.
    #[arg(long, default_value_t = 50.0)]
    max_p99_ms: f64,
}

fn main() -> Result<()> {
    let settings = Settings::parse();
    let needed = 4 * settings.crowd as u64 + 1024;
    let soft = raise_open_files_limit(needed)?;
    ensure!(
        soft >= needed,
        "needs {needed} open files, the hard limit allows {soft}"
    );

    let mut config = Config::default();
    config.bind_host = "127.0.0.1".into();
    config.announce = false;
    let mut server = Server::new(config);
    server.start()?;
    let endpoint = server.control_endpoint().context("no control endpoint")?;
    let port: u16 = endpoint.rsplit(':').next().context("no port")?.parse()?;
    let before = resident_bytes()?;

    let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let from = |last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
    let idle = Horde::start(from(2), target, settings.crowd, Behaviour::Idle("REQ"));
    let silent = Horde::start(from(3), target, settings.crowd, Behaviour::Silent);
    while idle.passes() < 1 || silent.passes() < 1 {
        thread::sleep(Duration::from_millis(20));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || -> Result<(usize, u64)> {
            let (mut fds, mut rss) = (0, 0);
            while !stop.load(Ordering::Acquire) {
                fds = fds.max(descriptors_on_port(port)?);
                rss = rss.max(resident_bytes()?);
                thread::sleep(Duration::from_millis(50));
            }
            Ok((fds, rss))
        })
    };
    let context = zmq::Context::new();
    let client = context.socket(zmq::REQ)?;
    client.set_rcvtimeo(5000)?;
    client.set_linger(0)?;
    client.connect(&endpoint)?;
    let mut latencies = Vec::with_capacity(settings.pings);
    for i in 0..settings.pings {
        let start = Instant::now();
        client.send_multipart(Request::Ping.encode(), 0)?;
        let frames = client
            .recv_multipart(0)
            .with_context(|| format!("ping {i} unanswered within 5 s"))?;
        latencies.push(start.elapsed());
        ensure!(Reply::decode(&frames)? == Reply::Pong, "not a pong");
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Release);
    let (most_fds, most_rss) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("sampler panicked"))??;
    let (idle_opened, idle_admitted, silent_opened) =
        (idle.opened(), idle.admitted(), silent.opened());
    idle.stop();
    silent.stop();

    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "crowds: {} idle-handshaked from 127.0.0.2, {} silent from 127.0.0.3",
        settings.crowd, settings.crowd
    );
    println!("connections opened by the crowds: {idle_opened} to idle ({idle_admitted} admitted), {silent_opened} silent");
    println!(
        "server: refused {}, evicted {}; at most {most_fds} descriptors on the control port",
        server.refused_control_peers(),
        server.evicted_control_peers()
    );
    println!(
        "resident memory: {:.1} MiB before, at most {:.1} MiB under attack (+{:.1} MiB)",
        before as f64 / 1048576.0,
        most_rss as f64 / 1048576.0,
        most_rss.saturating_sub(before) as f64 / 1048576.0
    );
    let p99 = ms(at(0.99));
    println!(
        "{} pings from 127.0.0.1, all answered: p50 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms",
        latencies.len(),
        ms(at(0.5)),
        ms(at(1.0))
    );
    server.stop();
    ensure!(
        p99 <= settings.max_p99_ms,
        "p99 {p99:.2} ms exceeds {} ms",
        settings.max_p99_ms
    );
    Ok(())
}
