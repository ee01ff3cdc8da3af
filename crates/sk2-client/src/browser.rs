//! Discovery: watches mDNS for `_kinect2._tcp` servers (docs/protocol.md, section 2).
//!
//! mdns-sd resolves each instance (SRV + TXT + A); this module turns its events into one
//! [`BrowserEvent::ServerAppeared`] per instance (repeated resolutions of the same instance with the
//! same address are not reported again; a changed port or address is reported as
//! [`BrowserEvent::ServerChanged`]) and one [`BrowserEvent::ServerDisappeared`] when it goes.
//!
//! A server that crashes sends no goodbye, and its records live for their 120 s TTL. When a
//! connection to a discovered server fails, call [`Browser::verify`]: the daemon queries the
//! instance again and drops it if nobody answers within [`VERIFY_TIMEOUT`] (RFC 6762 section 10.4).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use mdns_sd::{ServiceDaemon, ServiceEvent};
use sk2_proto::curve::PublicKey;
use sk2_proto::discovery::{full_name, instance_name, SERVICE_TYPE, TXT_SECURE, TXT_SERVER_KEY};

use crate::drop_oldest::DropOldest;
use crate::endpoint::{address_rank, Endpoint, HostAddresses};

/// How long a re-verified server has to answer before it is dropped. RFC 6762 suggests 10 s; a
/// server on the local link answers within milliseconds, and the point of verifying is to lose a
/// crashed server within seconds.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(2);
/// Capacity of the event queue. Events come from servers appearing and going, a handful per
/// minute; an application that never reads loses the oldest rather than growing memory.
pub const BROWSER_EVENT_QUEUE_LEN: usize = 256;
/// How often the translating thread checks whether the browser was dropped.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Why the browser could not start or act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// The mDNS daemon failed (no usable interface, socket error, daemon gone).
    #[error("mDNS: {0}")]
    Mdns(String),
    /// A background thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(String),
}

impl From<mdns_sd::Error> for BrowserError {
    fn from(error: mdns_sd::Error) -> Self {
        BrowserError::Mdns(error.to_string())
    }
}

/// A server found on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The instance name: the server's human-readable name, e.g. `Kinect 36ba…`.
    pub name: String,
    /// The full DNS-SD name, `<name>._kinect2._tcp.local.`.
    pub fullname: String,
    /// The SRV target without its trailing dot, e.g. `host.local`.
    pub host: String,
    /// The control port (SRV port).
    pub port: u16,
    /// The host's addresses from its A/AAAA records, best first: IPv4 before IPv6, loopback
    /// (only announced by a server on this host) and link-local last.
    pub addresses: Vec<IpAddr>,
    /// The TXT record says the server requires CurveZMQ (`secure=1`, docs/security.md): a client
    /// needs the server's public key ([`ClientConfig::server_key`](crate::ClientConfig)).
    pub secure: bool,
    /// The server's CURVE public key from the TXT record (`serverkey`). mDNS is not
    /// authenticated: anyone on the network can announce any key, so compare it with the key
    /// the server's owner gave you rather than trust it.
    pub announced_key: Option<PublicKey>,
}

impl ServerInfo {
    /// The control endpoint as the original forms it: `tcp://<SRV target>:<SRV port>`.
    pub fn control_endpoint(&self) -> String {
        Endpoint::new(self.host.clone(), self.port).to_string()
    }

    /// The best address to reach the server, if mDNS gave one.
    pub fn address(&self) -> Option<IpAddr> {
        self.addresses.first().copied()
    }

    /// The server's host name mapped to its best address, so endpoints naming `host.local` in its
    /// `me` resolve without a system mDNS resolver. Give it to the client:
    /// `ClientConfig::default().with_host_addresses(info.host_addresses())`.
    pub fn host_addresses(&self) -> HostAddresses {
        let mut hosts = HostAddresses::new();
        if let Some(ip) = self.address() {
            hosts.insert(&self.host, ip);
        }
        hosts
    }
}

/// A change on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrowserEvent {
    /// A server was found.
    ServerAppeared(ServerInfo),
    /// A known server now has a different port, host or address set.
    ServerChanged(ServerInfo),
    /// A server said goodbye, its records expired, or it failed re-verification.
    ServerDisappeared {
        /// Its instance name.
        name: String,
        /// Its full DNS-SD name.
        fullname: String,
    },
}

/// Watches the network for servers until dropped.
pub struct Browser {
    daemon: ServiceDaemon,
    events: Receiver<BrowserEvent>,
    servers: Arc<Mutex<BTreeMap<String, ServerInfo>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("servers", &self.servers())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts browsing on every interface (multicast DNS on port 5353).
    pub fn new() -> Result<Self, BrowserError> {
        let daemon = ServiceDaemon::new()?;
        let receiver = daemon.browse(SERVICE_TYPE)?;
        let (events_tx, events) = DropOldest::new(BROWSER_EVENT_QUEUE_LEN);
        let servers = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut translator = Translator {
            events: events_tx,
            servers: Arc::clone(&servers),
        };
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sk2-browser".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    match receiver.recv_timeout(STOP_POLL) {
                        Ok(event) => translator.handle(event),
                        Err(error) if receiver.is_disconnected() => {
                            tracing::debug!(%error, "mDNS daemon gone");
                            return;
                        }
                        Err(_) => {}
                    }
                }
            })
            .map_err(|error| BrowserError::Thread(error.to_string()))?;
        Ok(Self {
            daemon,
            events,
            servers,
            stop,
            thread: Some(thread),
        })
    }

    /// The event queue (shared by all clones of the receiver).
    pub fn events(&self) -> Receiver<BrowserEvent> {
        self.events.clone()
    }

    /// The servers known now, by name.
    pub fn servers(&self) -> Vec<ServerInfo> {
        lock(&self.servers).values().cloned().collect()
    }

    /// Asks the network whether the server is still there, after a connection to it failed. If it
    /// does not answer within [`VERIFY_TIMEOUT`], it is dropped and
    /// [`BrowserEvent::ServerDisappeared`] fires. Takes the instance name or the full name.
    pub fn verify(&self, name: &str) -> Result<(), BrowserError> {
        let fullname = full_name(name);
        tracing::debug!(%fullname, "re-verifying server");
        Ok(self.daemon.verify(fullname, VERIFY_TIMEOUT)?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Errors mean the daemon is already gone, which is what we want.
        let _ = self.daemon.stop_browse(SERVICE_TYPE);
        if let Ok(status) = self.daemon.shutdown() {
            let _ = status.recv_timeout(Duration::from_secs(1));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map is plain data; a panic elsewhere does not make it inconsistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Translator {
    /// An application that never reads loses the oldest events rather than growing memory.
    events: DropOldest<BrowserEvent>,
    servers: Arc<Mutex<BTreeMap<String, ServerInfo>>>,
}

impl Translator {
    fn handle(&mut self, event: ServiceEvent) {
        match event {
            ServiceEvent::ServiceResolved(service) => {
                let fullname = service.get_fullname().to_owned();
                let mut addresses: Vec<IpAddr> = service
                    .get_addresses()
                    .iter()
                    .map(|scoped| scoped.to_ip_addr())
                    .collect();
                addresses.sort_by_key(|ip| (address_rank(ip), *ip));
                addresses.dedup();
                let info = ServerInfo {
                    secure: service.get_property_val_str(TXT_SECURE) == Some("1"),
                    announced_key: service
                        .get_property_val_str(TXT_SERVER_KEY)
                        .and_then(|key| PublicKey::from_z85(key).ok()),
                    name: instance_name(&fullname).to_owned(),
                    host: service.get_hostname().trim_end_matches('.').to_owned(),
                    port: service.get_port(),
                    addresses,
                    fullname: fullname.clone(),
                };
                let event = {
                    let mut servers = lock(&self.servers);
                    match servers.insert(fullname, info.clone()) {
                        None => Some(BrowserEvent::ServerAppeared(info)),
                        Some(old) if old != info => Some(BrowserEvent::ServerChanged(info)),
                        // The same instance resolved again (another interface, a refresh).
                        Some(_) => None,
                    }
                };
                if let Some(event) = event {
                    self.emit(event);
                }
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                if lock(&self.servers).remove(&fullname).is_some() {
                    self.emit(BrowserEvent::ServerDisappeared {
                        name: instance_name(&fullname).to_owned(),
                        fullname,
                    });
                }
            }
            other => tracing::trace!(?other, "mDNS event"),
        }
    }

    fn emit(&self, event: BrowserEvent) {
        tracing::debug!(?event, "browser event");
        self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_info_maps_its_host_to_its_best_address() {
        let info = ServerInfo {
            name: "k".into(),
            fullname: format!("k.{SERVICE_TYPE}"),
            host: "box.local".into(),
            port: 40949,
            addresses: vec!["10.1.2.3".parse().unwrap()],
            secure: false,
            announced_key: None,
        };
        assert_eq!(info.control_endpoint(), "tcp://box.local:40949");
        assert_eq!(
            info.host_addresses().get("BOX.local."),
            Some("10.1.2.3".parse().unwrap())
        );
    }
}
