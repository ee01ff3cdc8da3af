//! `kinect-browse`: find streamkinect2 servers and show their sensors and ping times.
//!
//! By default it watches the network (mDNS) and shows servers as they come and go, refreshing
//! live. `--once --timeout S` prints what it found in S seconds and exits; `--json` prints JSON
//! (one array with `--once`, one object per line when watching); `--connect tcp://host:port` skips
//! discovery and talks to the given servers directly; `--zenoh` lists the servers bridges publish
//! on Zenoh (a build with `--features zenoh`). Secure servers (docs/security.md) are shown as
//! such, with the key they announce; `--server-key` (and `--client-key`) talk to one.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use crossbeam_channel::Select;
use serde_json::{json, Value};
use sk2_client::{
    Browser, Client, ClientConfig, ClientError, ClientEvent, Endpoint, ServerInfo, WatchEvent,
    Watcher, WatcherConfig,
};
use sk2_proto::id::short_id;
use sk2_proto::Me;
use streamkinect2::keys::{self, ClientKeyArgs, ClientKeys};

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
    bail!(streamkinect2::zenoh_flags::NOT_BUILT)
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
    /// The TXT record says CurveZMQ (`secure=1`).
    secure: bool,
    /// The key the server announces (Z85), unauthenticated.
    announced_key: Option<String>,
    /// Why the handshake failed, if it did.
    problem: Option<String>,
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
            secure: info.is_some_and(|info| info.secure),
            announced_key: info.and_then(|info| info.announced_key.map(|key| key.to_z85())),
            problem: client.handshake_failure().map(|error| match error {
                ClientError::Handshake { reason, .. } => reason,
                other => other.to_string(),
            }),
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
            "rtt_ms": self.rtt.map(rtt_ms),
            "devices": devices,
            "secure": self.secure,
            "server_key": self.announced_key,
            "problem": self.problem,
        })
    }

    fn text(&self) -> String {
        let name = self.name.as_deref().unwrap_or("(unnamed)");
        let status = match (self.reachable, self.rtt, &self.problem) {
            (true, Some(rtt), _) => format!("ping {:.2} ms", rtt.as_secs_f64() * 1e3),
            (true, None, _) => "connected".to_owned(),
            (false, _, Some(problem)) => format!("refused: {problem}"),
            (false, _, None) => "unreachable".to_owned(),
        };
        let mut text = format!("{name}  {}  {status}", self.control_endpoint);
        if self.secure {
            let key = self.announced_key.as_deref().unwrap_or("not announced");
            text.push_str(&format!(
                "\n  secure (CurveZMQ), announced server key {key}"
            ));
        }
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
            // The id cut short: the table has no room for 32 digits (`--json` has them all).
            text.push_str(&format!(
                "\n  sensor {}  {}{codec}",
                short_id(&device.id),
                endpoints.join(", ")
            ));
        }
        text
    }
}

/// A round trip in milliseconds, rounded to the microsecond (`0.152`, not `0.15204600000000001`):
/// finer digits are noise of the measurement.
fn rtt_ms(rtt: Duration) -> f64 {
    (rtt.as_nanos() as f64 / 1e3).round() / 1e3
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
                        config(args).with_host_addresses(info.host_addresses()),
                        timeout,
                    ) {
                        Ok(client) => Report::from_client(&client, Some(info)),
                        Err(ClientError::Handshake { reason, .. }) => Report {
                            problem: Some(reason),
                            ..unanswered(info)
                        },
                        Err(error) => {
                            tracing::debug!(%error, %endpoint, "server did not answer");
                            // Maybe a crashed server's stale record: ask mDNS to check it.
                            let _ = browser.verify(&info.fullname);
                            unanswered(info)
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

/// The report of a discovered server that did not answer.
fn unanswered(info: &ServerInfo) -> Report {
    Report {
        name: Some(info.name.clone()),
        control_endpoint: info.control_endpoint(),
        address: info.address().map(|ip| ip.to_string()),
        secure: info.secure,
        announced_key: info.announced_key.map(|key| key.to_z85()),
        ..Report::default()
    }
}

fn watch(args: &Args) -> Result<i32> {
    // SIGINT, SIGTERM or SIGHUP ends the watch with status 0, also in a script's background job.
    let stop = streamkinect2::stop_signal()?;
    let mut watcher = Watcher::new(
        WatcherConfig::default()
            .with_client(config(args))
            .with_reverify_every(REVERIFY_EVERY),
    );
    for endpoint in &args.connect {
        watcher
            .add_endpoint(endpoint)
            .with_context(|| format!("cannot connect to {endpoint}"))?;
    }
    if args.connect.is_empty() {
        watcher
            .start_browsing()
            .context("cannot start mDNS browsing")?;
    }
    let live_table = !args.json && std::io::stdout().is_terminal();
    let refresh = Duration::from_secs_f64(args.refresh);
    let mut next_refresh = Instant::now() + refresh;
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    loop {
        // Wakes on any event or a stop signal, and at the latest when the pings are due.
        let until = watcher
            .next_deadline()
            .map_or(next_refresh, |deadline| deadline.min(next_refresh));
        {
            let mut select = Select::new();
            let stop_index = select.recv(&stop);
            watcher.register(&mut select);
            if let Ok(ready) = select.ready_deadline(until) {
                if ready == stop_index && stop.try_recv().is_ok() {
                    return Ok(0);
                }
            }
        }
        let events = watcher.poll();
        let mut changed = !events.is_empty();
        for event in events {
            handle(args, live_table, &watcher, &mut reports, event)?;
        }
        if Instant::now() >= next_refresh {
            next_refresh = Instant::now() + refresh;
            for server in watcher.servers() {
                reports.insert(
                    server.key().to_owned(),
                    Report::from_client(server.client(), server.info()),
                );
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
                reports.len()
            )?;
            for report in reports.values() {
                writeln!(out, "{}", report.text())?;
            }
            out.flush()?;
        }
        if !watcher.is_browsing() && watcher.is_empty() {
            bail!("nothing to watch");
        }
    }
}

/// Applies one watcher event to the reports, and prints it (unless the live table shows it).
fn handle(
    args: &Args,
    live_table: bool,
    watcher: &Watcher,
    reports: &mut BTreeMap<String, Report>,
    event: WatchEvent,
) -> Result<()> {
    match event {
        WatchEvent::Added { key } => {
            let Some(server) = watcher.server(&key) else {
                return Ok(());
            };
            if let Some(info) = server.info() {
                emit(args, live_table, "appeared", &info.name, None);
            }
            reports.insert(key, Report::from_client(server.client(), server.info()));
        }
        WatchEvent::Removed { key, name } => {
            reports.remove(&key);
            emit(args, live_table, "disappeared", &name, None);
        }
        WatchEvent::ConnectFailed { key, error } => {
            return Err(error).with_context(|| format!("cannot connect to {key}"));
        }
        WatchEvent::Client { key, event } => {
            let Some(server) = watcher.server(&key) else {
                return Ok(());
            };
            let name = reports
                .get(&key)
                .and_then(|report| report.name.clone())
                .unwrap_or_else(|| key.clone());
            let (kind, detail) = match event {
                ClientEvent::Connected { .. } => {
                    let report = Report::from_client(server.client(), server.info());
                    emit_report(args, live_table, &report);
                    reports.insert(key, report);
                    return Ok(());
                }
                ClientEvent::Disconnected { .. } => ("disconnected", None),
                ClientEvent::DeviceAdded(id) => ("sensor_added", Some(id)),
                ClientEvent::DeviceRemoved(id) => ("sensor_removed", Some(id)),
                ClientEvent::Unreachable => match server.client().handshake_failure() {
                    Some(ClientError::Handshake { reason, .. }) => ("refused", Some(reason)),
                    _ => ("unreachable", None),
                },
                _ => return Ok(()),
            };
            emit(args, live_table, kind, &name, detail);
        }
        _ => {}
    }
    Ok(())
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
            Some(reason) if event == "refused" => format!("{event}: {server}: {reason}"),
            // Details are sensor ids: cut short here, whole in JSON.
            Some(detail) => format!("{event}: {server}: {}", short_id(&detail)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_are_rounded_to_the_microsecond() {
        assert_eq!(rtt_ms(Duration::from_nanos(152_046)), 0.152);
        assert_eq!(rtt_ms(Duration::from_nanos(152_500)), 0.153);
        assert_eq!(rtt_ms(Duration::from_millis(12)), 12.0);
        assert_eq!(
            json!({ "rtt_ms": rtt_ms(Duration::from_nanos(152_046)) }).to_string(),
            r#"{"rtt_ms":0.152}"#
        );
    }
}
