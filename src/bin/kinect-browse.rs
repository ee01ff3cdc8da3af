//! `kinect-browse`: find streamkinect2 servers and show their sensors and ping times.
//!
//! By default it watches the network (mDNS) and shows servers as they come and go, refreshing
//! live. `--once --timeout S` prints what it found in S seconds and exits; `--json` prints JSON
//! (one array with `--once`, one object per line when watching); `--connect tcp://host:port` skips
//! discovery and talks to the given servers directly.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use sk2_client::{Browser, BrowserEvent, Client, ClientConfig, ClientEvent, Endpoint, ServerInfo};
use sk2_proto::Me;

/// Exit status for a server that could not be reached (`--connect`) or mDNS that cannot start.
const EXIT_FAILURE: i32 = 1;
/// Exit status for bad command-line arguments (clap uses 2 as well).
const EXIT_USAGE: i32 = 2;
/// Shortest pause between two re-verifications of the same discovered server.
const REVERIFY_EVERY: Duration = Duration::from_secs(5);

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
}

fn main() {
    streamkinect2::init_logging("warn");
    let args = Args::parse();
    let code = match check(&args).and_then(|()| run(&args)) {
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
    Ok(())
}

fn config(args: &Args) -> ClientConfig {
    let timeout = Duration::from_secs_f64(args.timeout);
    // Heartbeats keep the sensor list live while watching; the timeout doubles as the answer time.
    ClientConfig::default()
        .request_timeout(timeout)
        .heartbeat(Duration::from_secs_f64(args.refresh).max(timeout))
}

fn run(args: &Args) -> Result<i32> {
    match (args.once, args.connect.is_empty()) {
        (true, false) => once_connect(args),
        (true, true) => once_browse(args),
        (false, _) => watch(args),
    }
}

/// One server's state as shown.
#[derive(Debug, Clone, Default)]
struct Report {
    name: Option<String>,
    control_endpoint: String,
    address: Option<String>,
    reachable: bool,
    rtt: Option<Duration>,
    me: Option<Me>,
}

impl Report {
    fn from_client(client: &Client, info: Option<&ServerInfo>) -> Self {
        let me = client.me();
        let reachable = client.is_connected();
        let rtt = if reachable { client.ping().ok() } else { None };
        Report {
            name: info
                .map(|info| info.name.clone())
                .or_else(|| me.as_ref().map(|me| me.name.clone())),
            control_endpoint: info
                .map(ServerInfo::control_endpoint)
                .unwrap_or_else(|| client.endpoint().to_string()),
            address: info.and_then(ServerInfo::address).map(|ip| ip.to_string()),
            reachable,
            rtt,
            me,
        }
    }

    /// The `depth_v2` codec a device advertises (the `codec` key of its record), if any.
    fn codec(&self, device_id: &str) -> Option<&str> {
        self.me
            .as_ref()?
            .device_keys
            .get(device_id)?
            .get(sk2_proto::depth_v2::DEVICE_CODEC_KEY)
            .map(String::as_str)
    }

    fn json(&self) -> Value {
        let devices: Vec<Value> = self
            .me
            .iter()
            .flat_map(|me| &me.devices)
            .map(|device| {
                json!({
                    "id": device.id,
                    "endpoints": device.endpoints,
                    "codec": self.codec(&device.id),
                })
            })
            .collect();
        json!({
            "name": self.name,
            "control_endpoint": self.control_endpoint,
            "address": self.address,
            "reachable": self.reachable,
            "rtt_ms": self.rtt.map(|rtt| rtt.as_secs_f64() * 1e3),
            "devices": devices,
        })
    }

    fn text(&self) -> String {
        let name = self.name.as_deref().unwrap_or("(unnamed)");
        let status = match (self.reachable, self.rtt) {
            (true, Some(rtt)) => format!("ping {:.2} ms", rtt.as_secs_f64() * 1e3),
            (true, None) => "connected".to_owned(),
            (false, _) => "unreachable".to_owned(),
        };
        let mut text = format!("{name}  {}  {status}", self.control_endpoint);
        for device in self.me.iter().flat_map(|me| &me.devices) {
            let endpoints: Vec<String> = device
                .endpoints
                .iter()
                .map(|(kind, address)| format!("{kind} {address}"))
                .collect();
            let codec = self
                .codec(&device.id)
                .map(|codec| format!("  ({codec})"))
                .unwrap_or_default();
            text.push_str(&format!(
                "\n  sensor {}  {}{codec}",
                device.id,
                endpoints.join(", ")
            ));
        }
        text
    }
}

fn print_reports(args: &Args, reports: &[Report]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json {
        let all: Vec<Value> = reports.iter().map(Report::json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
    } else if reports.is_empty() {
        writeln!(out, "no servers found")?;
    } else {
        for report in reports {
            writeln!(out, "{}", report.text())?;
        }
    }
    Ok(())
}

fn once_connect(args: &Args) -> Result<i32> {
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut reports = Vec::new();
    for endpoint in &args.connect {
        let client = Client::connect_blocking(endpoint, config(args), timeout)
            .with_context(|| format!("cannot reach {endpoint}"))?;
        reports.push(Report::from_client(&client, None));
    }
    print_reports(args, &reports)?;
    Ok(0)
}

fn once_browse(args: &Args) -> Result<i32> {
    let timeout = Duration::from_secs_f64(args.timeout);
    let browser = Browser::new().context("cannot start mDNS browsing")?;
    std::thread::sleep(timeout);
    let servers = browser.servers();
    let browser = &browser;
    // Ask every server at once, so N servers take one timeout, not N.
    let reports: Vec<Report> = std::thread::scope(|scope| {
        let handles: Vec<_> = servers
            .iter()
            .map(|info| {
                scope.spawn(move || {
                    let endpoint = info.control_endpoint();
                    match Client::connect_blocking(
                        &endpoint,
                        info.client_config(config(args)),
                        timeout,
                    ) {
                        Ok(client) => Report::from_client(&client, Some(info)),
                        Err(error) => {
                            tracing::debug!(%error, %endpoint, "server did not answer");
                            // Maybe a crashed server's stale record: ask mDNS to check it.
                            let _ = browser.verify(&info.fullname);
                            Report {
                                name: Some(info.name.clone()),
                                control_endpoint: endpoint,
                                address: info.address().map(|ip| ip.to_string()),
                                ..Report::default()
                            }
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().ok())
            .collect()
    });
    print_reports(args, &reports)?;
    Ok(0)
}

/// A watched server.
struct Watched {
    info: Option<ServerInfo>,
    client: Client,
    report: Report,
    last_verify: Option<Instant>,
}

fn watch(args: &Args) -> Result<i32> {
    // SIGINT, SIGTERM or SIGHUP ends the watch with status 0, also in a script's background job.
    let stop = streamkinect2::stop_signal()?;
    let browser = if args.connect.is_empty() {
        Some(Browser::new().context("cannot start mDNS browsing")?)
    } else {
        None
    };
    let mut servers: BTreeMap<String, Watched> = BTreeMap::new();
    for endpoint in &args.connect {
        let client = Client::connect_to(endpoint, config(args))
            .with_context(|| format!("cannot connect to {endpoint}"))?;
        let report = Report::from_client(&client, None);
        servers.insert(
            endpoint.clone(),
            Watched {
                info: None,
                client,
                report,
                last_verify: None,
            },
        );
    }
    let live_table = !args.json && std::io::stdout().is_terminal();
    let refresh = Duration::from_secs_f64(args.refresh);
    let mut next_refresh = Instant::now();
    let browser_events = browser.as_ref().map(Browser::events);
    loop {
        let mut changed = false;
        if let Some(events) = &browser_events {
            while let Ok(event) = events.try_recv() {
                changed = true;
                match event {
                    BrowserEvent::ServerAppeared(info) | BrowserEvent::ServerChanged(info) => {
                        let client = Client::connect_to(
                            &info.control_endpoint(),
                            info.client_config(config(args)),
                        )?;
                        emit(args, live_table, "appeared", &info.name, None);
                        let report = Report::from_client(&client, Some(&info));
                        servers.insert(
                            info.fullname.clone(),
                            Watched {
                                info: Some(info),
                                client,
                                report,
                                last_verify: None,
                            },
                        );
                    }
                    BrowserEvent::ServerDisappeared { name, fullname } => {
                        servers.remove(&fullname);
                        emit(args, live_table, "disappeared", &name, None);
                    }
                    _ => {}
                }
            }
        }
        for (key, watched) in &mut servers {
            while let Ok(event) = watched.client.events().try_recv() {
                changed = true;
                let name = watched.report.name.clone().unwrap_or_else(|| key.clone());
                let (kind, detail) = match &event {
                    ClientEvent::Connected { .. } => {
                        watched.report =
                            Report::from_client(&watched.client, watched.info.as_ref());
                        emit_report(args, live_table, &watched.report);
                        continue;
                    }
                    ClientEvent::Disconnected { .. } => ("disconnected", None),
                    ClientEvent::DeviceAdded(id) => ("sensor_added", Some(id.clone())),
                    ClientEvent::DeviceRemoved(id) => ("sensor_removed", Some(id.clone())),
                    ClientEvent::Unreachable => ("unreachable", None),
                    _ => continue,
                };
                emit(args, live_table, kind, &name, detail);
                let failed = matches!(
                    event,
                    ClientEvent::Unreachable | ClientEvent::Disconnected { .. }
                );
                if let (true, Some(browser), Some(info)) = (failed, &browser, &watched.info) {
                    // The server may have crashed: have mDNS re-verify it rather than wait 120 s.
                    if watched
                        .last_verify
                        .map_or(true, |at| at.elapsed() >= REVERIFY_EVERY)
                    {
                        watched.last_verify = Some(Instant::now());
                        let _ = browser.verify(&info.fullname);
                    }
                }
            }
        }
        if Instant::now() >= next_refresh {
            next_refresh = Instant::now() + refresh;
            for watched in servers.values_mut() {
                watched.report = Report::from_client(&watched.client, watched.info.as_ref());
            }
            changed = true;
        }
        if changed && live_table {
            let mut out = std::io::stdout().lock();
            // Clear the screen and redraw: a live table like `top`.
            write!(out, "\x1b[2J\x1b[H")?;
            writeln!(
                out,
                "streamkinect2 servers ({}), Ctrl-C to quit\n",
                servers.len()
            )?;
            for watched in servers.values() {
                writeln!(out, "{}", watched.report.text())?;
            }
            out.flush()?;
        }
        if stop.recv_timeout(Duration::from_millis(100)).is_ok() {
            return Ok(0);
        }
        if browser.is_none() && servers.is_empty() {
            bail!("nothing to watch");
        }
    }
}

/// Prints a server's state as a `connected` event (text or JSON Lines), unless the live table
/// shows it instead.
fn emit_report(args: &Args, live_table: bool, report: &Report) {
    if live_table {
        return;
    }
    let line = if args.json {
        let mut value = report.json();
        value["event"] = json!("connected");
        value.to_string()
    } else {
        format!("connected: {}", report.text())
    };
    print_line(&line);
}

/// Prints one event line (text or JSON Lines) unless the live table shows the state instead.
fn emit(args: &Args, live_table: bool, event: &str, server: &str, detail: Option<String>) {
    if live_table {
        return;
    }
    let line = if args.json {
        json!({"event": event, "server": server, "detail": detail}).to_string()
    } else {
        match detail {
            Some(detail) => format!("{event}: {server}: {detail}"),
            None => format!("{event}: {server}"),
        }
    };
    print_line(&line);
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) ends the program quietly.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}
