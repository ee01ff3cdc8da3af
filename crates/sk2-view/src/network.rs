//! [`NetworkSource`]: real servers, found by mDNS discovery or given as `tcp://host:port`.
//!
//! One thread runs the whole source. An [`sk2_client::Watcher`] finds the servers, keeps one
//! client per server, drops servers that leave or crash, and merges their events; this thread
//! waits in one `crossbeam_channel::Select` on those events, every subscription's frames and the
//! shutdown channel, so there is no thread per server to coordinate. A sensor is subscribed only
//! while some tab wants it ([`Hub::is_wanted`]), and of the frames waiting on a subscription only
//! the newest is published.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, TryRecvError};
use sk2_client::{
    Client, ClientConfig, ClientEvent, ColorJpegSubscription, IrSubscription, WatchEvent,
    WatchedServer, Watcher, WatcherConfig,
};
use sk2_proto::depth_v2::{DEVICE_CODEC_KEY, ENDPOINT_DEPTH_V2};
use sk2_proto::Me;

use crate::followed::FollowedDepth;
use crate::hub::{FrameSource, Hub, SourceKey};

/// Longest the loop sleeps without an event: how soon a newly wanted sensor is subscribed and an
/// unwanted one dropped (tabs mark sensors wanted in the hub, which sends no event).
const TICK: Duration = Duration::from_millis(100);
/// Pause before trying again what failed: starting mDNS, resolving an endpoint, subscribing.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long a control request may wait for its reply. Shorter than the client's default 5 s so
/// the page says "unreachable" soon; a server on the local network answers in milliseconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How often each server is asked `who`: the client notices a server that crashed (no mDNS
/// goodbye) only when a request goes unanswered, so the original's 10 s would leave a dead server
/// on the page for up to 12 s. Every 2 s, as `kinect-browse` refreshes, costs a server nothing.
const HEARTBEAT: Duration = Duration::from_secs(2);
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
    /// The settings every client starts from, such as the CurveZMQ keys of secure servers
    /// (`kinect-view --server-key`); the source sets its own request timeout.
    pub client: ClientConfig,
}

/// What the source keeps of one watched server: where it is, its subscriptions.
///
/// The hub lists it under its control endpoint, which is unique, and shows its name (the
/// discovered or learnt one): two servers may well share a name (`Kinect on <host>` twice, given
/// with `--connect`), and must not be mixed up.
struct Link {
    endpoint: String,
    connected: bool,
    subscriptions: BTreeMap<String, Followed>,
    /// Device ids that failed to subscribe, and when to try again.
    failed: BTreeMap<String, Instant>,
}

/// A sensor's subscriptions.
struct Followed {
    depth: FollowedDepth,
    /// Infrared, when the sensor offers it.
    ir: Option<IrSubscription>,
    /// Colour as JPEG (the browser decodes it), when the sensor offers it.
    color: Option<ColorJpegSubscription>,
}

impl Link {
    fn new(server: &WatchedServer, hub: &Hub) -> Self {
        hub.name_server(server.endpoint(), &server.name());
        Self {
            endpoint: server.endpoint().to_owned(),
            connected: false,
            subscriptions: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }

    fn handle(&mut self, event: ClientEvent, server: &WatchedServer, hub: &Hub) {
        let client = server.client();
        match event {
            ClientEvent::Connected { .. } => {
                self.connected = true;
                self.rename(server, hub);
                hub.server_seen(&self.endpoint, &self.endpoint);
                hub.set_sensors(&self.endpoint, &sensors(client));
            }
            ClientEvent::NameLearnt(_) => {
                self.rename(server, hub);
                hub.set_sensors(&self.endpoint, &sensors(client));
            }
            ClientEvent::DeviceAdded(_) | ClientEvent::DeviceRemoved(_) => {
                let sensors = sensors(client);
                hub.set_sensors(&self.endpoint, &sensors);
                self.subscriptions
                    .retain(|id, _| sensors.iter().any(|(known, _)| known == id));
            }
            ClientEvent::Disconnected { reason } => {
                self.connected = false;
                self.subscriptions.clear();
                hub.server_error(
                    &self.endpoint,
                    &self.endpoint,
                    &format!("lost the connection ({reason:?}); reconnecting"),
                );
            }
            ClientEvent::Unreachable => {
                hub.server_error(
                    &self.endpoint,
                    &self.endpoint,
                    &format!("no answer from {}; still trying", self.endpoint),
                );
            }
            other => tracing::debug!(?other, "client event ignored"),
        }
    }

    /// Shows the name the server gave, unless mDNS named it: a discovered server keeps its
    /// instance name, which mDNS keeps unique (the name in `me` may be shared).
    fn rename(&self, server: &WatchedServer, hub: &Hub) {
        if server.info().is_none() {
            hub.name_server(&self.endpoint, &server.name());
        }
    }

    /// Subscribes to wanted sensors and drops the others.
    fn update_subscriptions(&mut self, client: &Client, hub: &Hub) {
        if !self.connected {
            return;
        }
        for (id, _) in sensors(client) {
            let key = SourceKey::new(self.endpoint.clone(), id.clone());
            if !hub.is_wanted(&key) {
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
                    // Infrared and colour are extras: a sensor without them (or a server of 2014)
                    // still shows depth.
                    let followed = Followed {
                        depth: FollowedDepth::new(subscription),
                        ir: client.subscribe_ir(&id).ok(),
                        color: client.subscribe_color_jpeg(&id).ok(),
                    };
                    self.subscriptions.insert(id, followed);
                }
                Err(error) => {
                    hub.sensor_error(&key, Some(&format!("cannot subscribe: {error}; retrying")));
                    self.failed.insert(id, Instant::now() + RETRY_AFTER);
                }
            }
        }
    }

    /// Publishes the newest waiting frame and images of each followed sensor.
    fn forward_frames(&mut self, hub: &Hub) {
        for (id, followed) in &mut self.subscriptions {
            let key = SourceKey::new(self.endpoint.clone(), id.clone());
            forward_images(followed, &key, hub);
            followed.depth.forward(&key, hub);
        }
    }
}

/// Publishes the newest waiting infrared and colour image of a followed sensor.
fn forward_images(followed: &Followed, key: &SourceKey, hub: &Hub) {
    if let Some(image) = followed
        .ir
        .as_ref()
        .and_then(|ir| ir.frames().try_iter().last())
    {
        let (width, height) = (image.ir.width(), image.ir.height());
        hub.publish_ir(
            key,
            width,
            height,
            image.ir.amplitude(),
            image.header.sequence,
        );
    }
    if let Some(image) = followed
        .color
        .as_ref()
        .and_then(|c| c.frames().try_iter().last())
    {
        let (width, height) = (image.header.width as usize, image.header.height as usize);
        hub.publish_color_jpeg(key, width, height, image.jpeg, image.header.sequence);
    }
}

/// The sensors of the server `client` talks to, as (id, codec) for the hub.
fn sensors(client: &Client) -> Vec<(String, String)> {
    client.me().map_or_else(Vec::new, |me| sensors_of(&me, ""))
}

/// The sensors of `me` as (id, codec) for the hub; `via` follows the endpoint name in the label
/// (`""` for a direct subscription, `" over Zenoh"` through a bridge).
pub(crate) fn sensors_of(me: &Me, via: &str) -> Vec<(String, String)> {
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
                format!("{name} (depth_v2{via})")
            } else {
                format!("sk2 (depth{via})")
            };
            (device.id.clone(), codec)
        })
        .collect()
}

impl NetworkSource {
    fn watcher_config(&self) -> WatcherConfig {
        WatcherConfig::default()
            .with_client(
                self.client
                    .clone()
                    .with_request_timeout(REQUEST_TIMEOUT)
                    .with_heartbeat(HEARTBEAT),
            )
            .with_retry_after(RETRY_AFTER)
    }

    /// Starts mDNS browsing if wanted and not running, reporting a failure on the page.
    fn ensure_browsing(&self, watcher: &mut Watcher, hub: &Hub, retry_at: &mut Instant) {
        if !self.discover || watcher.is_browsing() || Instant::now() < *retry_at {
            return;
        }
        match watcher.start_browsing() {
            Ok(()) => hub.set_notice(DISCOVERY_TOPIC, None),
            Err(error) => {
                hub.set_notice(
                    DISCOVERY_TOPIC,
                    Some(&format!(
                        "cannot look for servers with mDNS: {error}; retrying \
                         (or give --connect tcp://host:port)"
                    )),
                );
                *retry_at = Instant::now() + RETRY_AFTER;
            }
        }
    }
}

impl FrameSource for NetworkSource {
    fn run(self: Box<Self>, hub: Hub, shutdown: Receiver<()>) {
        let mut watcher = Watcher::new(self.watcher_config());
        for endpoint in &self.connect {
            if let Err(error) = watcher.add_endpoint(endpoint) {
                // Malformed: no retry can help, but the page and the terminal say why.
                hub.server_error(
                    endpoint,
                    endpoint,
                    &format!("cannot connect to {endpoint}: {error}"),
                );
            }
        }
        // Links by watcher key: the endpoint (--connect) or the discovered full name.
        let mut links: BTreeMap<String, Link> = BTreeMap::new();
        let mut browser_retry = Instant::now();
        loop {
            self.ensure_browsing(&mut watcher, &hub, &mut browser_retry);
            for (key, link) in &mut links {
                if let Some(server) = watcher.server(key) {
                    link.update_subscriptions(server.client(), &hub);
                }
            }
            self.check_preferred_sensor(&hub, &watcher, &links);

            // Wait for anything: shutdown, discovery and client events, frames.
            let mut wait_until = Instant::now() + TICK;
            if let Some(deadline) = watcher.next_deadline() {
                wait_until = wait_until.min(deadline);
            }
            {
                let mut select = Select::new();
                select.recv(&shutdown);
                watcher.register(&mut select);
                for link in links.values() {
                    for followed in link.subscriptions.values() {
                        select.recv(followed.depth.frames());
                    }
                }
                // Only readiness is used: each queue is then drained with try_recv below, which
                // also covers queues that became ready while others were being handled.
                let _ = select.ready_deadline(wait_until);
            }
            if !matches!(shutdown.try_recv(), Err(TryRecvError::Empty)) {
                break;
            }
            for event in watcher.poll() {
                handle_watch_event(event, &watcher, &mut links, &hub);
            }
            for link in links.values_mut() {
                link.forward_frames(&hub);
            }
        }
        for link in links.values() {
            hub.server_gone(&link.endpoint);
        }
    }
}

fn handle_watch_event(
    event: WatchEvent,
    watcher: &Watcher,
    links: &mut BTreeMap<String, Link>,
    hub: &Hub,
) {
    match event {
        WatchEvent::Added { key } => {
            let Some(server) = watcher.server(&key) else {
                return;
            };
            // A server found again at a new address starts over under its new link. The old one
            // goes first: its endpoint may be the new one's (same host name, new address), and
            // must not take the new link's name with it.
            if let Some(old) = links.remove(&key) {
                hub.server_gone(&old.endpoint);
            }
            links.insert(key, Link::new(server, hub));
        }
        WatchEvent::Connecting { key } => {
            if let Some(link) = links.get(&key) {
                hub.server_pending(
                    &link.endpoint,
                    &link.endpoint,
                    &format!("connecting to {}\u{2026}", link.endpoint),
                );
            }
        }
        WatchEvent::ConnectFailed { key, error } => {
            if let Some(link) = links.get(&key) {
                hub.server_error(
                    &link.endpoint,
                    &link.endpoint,
                    &format!("cannot connect to {}: {error}; retrying", link.endpoint),
                );
            }
        }
        WatchEvent::Client { key, event } => {
            if let (Some(link), Some(server)) = (links.get_mut(&key), watcher.server(&key)) {
                link.handle(event, server, hub);
            }
        }
        WatchEvent::Removed { key, .. } => {
            if let Some(link) = links.remove(&key) {
                tracing::info!(endpoint = %link.endpoint, "server went away");
                hub.server_gone(&link.endpoint);
            }
        }
        other => tracing::debug!(?other, "watcher event ignored"),
    }
}

impl NetworkSource {
    /// Reports, on the page and once in the terminal, a `--sensor` that no connected server has.
    fn check_preferred_sensor(&self, hub: &Hub, watcher: &Watcher, links: &BTreeMap<String, Link>) {
        let Some(wanted) = &self.sensor else { return };
        let connected: Vec<&Client> = links
            .iter()
            .filter(|(_, link)| link.connected)
            .filter_map(|(key, _)| watcher.server(key).map(WatchedServer::client))
            .collect();
        if connected.is_empty() {
            return; // nothing to judge by yet; server errors say why
        }
        let all: Vec<String> = connected
            .iter()
            .flat_map(|client| sensors(client))
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
