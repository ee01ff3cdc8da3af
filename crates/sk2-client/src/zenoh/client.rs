//! [`ZenohClient`]: servers and depth streams through Zenoh, from the key space a bridge
//! publishes (`sk2_proto::zenoh_keys`, docs/protocol.md section 10).

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use sk2_proto::control::{Reply, TYPE_ME};
use sk2_proto::zenoh_keys::{depth_key, me_key, server_of_key, ALL_SERVERS};
use sk2_proto::{Device, Me};

use super::config::ZenohConfig;
use super::receiving;
use crate::config::SubscriptionConfig;
use crate::drop_oldest::DropOldest;
use crate::error::ClientError;
use crate::subscription::depth_endpoint;
use crate::{EndpointKind, Subscription, BROWSER_EVENT_QUEUE_LEN};

/// How long [`ZenohClient::subscribe`] waits for the server's `me`.
pub const DEFAULT_ME_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`ZenohClient::me`] waits before asking again when no bridge answered.
pub const ME_RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// A server appearing or disappearing in Zenoh (its bridge's liveliness token).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZenohServerEvent {
    /// A server's token appeared: its `me` can be asked and its streams subscribed.
    Appeared(String),
    /// A server's token went: its bridge stopped, lost its upstream server, or is unreachable.
    Disappeared(String),
}

/// A Zenoh session that reads streamkinect2 servers published by bridges.
///
/// ```no_run
/// use sk2_client::zenoh::{ZenohClient, ZenohConfig, ZenohMode};
///
/// // Client mode: talk only to the router (or bridge) given, and reconnect to it.
/// let config = ZenohConfig::default()
///     .with_mode(ZenohMode::Client)
///     .with_connect(&["tcp/127.0.0.1:7447".to_owned()])?;
/// let client = ZenohClient::open(&config)?;
/// for server in client.servers(std::time::Duration::from_secs(2))? {
///     let me = client.me(&server, std::time::Duration::from_secs(2))?;
///     let device = me.devices.first().ok_or("no sensor")?;
///     let frame = client.subscribe(&server, &device.id)?.recv()?;
///     println!("{server}: frame {:?}", frame.sequence());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ZenohClient {
    session: ::zenoh::Session,
    subscription: SubscriptionConfig,
}

impl ZenohClient {
    /// Opens a session with `config`.
    pub fn open(config: &ZenohConfig) -> Result<Self, ClientError> {
        Ok(Self::from_session(config.open()?))
    }

    /// Uses a session the application opened itself.
    pub fn from_session(session: ::zenoh::Session) -> Self {
        Self {
            session,
            subscription: SubscriptionConfig::default(),
        }
    }

    /// Sets the settings of subscriptions made by [`ZenohClient::subscribe`].
    pub fn with_subscription(mut self, config: SubscriptionConfig) -> Self {
        self.subscription = config;
        self
    }

    /// The Zenoh session.
    pub fn session(&self) -> &::zenoh::Session {
        &self.session
    }

    /// The ids of the servers whose tokens are alive now, sorted, waiting up to `timeout` for
    /// answers.
    pub fn servers(&self, timeout: Duration) -> Result<Vec<String>, ClientError> {
        use ::zenoh::Wait;
        let replies = self
            .session
            .liveliness()
            .get(ALL_SERVERS)
            .timeout(timeout)
            .wait()
            .map_err(zenoh_error)?;
        let mut servers = Vec::new();
        while let Ok(reply) = replies.recv() {
            if let Ok(sample) = reply.result() {
                if let Some(server) = server_of_key(sample.key_expr().as_str()) {
                    servers.push(server);
                }
            }
        }
        servers.sort();
        servers.dedup();
        Ok(servers)
    }

    /// Watches servers appear and disappear; those alive now are reported first.
    pub fn watch(&self) -> Result<ServerWatch, ClientError> {
        use ::zenoh::Wait;
        let (events_tx, events) = DropOldest::new(BROWSER_EVENT_QUEUE_LEN);
        let subscriber = self
            .session
            .liveliness()
            .declare_subscriber(ALL_SERVERS)
            .history(true)
            .callback(move |sample: ::zenoh::sample::Sample| {
                let Some(server) = server_of_key(sample.key_expr().as_str()) else {
                    tracing::debug!(key = %sample.key_expr(), "liveliness token of no server");
                    return;
                };
                events_tx.send(match sample.kind() {
                    ::zenoh::sample::SampleKind::Put => ZenohServerEvent::Appeared(server),
                    ::zenoh::sample::SampleKind::Delete => ZenohServerEvent::Disappeared(server),
                });
            })
            .wait()
            .map_err(zenoh_error)?;
        Ok(ServerWatch {
            _subscriber: subscriber,
            events,
        })
    }

    /// Asks `server_id`'s bridge for the server's `me`, waiting up to `timeout`.
    ///
    /// A query that no queryable answers ends at once, and one that a bridge has only just
    /// declared may not have reached this session's routers yet (its liveliness token, which
    /// [`ZenohClient::watch`] reports, can arrive first): so an unanswered query is asked again
    /// every [`ME_RETRY_INTERVAL`] until `timeout` has passed.
    pub fn me(&self, server_id: &str, timeout: Duration) -> Result<Me, ClientError> {
        let key = me_key(server_id);
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(answer) = self.ask_me(&key, left)? {
                return answer;
            }
            if Instant::now() + ME_RETRY_INTERVAL >= deadline {
                return Err(ClientError::ConnectTimeout {
                    endpoint: key,
                    after: timeout,
                });
            }
            std::thread::sleep(ME_RETRY_INTERVAL);
        }
    }

    /// One `me` query on `key`: `None` when nothing answered within `timeout`.
    fn ask_me(
        &self,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<Result<Me, ClientError>>, ClientError> {
        use ::zenoh::Wait;
        let replies = self
            .session
            .get(key)
            .timeout(timeout)
            .wait()
            .map_err(zenoh_error)?;
        let mut last_error = None;
        while let Ok(reply) = replies.recv() {
            let payload = match reply.result() {
                Ok(sample) => sample.payload().to_bytes().into_owned(),
                Err(error) => {
                    last_error = Some(ClientError::BadReply(format!(
                        "{key} answered with an error: {}",
                        String::from_utf8_lossy(&error.payload().to_bytes())
                    )));
                    continue;
                }
            };
            match Reply::decode(&[vec![TYPE_ME], payload]) {
                Ok(Reply::Me(me)) => return Ok(Some(Ok(me))),
                Ok(other) => {
                    last_error = Some(ClientError::BadReply(format!("unexpected {other:?}")))
                }
                Err(error) => last_error = Some(error.into()),
            }
        }
        Ok(last_error.map(Err))
    }

    /// Subscribes to a device's frames through Zenoh: `depth_v2` when the device offers it, else
    /// its original `depth` (which a bridge forwards unchanged). Asks the server's `me` first.
    pub fn subscribe(&self, server_id: &str, device_id: &str) -> Result<Subscription, ClientError> {
        let me = self.me(server_id, DEFAULT_ME_TIMEOUT)?;
        let device = me
            .device(device_id)
            .ok_or_else(|| ClientError::UnknownDevice(device_id.to_owned()))?;
        self.subscribe_device(server_id, device, &self.subscription)
    }

    /// Subscribes to `device` of the `me` of `server_id` already at hand, with `config`.
    pub fn subscribe_device(
        &self,
        server_id: &str,
        device: &Device,
        config: &SubscriptionConfig,
    ) -> Result<Subscription, ClientError> {
        // A bridge publishes depth_v2 when offered, else depth: only those two keys exist.
        let config = config.clone().with_prefer_depth_v2(true);
        let (kind, _) = depth_endpoint(device, &config)?;
        let key = depth_key(server_id, &device.id, kind.endpoint_name());
        receiving::subscribe(&self.session, key, &device.id, kind, &config)
    }

    /// Subscribes to whatever is published on `key` as depth messages of `kind` (for tools that
    /// know their key; [`ZenohClient::subscribe`] finds it from `me`).
    pub fn subscribe_key(
        &self,
        key: &str,
        device_id: &str,
        kind: EndpointKind,
        config: &SubscriptionConfig,
    ) -> Result<Subscription, ClientError> {
        receiving::subscribe(&self.session, key.to_owned(), device_id, kind, config)
    }
}

/// Servers appearing and disappearing (see [`ZenohClient::watch`]); dropping it stops watching.
#[derive(Debug)]
pub struct ServerWatch {
    _subscriber: ::zenoh::pubsub::Subscriber<()>,
    events: Receiver<ZenohServerEvent>,
}

impl ServerWatch {
    /// The events, for `recv` or `crossbeam_channel::select!`.
    pub fn events(&self) -> &Receiver<ZenohServerEvent> {
        &self.events
    }
}

fn zenoh_error(error: ::zenoh::Error) -> ClientError {
    ClientError::Zenoh(error.to_string())
}
