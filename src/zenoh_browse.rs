//! `kinect-browse --zenoh`: the servers that bridges publish on Zenoh, from their liveliness
//! tokens (docs/distributed.md), listed once or watched as they come and go.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use crossbeam_channel::select;
use serde_json::{json, Value};
use sk2_client::zenoh::{ZenohClient, ZenohConfig, ZenohServerEvent};
use sk2_proto::depth_v2::{DEVICE_CODEC_KEY, ENDPOINT_DEPTH_V2};
use sk2_proto::id::short_id;
use sk2_proto::zenoh_keys::{depth_key, server_key};
use sk2_proto::Me;

/// What `kinect-browse --zenoh` was asked.
#[derive(Debug, Clone)]
pub struct BrowseOptions {
    /// The Zenoh session's configuration.
    pub config: ZenohConfig,
    /// List once, after `timeout`, and exit.
    pub once: bool,
    /// How long to wait for tokens (with `once`) and for each `me`.
    pub timeout: Duration,
    /// JSON output (an array with `once`, JSON Lines when watching).
    pub json: bool,
}

/// One server as listed.
struct Listed {
    server_id: String,
    me: Option<Me>,
}

impl Listed {
    fn json(&self, event: Option<&str>) -> Value {
        let devices: Vec<Value> = self
            .me
            .iter()
            .flat_map(|me| me.devices.iter().map(move |device| (me, device)))
            .map(|(me, device)| {
                let endpoint = if device.endpoint(ENDPOINT_DEPTH_V2).is_some() {
                    ENDPOINT_DEPTH_V2
                } else {
                    sk2_proto::control::ENDPOINT_DEPTH
                };
                json!({
                    "id": device.id,
                    "key": depth_key(&self.server_id, &device.id, endpoint),
                    "codec": me.device_keys.get(&device.id).and_then(|keys| keys.get(DEVICE_CODEC_KEY)),
                })
            })
            .collect();
        let mut value = json!({
            "server_id": self.server_id,
            "key": server_key(&self.server_id),
            "name": self.me.as_ref().map(|me| me.name.clone()),
            "devices": devices,
        });
        if let Some(event) = event {
            value["event"] = json!(event);
        }
        value
    }

    fn text(&self) -> String {
        let name = self
            .me
            .as_ref()
            .map_or("(no answer to `me`)", |me| &me.name);
        let mut text = format!("{name}  {}", server_key(&self.server_id));
        for device in self.me.iter().flat_map(|me| &me.devices) {
            let endpoint = if device.endpoint(ENDPOINT_DEPTH_V2).is_some() {
                ENDPOINT_DEPTH_V2
            } else {
                sk2_proto::control::ENDPOINT_DEPTH
            };
            text.push_str(&format!(
                "\n  sensor {}  {}",
                short_id(&device.id),
                depth_key(&self.server_id, &device.id, endpoint)
            ));
        }
        text
    }
}

/// Lists or watches; returns the exit status.
pub fn run(options: &BrowseOptions, stop: &crossbeam_channel::Receiver<()>) -> Result<i32> {
    let client = ZenohClient::open(&options.config).context("cannot open a Zenoh session")?;
    let mut out = std::io::stdout().lock();
    let list = |server_id: String| Listed {
        me: client.me(&server_id, options.timeout).ok(),
        server_id,
    };
    if options.once {
        let servers: Vec<Listed> = client
            .servers(options.timeout)
            .context("asking Zenoh for servers")?
            .into_iter()
            .map(list)
            .collect();
        if options.json {
            let all: Vec<Value> = servers.iter().map(|s| s.json(None)).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        } else if servers.is_empty() {
            writeln!(out, "no servers found on Zenoh")?;
        } else {
            for server in &servers {
                writeln!(out, "{}", server.text())?;
            }
        }
        return Ok(0);
    }
    let watch = client.watch().context("watching Zenoh for servers")?;
    loop {
        let event = select! {
            recv(stop) -> _ => return Ok(0),
            recv(watch.events()) -> event => event.context("the Zenoh session ended")?,
        };
        match event {
            ZenohServerEvent::Appeared(server_id) => {
                let listed = list(server_id);
                if options.json {
                    writeln!(out, "{}", listed.json(Some("appeared")))?;
                } else {
                    writeln!(out, "+ {}", listed.text())?;
                }
            }
            ZenohServerEvent::Disappeared(server_id) => {
                if options.json {
                    writeln!(
                        out,
                        "{}",
                        json!({"event": "disappeared", "server_id": server_id, "key": server_key(&server_id)})
                    )?;
                } else {
                    writeln!(out, "- {}", server_key(&server_id))?;
                }
            }
            other => tracing::debug!(?other, "Zenoh event ignored"),
        }
        out.flush()?;
    }
}
