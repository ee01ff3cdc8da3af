//! [`Watcher`]: every server on the network, one [`Client`] each, their events merged. The type
//! carries the documentation, since this module is private and the crate re-exports it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};

use crate::browser::{Browser, BrowserError, BrowserEvent, ServerInfo};
use crate::client::Client;
use crate::config::ClientConfig;
use crate::control::{ClientEvent, DisconnectReason};
use crate::endpoint::HostAddresses;
use crate::error::ClientError;

/// Default shortest pause between two re-verifications of the same server. A crashed server fails
/// the first one (gone within [`crate::VERIFY_TIMEOUT`]); a server that is only slow is asked
/// again at most this often, which costs one mDNS query.
pub const DEFAULT_REVERIFY_EVERY: Duration = Duration::from_secs(5);
/// Default pause before trying again to start a client whose endpoint could not be resolved.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);

/// How a [`Watcher`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatcherConfig {
    /// The configuration of every client; a discovered server's host address is added to its
    /// [`ClientConfig::host_addresses`].
    pub client: ClientConfig,
    /// Shortest pause between two re-verifications of the same discovered server.
    pub reverify_every: Duration,
    /// Pause before trying again to start a client that could not start (unresolvable host).
    pub retry_after: Duration,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        Self {
            client: ClientConfig::default(),
            reverify_every: DEFAULT_REVERIFY_EVERY,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }
}

impl WatcherConfig {
    /// Sets [`WatcherConfig::client`].
    pub fn with_client(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }

    /// Sets [`WatcherConfig::reverify_every`].
    pub fn with_reverify_every(mut self, pause: Duration) -> Self {
        self.reverify_every = pause;
        self
    }

    /// Sets [`WatcherConfig::retry_after`].
    pub fn with_retry_after(mut self, pause: Duration) -> Self {
        self.retry_after = pause;
        self
    }
}

/// Something that happened to the watched servers. `key` names the server: the endpoint as given
/// to [`Watcher::add_endpoint`], or the full DNS-SD name of a discovered server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A server is now watched: given, discovered, or rediscovered with a new address (its old
    /// client was replaced). [`WatchEvent::Connecting`] or [`WatchEvent::ConnectFailed`] follows.
    Added {
        /// The server.
        key: String,
    },
    /// The server's client started connecting; [`ClientEvent::Connected`] follows when it answers.
    Connecting {
        /// The server.
        key: String,
    },
    /// The server's client could not start (its host cannot be resolved); tried again after
    /// [`WatcherConfig::retry_after`].
    ConnectFailed {
        /// The server.
        key: String,
        /// Why.
        error: ClientError,
    },
    /// An event of the server's client.
    Client {
        /// The server.
        key: String,
        /// What its client reported.
        event: ClientEvent,
    },
    /// The server left (mDNS goodbye, expiry, or failed re-verification) and is no longer watched.
    Removed {
        /// The server.
        key: String,
        /// Its name as it was shown ([`WatchedServer::name`]).
        name: String,
    },
}

/// One watched server: where it is, what mDNS said of it, and its client.
pub struct WatchedServer {
    key: String,
    endpoint: String,
    info: Option<ServerInfo>,
    client: Client,
    events: Receiver<ClientEvent>,
    /// When to try again to start the client, after it could not start.
    connect_at: Option<Instant>,
    last_verify: Option<Instant>,
}

impl std::fmt::Debug for WatchedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedServer")
            .field("key", &self.key)
            .field("endpoint", &self.endpoint)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl WatchedServer {
    /// The key its events carry.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its control endpoint, `tcp://host:port`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What mDNS said of it; `None` for a server given by endpoint.
    pub fn info(&self) -> Option<&ServerInfo> {
        self.info.as_ref()
    }

    /// Its client: state, `me`, ping, subscriptions.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A name to show: the discovered instance name, else the name the server gave, else the
    /// endpoint.
    pub fn name(&self) -> String {
        self.info
            .as_ref()
            .map(|info| info.name.clone())
            .or_else(|| self.client.name())
            .unwrap_or_else(|| self.endpoint.clone())
    }
}

/// Every server on the network (found by mDNS, or given as `tcp://host:port`), one
/// [`Client`] each, and their events merged into one stream.
///
/// It is what a tool that shows "all the servers" needs (`kinect-browse`, `kinect-view`):
///
/// * a discovered server gets a client at once, with its mDNS address in the client's host map;
///   a server whose address changes gets a new client; a server that leaves is dropped;
/// * when a discovered server stops answering, the watcher asks mDNS to re-verify it
///   ([`Browser::verify`]), at most once per [`WatcherConfig::reverify_every`], so a crashed
///   server (which sends no goodbye) disappears within seconds instead of its records' 120 s TTL;
/// * a given endpoint whose host cannot be resolved yet is tried again every
///   [`WatcherConfig::retry_after`].
///
/// The watcher is a value used from one thread, driven by events: [`Watcher::wait`] blocks in one
/// `crossbeam_channel::Select` over the browser's and every client's queue. An application that
/// waits on more (frames, a shutdown channel) adds the watcher's queues to its own `Select` with
/// [`Watcher::register`], bounds its wait by [`Watcher::next_deadline`], and then calls
/// [`Watcher::poll`].
pub struct Watcher {
    config: WatcherConfig,
    browser: Option<Browser>,
    browser_events: Option<Receiver<BrowserEvent>>,
    servers: BTreeMap<String, WatchedServer>,
    /// Events produced outside [`Watcher::poll`] (by [`Watcher::add_endpoint`]), returned by the
    /// next one.
    pending: VecDeque<WatchEvent>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("browsing", &self.is_browsing())
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// A watcher of nothing yet: add endpoints, start browsing, or both.
    pub fn new(config: WatcherConfig) -> Self {
        Self {
            config,
            browser: None,
            browser_events: None,
            servers: BTreeMap::new(),
            pending: VecDeque::new(),
        }
    }

    /// Watches the server at `endpoint` (`tcp://host:port`), without mDNS. Its key is `endpoint`
    /// as given; adding it again does nothing. Fails only if the endpoint is malformed.
    pub fn add_endpoint(&mut self, endpoint: &str) -> Result<(), ClientError> {
        if self.servers.contains_key(endpoint) {
            return Ok(());
        }
        let client = Client::new(endpoint, self.config.client.clone())?;
        let events = self.insert(endpoint.to_owned(), endpoint.to_owned(), None, client);
        self.pending.extend(events);
        Ok(())
    }

    /// Starts looking for servers with mDNS (on every interface). Does nothing if already started.
    pub fn start_browsing(&mut self) -> Result<(), BrowserError> {
        if self.browser.is_none() {
            let browser = Browser::new()?;
            self.browser_events = Some(browser.events());
            self.browser = Some(browser);
        }
        Ok(())
    }

    /// True once [`Watcher::start_browsing`] has succeeded.
    pub fn is_browsing(&self) -> bool {
        self.browser.is_some()
    }

    /// The watched servers, by key.
    pub fn servers(&self) -> impl Iterator<Item = &WatchedServer> {
        self.servers.values()
    }

    /// The server with this key, if watched.
    pub fn server(&self, key: &str) -> Option<&WatchedServer> {
        self.servers.get(key)
    }

    /// True when no server is watched.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Adds the watcher's queues (the browser's, every client's) to `select`, for an application
    /// that waits on its own queues too. After the wait, call [`Watcher::poll`]; bound the wait by
    /// [`Watcher::next_deadline`].
    pub fn register<'a>(&'a self, select: &mut Select<'a>) {
        if let Some(events) = &self.browser_events {
            select.recv(events);
        }
        for server in self.servers.values() {
            select.recv(&server.events);
        }
    }

    /// The latest moment the application may wait until before calling [`Watcher::poll`], when
    /// the watcher has work that no queue will announce (a client to start again, or events
    /// already waiting: then now).
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.pending.is_empty() {
            return Some(Instant::now());
        }
        self.servers
            .values()
            .filter_map(|server| server.connect_at)
            .min()
    }

    /// Waits up to `timeout` for something to happen, then returns what did (possibly nothing).
    pub fn wait(&mut self, timeout: Duration) -> Vec<WatchEvent> {
        let mut until = Instant::now() + timeout;
        if let Some(deadline) = self.next_deadline() {
            until = until.min(deadline);
        }
        {
            let mut select = Select::new();
            self.register(&mut select);
            // Only readiness matters: `poll` drains every queue with `try_recv`.
            let _ = select.ready_deadline(until);
        }
        self.poll()
    }

    /// Handles whatever is waiting, without blocking: starts clients that are due, follows the
    /// browser, reads every client's events, re-verifies servers that stopped answering. Returns
    /// what happened, in order.
    pub fn poll(&mut self) -> Vec<WatchEvent> {
        let mut out: Vec<WatchEvent> = self.pending.drain(..).collect();
        let now = Instant::now();
        for server in self.servers.values_mut() {
            if server.connect_at.is_some_and(|at| now >= at) {
                out.push(start(server, self.config.retry_after));
            }
        }
        let browser_events: Vec<BrowserEvent> = self
            .browser_events
            .as_ref()
            .map(|events| events.try_iter().collect())
            .unwrap_or_default();
        for event in browser_events {
            self.follow(event, &mut out);
        }
        for server in self.servers.values_mut() {
            let events: Vec<ClientEvent> = server.events.try_iter().collect();
            for event in events {
                let stopped_answering = matches!(
                    event,
                    ClientEvent::Unreachable
                        | ClientEvent::Disconnected {
                            reason: DisconnectReason::Timeout
                        }
                );
                if stopped_answering {
                    reverify(server, self.browser.as_ref(), self.config.reverify_every);
                }
                out.push(WatchEvent::Client {
                    key: server.key.clone(),
                    event,
                });
            }
        }
        out
    }

    /// Applies one browser event to the server list.
    fn follow(&mut self, event: BrowserEvent, out: &mut Vec<WatchEvent>) {
        match event {
            BrowserEvent::ServerAppeared(info) | BrowserEvent::ServerChanged(info) => {
                let endpoint = info.control_endpoint();
                // A server also given by endpoint is watched once, under that key.
                if self.servers.contains_key(&endpoint) {
                    return;
                }
                if let Some(known) = self.servers.get_mut(&info.fullname) {
                    if known.endpoint == endpoint
                        && known.info.as_ref().map(ServerInfo::address) == Some(info.address())
                    {
                        known.info = Some(info);
                        return;
                    }
                }
                let config = self
                    .config
                    .client
                    .clone()
                    .with_host_addresses(merged_hosts(&self.config.client, &info));
                match Client::new(&endpoint, config) {
                    Ok(client) => {
                        let key = info.fullname.clone();
                        out.extend(self.insert(key, endpoint, Some(info), client));
                    }
                    Err(error) => {
                        tracing::warn!(server = %info.name, %endpoint, %error, "unusable endpoint");
                    }
                }
            }
            BrowserEvent::ServerDisappeared { fullname, .. } => {
                if let Some(server) = self.servers.remove(&fullname) {
                    tracing::info!(server = %server.name(), "server went away");
                    out.push(WatchEvent::Removed {
                        name: server.name(),
                        key: fullname,
                    });
                }
            }
        }
    }

    /// Watches `client` under `key` (replacing any server there) and starts it.
    fn insert(
        &mut self,
        key: String,
        endpoint: String,
        info: Option<ServerInfo>,
        client: Client,
    ) -> [WatchEvent; 2] {
        if let Some(name) = info.as_ref().map(|info| &info.name) {
            tracing::info!(server = %name, %endpoint, "server found");
        }
        let events = client.events();
        let mut server = WatchedServer {
            key: key.clone(),
            endpoint,
            info,
            client,
            events,
            connect_at: None,
            last_verify: None,
        };
        let started = start(&mut server, self.config.retry_after);
        // A server already there (its address changed) is dropped: its client disconnects.
        self.servers.insert(key.clone(), server);
        [WatchEvent::Added { key }, started]
    }
}

/// Starts `server`'s client; on failure schedules the next attempt.
fn start(server: &mut WatchedServer, retry_after: Duration) -> WatchEvent {
    let key = server.key.clone();
    match server.client.connect() {
        Ok(()) => {
            server.connect_at = None;
            WatchEvent::Connecting { key }
        }
        Err(error) => {
            server.connect_at = Some(Instant::now() + retry_after);
            WatchEvent::ConnectFailed { key, error }
        }
    }
}

/// Asks mDNS whether a discovered server is still there, unless it was asked recently.
fn reverify(server: &mut WatchedServer, browser: Option<&Browser>, every: Duration) {
    let (Some(browser), Some(info)) = (browser, &server.info) else {
        return;
    };
    if server.last_verify.is_some_and(|at| at.elapsed() < every) {
        return;
    }
    server.last_verify = Some(Instant::now());
    if let Err(error) = browser.verify(&info.fullname) {
        tracing::debug!(%error, server = %info.name, "cannot re-verify");
    }
}

/// The configured host map plus the discovered server's own address.
fn merged_hosts(config: &ClientConfig, info: &ServerInfo) -> HostAddresses {
    let mut hosts = config.host_addresses.clone();
    if let Some(ip) = info.address() {
        hosts.insert(&info.host, ip);
    }
    hosts
}
