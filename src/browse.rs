//! `kinect-browse` (without `--zenoh`): the servers found by mDNS or named with `--connect`, their
//! sensors and ping times, listed once or watched as they come and go.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossbeam_channel::Select;
use serde_json::{json, Value};
use sk2_client::{
    Browser, Client, ClientConfig, ClientError, ClientEvent, ServerInfo, WatchEvent, Watcher,
    WatcherConfig,
};
use sk2_proto::id::short_id;
use sk2_proto::Me;

/// Shortest pause between two re-verifications of the same discovered server.
const REVERIFY_EVERY: Duration = Duration::from_secs(5);

/// What `kinect-browse` was asked.
#[derive(Debug, Clone)]
pub struct BrowseOptions {
    /// The settings of each control client (request timeout, heartbeat, CurveZMQ keys).
    pub client: ClientConfig,
    /// Control endpoints to talk to instead of browsing mDNS.
    pub connect: Vec<String>,
    /// List once, after `timeout`, and exit.
    pub once: bool,
    /// How long to search (with `once`) or to wait for each server's answer.
    pub timeout: Duration,
    /// Time between ping refreshes when watching.
    pub refresh: Duration,
    /// JSON output (an array with `once`, JSON Lines events when watching).
    pub json: bool,
}

/// Lists (`once`) or watches the servers; returns the process's exit status.
pub fn run(options: &BrowseOptions) -> Result<i32> {
    match (options.once, options.connect.is_empty()) {
        (true, false) => once_connect(options),
        (true, true) => once_browse(options),
        (false, _) => watch(options),
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

fn print_reports(options: &BrowseOptions, reports: &[Report]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if options.json {
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

fn once_connect(options: &BrowseOptions) -> Result<i32> {
    let timeout = options.timeout;
    let mut reports = Vec::new();
    for endpoint in &options.connect {
        let client = Client::connect_blocking(endpoint, options.client.clone(), timeout)
            .with_context(|| format!("cannot reach {endpoint}"))?;
        reports.push(Report::from_client(&client, None));
    }
    print_reports(options, &reports)?;
    Ok(0)
}

fn once_browse(options: &BrowseOptions) -> Result<i32> {
    let timeout = options.timeout;
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
                        options
                            .client
                            .clone()
                            .with_host_addresses(info.host_addresses()),
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
    print_reports(options, &reports)?;
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

fn watch(options: &BrowseOptions) -> Result<i32> {
    // SIGINT, SIGTERM or SIGHUP ends the watch with status 0, also in a script's background job.
    let stop = crate::stop_signal()?;
    let mut watcher = Watcher::new(
        WatcherConfig::default()
            .with_client(options.client.clone())
            .with_reverify_every(REVERIFY_EVERY),
    );
    for endpoint in &options.connect {
        watcher
            .add_endpoint(endpoint)
            .with_context(|| format!("cannot connect to {endpoint}"))?;
    }
    if options.connect.is_empty() {
        watcher
            .start_browsing()
            .context("cannot start mDNS browsing")?;
    }
    let live_table = !options.json && std::io::stdout().is_terminal();
    let refresh = options.refresh;
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
            handle(options, live_table, &watcher, &mut reports, event)?;
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
    options: &BrowseOptions,
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
                emit(options, live_table, "appeared", &info.name, None);
            }
            reports.insert(key, Report::from_client(server.client(), server.info()));
        }
        WatchEvent::Removed { key, name } => {
            reports.remove(&key);
            emit(options, live_table, "disappeared", &name, None);
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
                    emit_report(options, live_table, &report);
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
            emit(options, live_table, kind, &name, detail);
        }
        _ => {}
    }
    Ok(())
}

/// Prints a server's state as a `connected` event (text or JSON Lines), unless the live table
/// shows it instead.
fn emit_report(options: &BrowseOptions, live_table: bool, report: &Report) {
    if live_table {
        return;
    }
    let line = if options.json {
        let mut value = report.json();
        value["event"] = json!("connected");
        value.to_string()
    } else {
        format!("connected: {}", report.text())
    };
    print_line(&line);
}

/// Prints one event line (text or JSON Lines) unless the live table shows the state instead.
fn emit(
    options: &BrowseOptions,
    live_table: bool,
    event: &str,
    server: &str,
    detail: Option<String>,
) {
    if live_table {
        return;
    }
    let line = if options.json {
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
