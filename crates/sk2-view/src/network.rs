//! [`NetworkSource`]: real servers, found by mDNS discovery or given as `tcp://host:port`.
//!
//! One thread runs the whole source: it reads the browser's and every client's events and every
//! subscription's frames through one `crossbeam_channel::Select`, so there is no thread per
//! server to coordinate. A sensor is subscribed only while some tab wants it
//! ([`Hub::is_wanted`]), and of the frames waiting on a subscription only the newest is published.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};
use sk2_client::{
    Browser, BrowserEvent, Client, ClientConfig, ClientEvent, ServerInfo, Subscription,
};

use sk2_proto::depth_v2::{DEVICE_CODEC_KEY, ENDPOINT_DEPTH_V2};

use crate::hub::{FrameSource, Hub, SourceFrame, SourceKey};

/// Longest the loop sleeps without an event: how soon a newly wanted sensor is subscribed, an
/// unwanted one dropped, and a failed connection retried.
const TICK: Duration = Duration::from_millis(100);
/// Pause before trying again to create a client whose endpoint could not be resolved.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long a control request may wait for its reply. Shorter than the client's default 5 s so
/// the page says "unreachable" soon; a server on the local network answers in milliseconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Notice topic for discovery problems.
const DISCOVERY_TOPIC: &str = "discovery";
/// Notice topic for a `--sensor` that no server has.
const SENSOR_TOPIC: &str = "sensor";

/// Streams from real servers into the hub.
#[derive(Debug, Clone, Default)]
pub struct NetworkSource {
    /// Control endpoints to connect to, `tcp://host:port` (`kinect-view --connect`).
    pub connect: Vec<String>,
    /// Whether to look for servers with mDNS as well.
    pub discover: bool,
    /// A sensor id that should exist (`kinect-view --sensor`): its absence is reported.
    pub sensor: Option<String>,
}

/// One server: its client (once created), what the hub calls it, its subscriptions.
struct Link {
    endpoint: String,
    config: ClientConfig,
    client: Option<Client>,
    retry_at: Instant,
    /// The name under which the hub lists it: the discovered or learnt name, else the endpoint.
    label: String,
    connected: bool,
    subscriptions: BTreeMap<String, Subscription>,
    /// Device ids that failed to subscribe, and when to try again.
    failed: BTreeMap<String, Instant>,
}

impl Link {
    fn new(endpoint: String, label: String, config: ClientConfig) -> Self {
        Self {
            endpoint,
            config,
            client: None,
            retry_at: Instant::now(),
            label,
            connected: false,
            subscriptions: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }

    /// Creates the client when due; the client itself then reconnects for ever.
    fn ensure_client(&mut self, hub: &Hub) {
        if self.client.is_some() || Instant::now() < self.retry_at {
            return;
        }
        match Client::connect_to(&self.endpoint, self.config.clone()) {
            Ok(client) => {
                hub.server_pending(
                    &self.label,
                    &self.endpoint,
                    &format!("connecting to {}\u{2026}", self.endpoint),
                );
                self.client = Some(client);
            }
            Err(error) => {
                hub.server_error(
                    &self.label,
                    &self.endpoint,
                    &format!("cannot connect to {}: {error}; retrying", self.endpoint),
                );
                self.retry_at = Instant::now() + RETRY_AFTER;
            }
        }
    }

    fn sensors(&self) -> Vec<(String, String)> {
        let Some(me) = self.client.as_ref().and_then(Client::me) else {
            return Vec::new();
        };
        me.devices
            .iter()
            .map(|device| {
                // The client reads `depth_v2` (lossless) when a device offers it, else the
                // original `depth`; the server names its depth_v2 codec in the device record.
                let codec = if device.endpoint(ENDPOINT_DEPTH_V2).is_some() {
                    let name = me
                        .device_keys
                        .get(&device.id)
                        .and_then(|keys| keys.get(DEVICE_CODEC_KEY))
                        .map_or("?", String::as_str);
                    format!("{name} (depth_v2)")
                } else {
                    "sk2 (depth)".to_owned()
                };
                (device.id.clone(), codec)
            })
            .collect()
    }

    fn handle(&mut self, event: ClientEvent, hub: &Hub) {
        match event {
            ClientEvent::Connected { name } => {
                self.connected = true;
                self.rename(&name, hub);
                hub.server_seen(&self.label, &self.endpoint);
                hub.set_sensors(&self.label, &self.sensors());
            }
            ClientEvent::NameLearnt(name) => {
                self.rename(&name, hub);
                hub.set_sensors(&self.label, &self.sensors());
            }
            ClientEvent::DeviceAdded(_) | ClientEvent::DeviceRemoved(_) => {
                hub.set_sensors(&self.label, &self.sensors());
                let known: Vec<_> = self.sensors().into_iter().map(|(id, _)| id).collect();
                self.subscriptions.retain(|id, _| known.contains(id));
            }
            ClientEvent::Disconnected { reason } => {
                self.connected = false;
                self.subscriptions.clear();
                hub.server_error(
                    &self.label,
                    &self.endpoint,
                    &format!("lost the connection ({reason:?}); reconnecting"),
                );
            }
            ClientEvent::Unreachable => {
                hub.server_error(
                    &self.label,
                    &self.endpoint,
                    &format!("no answer from {}; still trying", self.endpoint),
                );
            }
            other => tracing::debug!(?other, "client event ignored"),
        }
    }

    fn rename(&mut self, name: &str, hub: &Hub) {
        if name != self.label && !name.is_empty() {
            hub.server_gone(&self.label);
            self.label = name.to_owned();
        }
    }

    /// Subscribes to wanted sensors and drops the others.
    fn update_subscriptions(&mut self, hub: &Hub) {
        let Some(client) = self.client.as_ref().filter(|_| self.connected) else {
            return;
        };
        for (id, _) in self.sensors() {
            let key = SourceKey::new(self.label.clone(), id.clone());
            let wanted = hub.is_wanted(&key);
            if !wanted {
                if self.subscriptions.remove(&id).is_some() {
                    tracing::debug!(source = %key, "no tab shows it: unsubscribed");
                }
                continue;
            }
            if self.subscriptions.contains_key(&id)
                || self.failed.get(&id).is_some_and(|at| Instant::now() < *at)
            {
                continue;
            }
            match client.subscribe(&id) {
                Ok(subscription) => {
                    tracing::info!(source = %key, endpoint = subscription.endpoint(), "subscribed");
                    self.failed.remove(&id);
                    hub.sensor_error(&key, None);
                    self.subscriptions.insert(id, subscription);
                }
                Err(error) => {
                    hub.sensor_error(&key, Some(&format!("cannot subscribe: {error}; retrying")));
                    self.failed.insert(id, Instant::now() + RETRY_AFTER);
                }
            }
        }
    }

    /// Publishes the newest waiting frame of each subscription (older waiting ones are skipped).
    fn forward_frames(&self, hub: &Hub) {
        for (id, subscription) in &self.subscriptions {
            let mut newest = None;
            while let Some(frame) = subscription.try_recv() {
                newest = Some(frame);
            }
            if let Some(frame) = newest {
                hub.publish(
                    &SourceKey::new(self.label.clone(), id.clone()),
                    SourceFrame {
                        sensor_sequence: frame.sequence(),
                        capture_time_ns: frame.capture_time_ns(),
                        depth: frame.depth,
                    },
                );
            }
        }
    }
}

impl NetworkSource {
    fn client_config() -> ClientConfig {
        ClientConfig::default().request_timeout(REQUEST_TIMEOUT)
    }
}

impl FrameSource for NetworkSource {
    fn run(self: Box<Self>, hub: Hub, shutdown: Receiver<()>) {
        // Links by endpoint (--connect) or by discovered instance name.
        let mut links: BTreeMap<String, Link> = self
            .connect
            .iter()
            .map(|endpoint| {
                let link = Link::new(endpoint.clone(), endpoint.clone(), Self::client_config());
                (endpoint.clone(), link)
            })
            .collect();
        let mut browser = None;
        let mut browser_retry = Instant::now();
        loop {
            if self.discover && browser.is_none() && Instant::now() >= browser_retry {
                match Browser::new() {
                    Ok(started) => {
                        hub.set_notice(DISCOVERY_TOPIC, None);
                        browser = Some(started);
                    }
                    Err(error) => {
                        hub.set_notice(
                            DISCOVERY_TOPIC,
                            Some(&format!(
                                "cannot look for servers with mDNS: {error}; retrying \
                                 (or give --connect tcp://host:port)"
                            )),
                        );
                        browser_retry = Instant::now() + RETRY_AFTER;
                    }
                }
            }
            for link in links.values_mut() {
                link.ensure_client(&hub);
                link.update_subscriptions(&hub);
            }
            self.check_preferred_sensor(&hub, &links);

            // Wait for anything: shutdown, discovery, client events, frames.
            let browser_events = browser.as_ref().map(Browser::events);
            let client_events: Vec<(String, Receiver<ClientEvent>)> = links
                .iter()
                .filter_map(|(key, link)| Some((key.clone(), link.client.as_ref()?.events())))
                .collect();
            let mut select = Select::new();
            let shutdown_index = select.recv(&shutdown);
            if let Some(events) = &browser_events {
                select.recv(events);
            }
            for (_, events) in &client_events {
                select.recv(events);
            }
            for link in links.values() {
                for subscription in link.subscriptions.values() {
                    select.recv(subscription.frames());
                }
            }
            // Only readiness is used: each receiver is then drained with try_recv below, which
            // also covers receivers that became ready while others were being handled.
            match select.ready_timeout(TICK) {
                Ok(index) if index == shutdown_index => break,
                _ => {}
            }
            if !matches!(
                shutdown.try_recv(),
                Err(crossbeam_channel::TryRecvError::Empty)
            ) {
                break;
            }
            if let Some(events) = &browser_events {
                while let Ok(event) = events.try_recv() {
                    handle_browser_event(event, &mut links, &hub);
                }
            }
            for (key, events) in &client_events {
                while let Ok(event) = events.try_recv() {
                    if let Some(link) = links.get_mut(key) {
                        link.handle(event, &hub);
                    }
                }
            }
            for link in links.values() {
                link.forward_frames(&hub);
            }
        }
        for link in links.values() {
            hub.server_gone(&link.label);
        }
    }
}

impl NetworkSource {
    /// Reports, on the page and once in the terminal, a `--sensor` that no connected server has.
    fn check_preferred_sensor(&self, hub: &Hub, links: &BTreeMap<String, Link>) {
        let Some(wanted) = &self.sensor else { return };
        let connected: Vec<&Link> = links.values().filter(|link| link.connected).collect();
        if connected.is_empty() {
            return; // nothing to judge by yet; server errors say why
        }
        let all: Vec<String> = connected
            .iter()
            .flat_map(|link| link.sensors())
            .map(|(id, _)| id)
            .collect();
        if all.contains(wanted) {
            hub.set_notice(SENSOR_TOPIC, None);
        } else {
            hub.set_notice(
                SENSOR_TOPIC,
                Some(&format!(
                    "sensor {wanted:?} not found (servers have: {}); still looking",
                    if all.is_empty() {
                        "none".to_owned()
                    } else {
                        all.join(", ")
                    }
                )),
            );
        }
    }
}

fn handle_browser_event(event: BrowserEvent, links: &mut BTreeMap<String, Link>, hub: &Hub) {
    match event {
        BrowserEvent::ServerAppeared(info) | BrowserEvent::ServerChanged(info) => {
            add_discovered(&info, links, hub);
        }
        BrowserEvent::ServerDisappeared { name, .. } => {
            if let Some(link) = links.remove(&discovered_key(&name)) {
                tracing::info!(server = %link.label, "server went away");
                hub.server_gone(&link.label);
            }
        }
        other => tracing::debug!(?other, "browser event ignored"),
    }
}

fn discovered_key(name: &str) -> String {
    format!("mdns:{name}")
}

fn add_discovered(info: &ServerInfo, links: &mut BTreeMap<String, Link>, hub: &Hub) {
    let endpoint = info.control_endpoint();
    let key = discovered_key(&info.name);
    if links
        .get(&key)
        .is_some_and(|link| link.endpoint == endpoint)
    {
        return;
    }
    // A --connect link to the same endpoint already covers it.
    if links.contains_key(&endpoint) {
        return;
    }
    if let Some(old) = links.remove(&key) {
        hub.server_gone(&old.label);
    }
    tracing::info!(server = %info.name, %endpoint, "server found");
    let config = info.client_config(NetworkSource::client_config());
    links.insert(key, Link::new(endpoint, info.name.clone(), config));
}
