//! [`ZenohSource`]: servers published on Zenoh by bridges (docs/distributed.md), found through
//! their liveliness tokens instead of mDNS.
//!
//! One thread, as in [`NetworkSource`](crate::NetworkSource): it waits on the token events, every
//! subscription's frames and the shutdown channel, subscribes to a sensor only while a tab wants
//! it, and publishes only the newest waiting frame. Servers are listed under
//! `zenoh:kinect2/<server-id>`, named by their `me`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, TryRecvError};
use sk2_client::zenoh::{ZenohClient, ZenohConfig, ZenohServerEvent};
use sk2_client::SubscriptionConfig;
use sk2_proto::zenoh_keys::server_key;
use sk2_proto::Me;

use crate::followed::FollowedDepth;
use crate::hub::{FrameSource, Hub, SourceKey};
use crate::network::sensors_of;

/// Longest the loop sleeps without an event (see the network source).
const TICK: Duration = Duration::from_millis(100);
/// Pause before trying again what failed: opening the session, asking `me`, subscribing.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long a `me` query may take.
const ME_TIMEOUT: Duration = Duration::from_secs(2);
/// Notice topic for Zenoh problems.
const ZENOH_TOPIC: &str = "zenoh";

/// Streams from servers on Zenoh into the hub.
#[derive(Debug, Clone, Default)]
pub struct ZenohSource {
    /// The session's configuration (`kinect-view --zenoh-config`, `--zenoh-connect`, ...).
    pub config: ZenohConfig,
}

/// A server seen on Zenoh.
struct Link {
    /// The hub's key for it: `zenoh:kinect2/<server-id>`.
    key: String,
    me: Option<Me>,
    /// When to ask `me` again, if it failed.
    me_retry: Option<Instant>,
    subscriptions: BTreeMap<String, FollowedDepth>,
    failed: BTreeMap<String, Instant>,
}

impl Link {
    fn new(server_id: &str) -> Self {
        Self {
            key: format!("zenoh:{}", server_key(server_id)),
            me: None,
            me_retry: Some(Instant::now()),
            subscriptions: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }

    /// Asks `me` if due, and lists the server's sensors.
    fn ask_me(&mut self, client: &ZenohClient, server_id: &str, hub: &Hub) {
        if !self.me_retry.is_some_and(|at| Instant::now() >= at) {
            return;
        }
        match client.me(server_id, ME_TIMEOUT) {
            Ok(me) => {
                hub.name_server(&self.key, &me.name);
                hub.server_seen(&self.key, &self.key);
                hub.set_sensors(&self.key, &sensors_of(&me, " over Zenoh"));
                self.me = Some(me);
                self.me_retry = None;
            }
            Err(error) => {
                hub.server_error(
                    &self.key,
                    &self.key,
                    &format!("no `me` from {}: {error}; retrying", self.key),
                );
                self.me_retry = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }

    fn update_subscriptions(&mut self, client: &ZenohClient, server_id: &str, hub: &Hub) {
        let Some(me) = &self.me else { return };
        for device in &me.devices {
            let key = SourceKey::new(self.key.clone(), device.id.clone());
            if !hub.is_wanted(&key) {
                self.subscriptions.remove(&device.id);
                continue;
            }
            if self.subscriptions.contains_key(&device.id)
                || self
                    .failed
                    .get(&device.id)
                    .is_some_and(|at| Instant::now() < *at)
            {
                continue;
            }
            match client.subscribe_device(server_id, device, &SubscriptionConfig::default()) {
                Ok(subscription) => {
                    tracing::info!(source = %key, key = subscription.endpoint(), "subscribed over Zenoh");
                    self.failed.remove(&device.id);
                    hub.sensor_error(&key, None);
                    self.subscriptions
                        .insert(device.id.clone(), FollowedDepth::new(subscription));
                }
                Err(error) => {
                    hub.sensor_error(&key, Some(&format!("cannot subscribe: {error}; retrying")));
                    self.failed
                        .insert(device.id.clone(), Instant::now() + RETRY_AFTER);
                }
            }
        }
    }

    fn forward_frames(&mut self, hub: &Hub) {
        for (id, followed) in &mut self.subscriptions {
            followed.forward(&SourceKey::new(self.key.clone(), id.clone()), hub);
        }
    }
}

impl FrameSource for ZenohSource {
    fn run(self: Box<Self>, hub: Hub, shutdown: Receiver<()>) {
        // Opening the session and the token watch; retried until shutdown.
        let (client, watch) = loop {
            match ZenohClient::open(&self.config).and_then(|client| {
                let watch = client.watch()?;
                Ok((client, watch))
            }) {
                Ok(opened) => {
                    hub.set_notice(ZENOH_TOPIC, None);
                    break opened;
                }
                Err(error) => {
                    hub.set_notice(
                        ZENOH_TOPIC,
                        Some(&format!("cannot open Zenoh: {error}; retrying")),
                    );
                    if !matches!(
                        shutdown.recv_timeout(RETRY_AFTER),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout)
                    ) {
                        return;
                    }
                }
            }
        };
        let mut links: BTreeMap<String, Link> = BTreeMap::new();
        loop {
            for (server_id, link) in &mut links {
                link.ask_me(&client, server_id, &hub);
                link.update_subscriptions(&client, server_id, &hub);
            }
            {
                let mut select = Select::new();
                select.recv(&shutdown);
                select.recv(watch.events());
                for link in links.values() {
                    for followed in link.subscriptions.values() {
                        select.recv(followed.frames());
                    }
                }
                let _ = select.ready_timeout(TICK);
            }
            if !matches!(shutdown.try_recv(), Err(TryRecvError::Empty)) {
                break;
            }
            for event in watch.events().try_iter() {
                match event {
                    ZenohServerEvent::Appeared(server_id) => {
                        tracing::info!(%server_id, "server appeared on Zenoh");
                        let link = Link::new(&server_id);
                        hub.server_pending(&link.key, &link.key, "asking its `me`\u{2026}");
                        links.insert(server_id, link);
                    }
                    ZenohServerEvent::Disappeared(server_id) => {
                        if let Some(link) = links.remove(&server_id) {
                            tracing::info!(%server_id, "server left Zenoh");
                            hub.server_gone(&link.key);
                        }
                    }
                    other => tracing::debug!(?other, "Zenoh event ignored"),
                }
            }
            for link in links.values_mut() {
                link.forward_frames(&hub);
            }
        }
        for link in links.values() {
            hub.server_gone(&link.key);
        }
    }
}
