//! Load on the viewer's web server: N tabs long-polling a 30 fps, 512 x 424 stream on loopback.
//! Prints, per tab count, the frames per second each tab got (mean and slowest), the time from
//! publishing a frame to a tab having all of it (median and 99th percentile), and the server's
//! threads in flight at the end.
//!
//! Run: `cargo run --release -p sk2-view --example view_load [-- --tabs 1,4,16,32 --seconds 3]`
//! (or without --release; slower).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clap::Parser;
use sk2_view::{Hub, SourceFrame, SourceKey, ViewConfig, ViewServer};

const FPS: f64 = 30.0;

#[derive(Debug, Parser)]
#[command(
    name = "view_load",
    about = "Load on kinect-view's web server: N tabs long-polling"
)]
struct Cli {
    /// Tab counts to try, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,32")]
    tabs: Vec<usize>,
    /// Length of each run, s.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
}

fn main() {
    let cli = Cli::parse();
    let run = Duration::from_secs(cli.seconds);
    println!(
        "{:>5} {:>10} {:>10} {:>12} {:>12} {:>10}",
        "tabs", "fps mean", "fps min", "p50 ms", "p99 ms", "in flight"
    );
    for &tabs in &cli.tabs {
        let hub = Hub::new();
        let key = SourceKey::new("load", "s");
        hub.server_seen("load", "load:");
        hub.set_sensors("load", &[("s".into(), "raw".into())]);
        let server = ViewServer::start(
            TcpListener::bind("127.0.0.1:0").expect("bind loopback"),
            hub.clone(),
            ViewConfig::default(),
        )
        .expect("start");
        let publisher = {
            let (hub, key) = (hub.clone(), key.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut sequence = 0;
                while started.elapsed() < run + Duration::from_millis(500) {
                    hub.publish(
                        &key,
                        SourceFrame {
                            depth: sk2_view::synthetic::picture(sequence),
                            sensor_sequence: Some(sequence),
                            capture_time_ns: Some(sk2_proto::sensor::unix_time_ns()),
                            latency: None,
                            lost: 0,
                        },
                    );
                    sequence += 1;
                    std::thread::sleep(Duration::from_secs_f64(1.0 / FPS));
                }
            })
        };
        let addr = server.local_addr();
        let workers: Vec<_> = (0..tabs)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut latencies_ms = Vec::new();
                    let mut after = 0u64;
                    let started = Instant::now();
                    let mut stream = TcpStream::connect(addr).expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    while started.elapsed() < run {
                        write!(stream, "GET /api/frame?server=load&sensor=s&after={after} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("write");
                        let (headers, _body) = read_reply(&mut reader);
                        let status = headers.split(' ').nth(1).unwrap_or_default().to_owned();
                        assert!(status == "200" || status == "204", "answer {headers}");
                        let now_ms = sk2_proto::sensor::unix_time_ns() as f64 / 1e6;
                        if let Some(number) = header(&headers, "X-Frame-Number") {
                            after = number.parse().expect("number");
                            let captured: f64 = header(&headers, "X-Capture-Time-Ms").expect("time").parse().expect("ms");
                            latencies_ms.push(now_ms - captured);
                        }
                    }
                    latencies_ms
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut rates = Vec::new();
        for worker in workers {
            let latencies = worker.join().expect("tab thread");
            rates.push(latencies.len() as f64 / run.as_secs_f64());
            all.extend(latencies);
        }
        publisher.join().expect("publisher");
        if std::env::var_os("VIEW_LOAD_RATES").is_some() {
            eprintln!("{tabs} tabs, frames/s each: {rates:.1?}");
        }
        all.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            all.get(((all.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "{:>5} {:>10.1} {:>10.1} {:>12.2} {:>12.2} {:>10}",
            tabs,
            rates.iter().sum::<f64>() / rates.len() as f64,
            rates.iter().copied().fold(f64::INFINITY, f64::min),
            pick(0.5),
            pick(0.99),
            server.stats().in_flight
        );
    }
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(": ")?;
        key.eq_ignore_ascii_case(name).then_some(value.trim())
    })
}

/// Reads one keep-alive HTTP reply: headers, then Content-Length bytes of body.
fn read_reply(stream: &mut BufReader<TcpStream>) -> (String, Vec<u8>) {
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        stream.read_line(&mut head).expect("read head");
    }
    let len: usize = header(&head, "Content-Length").map_or(0, |v| v.parse().unwrap_or(0));
    let mut body = vec![0; len];
    stream.read_exact(&mut body).expect("read body");
    (head, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    #[test]
    fn tab_counts_are_a_comma_list_and_unknown_flags_are_errors() {
        let cli = Cli::try_parse_from(["view_load", "--tabs", "2,8", "--seconds", "1"]).unwrap();
        assert_eq!((cli.tabs, cli.seconds), (vec![2, 8], 1));
        assert_eq!(
            Cli::try_parse_from(["view_load"]).unwrap().tabs,
            [1, 4, 16, 32]
        );
        let kind = |args: &[&str]| Cli::try_parse_from(args).unwrap_err().kind();
        assert_eq!(
            kind(&["view_load", "--tabs", "two"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(kind(&["view_load", "--fast"]), ErrorKind::UnknownArgument);
    }
}
