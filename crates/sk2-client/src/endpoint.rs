//! ZeroMQ TCP endpoints (`tcp://host:port`) and how their host names become addresses.
//!
//! Servers advertise endpoints with host names, not always IPs (docs/protocol.md, section 3.1):
//! `<hostname>.local` when announcing over mDNS, `localhost` for 127.0.0.1, sometimes with a
//! trailing dot. libzmq resolves names itself, but it knows nothing of mDNS and may pick IPv6, so
//! the client resolves every endpoint before connecting: first from a [`HostAddresses`] map (filled
//! from what mDNS reported), then through the system resolver, preferring IPv4, and last, for a
//! `.local` name, by asking mDNS itself ([`resolve_local_host`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::time::{Duration, Instant};

use mdns_sd::{HostnameResolutionEvent, ServiceDaemon};

/// How long [`resolve_local_host`] waits for an mDNS answer. A host on the local link answers in
/// milliseconds; two seconds allow for a retransmission without stalling a connect for long.
pub const HOST_RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why an endpoint string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Not of the form `tcp://host:port`.
    #[error("endpoint {0:?} is not of the form tcp://host:port")]
    Malformed(String),
    /// The host name has no address, neither in the mDNS map nor from the system resolver.
    #[error("cannot resolve host {0:?}")]
    Unresolvable(String),
}

/// A parsed `tcp://host:port` endpoint. The host is kept as written, minus any trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP literal (IPv6 without brackets), without a trailing dot.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// Builds an endpoint from its parts; a trailing dot on `host` is dropped.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let host = host.into();
        Self {
            host: normalise_host(&host),
            port,
        }
    }

    /// True when both name the same host, ignoring case and trailing dots.
    pub fn same_host(&self, other: &Endpoint) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
    }

    /// The address to connect to: the host from `hosts` if listed there, else an IP literal as is,
    /// else the system resolver's first IPv4 address (or first address if it has no IPv4).
    pub fn resolve(&self, hosts: &HostAddresses) -> Result<SocketAddr, EndpointError> {
        if let Some(ip) = hosts.get(&self.host) {
            return Ok(SocketAddr::new(ip, self.port));
        }
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let unresolvable = || EndpointError::Unresolvable(self.host.clone());
        let addresses: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|_| unresolvable())?
            .collect();
        // IPv4 first: the original's servers bind IPv4 only, and libzmq needs IPv6 switched on.
        addresses
            .iter()
            .find(|address| address.is_ipv4())
            .or_else(|| addresses.first())
            .copied()
            .ok_or_else(unresolvable)
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || EndpointError::Malformed(text.to_owned());
        let rest = text.strip_prefix("tcp://").ok_or_else(malformed)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(malformed)?;
        let port: u16 = port.parse().map_err(|_| malformed())?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.strip_suffix(']').ok_or_else(malformed)?,
            None => host,
        };
        let host = normalise_host(host);
        if host.is_empty() || port == 0 || host.contains(['/', ' ', '[', ']']) {
            return Err(malformed());
        }
        Ok(Self { host, port })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "tcp://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tcp://{}:{}", self.host, self.port)
        }
    }
}

/// [`Endpoint::resolve`], then, for a `.local` name nobody else knows, an mDNS lookup
/// ([`resolve_local_host`]) when `use_mdns` is set.
pub(crate) fn resolve_endpoint(
    endpoint: &Endpoint,
    hosts: &HostAddresses,
    use_mdns: bool,
) -> Result<SocketAddr, EndpointError> {
    match endpoint.resolve(hosts) {
        Err(EndpointError::Unresolvable(host)) if use_mdns => resolve_local_host(&host)
            .map(|ip| SocketAddr::new(ip, endpoint.port))
            .ok_or(EndpointError::Unresolvable(host)),
        other => other,
    }
}

/// Asks mDNS for the address of a `.local` host name (RFC 6762), for endpoints given by name
/// without a [`crate::Browser`]: `tcp://kinect-box.local:5555`. Returns the best address (IPv4
/// first), or `None` if the name is not `.local` or nobody answers within
/// [`HOST_RESOLVE_TIMEOUT`].
pub fn resolve_local_host(host: &str) -> Option<IpAddr> {
    let host = host.trim_end_matches('.');
    if !host.to_ascii_lowercase().ends_with(".local") {
        return None;
    }
    let daemon = ServiceDaemon::new().ok()?;
    let fqdn = format!("{host}.");
    let timeout_ms = u64::try_from(HOST_RESOLVE_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
    let answer = daemon
        .resolve_hostname(&fqdn, Some(timeout_ms))
        .ok()
        .and_then(|events| {
            let deadline = Instant::now() + HOST_RESOLVE_TIMEOUT;
            loop {
                let left = deadline.checked_duration_since(Instant::now())?;
                match events.recv_timeout(left).ok()? {
                    HostnameResolutionEvent::AddressesFound(_, addresses) => {
                        return addresses
                            .iter()
                            .map(|scoped| scoped.to_ip_addr())
                            .min_by_key(|ip| (address_rank(ip), *ip));
                    }
                    HostnameResolutionEvent::SearchTimeout(_) => return None,
                    _ => {}
                }
            }
        });
    if let Ok(status) = daemon.shutdown() {
        let _ = status.recv_timeout(Duration::from_secs(1));
    }
    tracing::debug!(%host, ?answer, "mDNS host lookup");
    answer
}

/// Sort key for a host's addresses, best first: routable IPv4, routable IPv6, loopback IPv4,
/// loopback IPv6 (only announced by a server on this host), link-local IPv6.
pub(crate) fn address_rank(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => 2,
        IpAddr::V4(_) => 0,
        IpAddr::V6(v6) if v6.is_loopback() => 3,
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => 4,
        IpAddr::V6(_) => 1,
    }
}

/// The ZeroMQ address string for a socket address: `tcp://1.2.3.4:5` or `tcp://[::1]:5`.
pub fn zmq_address(address: SocketAddr) -> String {
    format!("tcp://{address}")
}

/// Host name to address, for names the system resolver may not know (mDNS `.local` names).
///
/// Keys are compared without case and without a trailing dot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAddresses {
    map: BTreeMap<String, IpAddr>,
}

impl HostAddresses {
    /// An empty map: every name goes to the system resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `host` to `ip`, replacing any earlier address.
    pub fn insert(&mut self, host: &str, ip: IpAddr) {
        self.map.insert(key(host), ip);
    }

    /// The address for `host`, if listed.
    pub fn get(&self, host: &str) -> Option<IpAddr> {
        self.map.get(&key(host)).copied()
    }

    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn normalise_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_owned()
}

fn key(host: &str) -> String {
    normalise_host(host).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn trailing_dots_and_brackets_are_tolerated() {
        let endpoint: Endpoint = "tcp://kinect.local.:40949".parse().unwrap();
        assert_eq!(endpoint, Endpoint::new("kinect.local", 40949));
        let v6: Endpoint = "tcp://[::1]:5".parse().unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "tcp://[::1]:5");
        assert_eq!(endpoint.to_string(), "tcp://kinect.local:40949");
    }

    #[test]
    fn malformed_endpoints_are_errors() {
        for bad in [
            "",
            "tcp://",
            "tcp://host",
            "tcp://host:",
            "tcp://host:0",
            "tcp://host:99999",
            "udp://host:5",
            "tcp://:5",
            "tcp://[::1:5",
            "tcp://a b:5",
            "tcp://.:5",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn addresses_rank_ipv4_first_and_loopback_last() {
        let mut ips: Vec<IpAddr> = ["fe80::1", "::1", "127.0.0.1", "2001:db8::1", "192.168.1.5"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        ips.sort_by_key(|ip| (address_rank(ip), *ip));
        let sorted: Vec<String> = ips.iter().map(ToString::to_string).collect();
        assert_eq!(
            sorted,
            ["192.168.1.5", "2001:db8::1", "127.0.0.1", "::1", "fe80::1"]
        );
    }

    #[test]
    fn localhost_resolves_to_ipv4_loopback() {
        let endpoint: Endpoint = "tcp://localhost:1234".parse().unwrap();
        let address = endpoint.resolve(&HostAddresses::new()).unwrap();
        assert_eq!(address, SocketAddr::from((Ipv4Addr::LOCALHOST, 1234)));
        assert_eq!(zmq_address(address), "tcp://127.0.0.1:1234");
    }

    #[test]
    fn mdns_hosts_map_wins_over_the_system_resolver_ignoring_case_and_dots() {
        let mut hosts = HostAddresses::new();
        hosts.insert("Kinect-Box.local.", Ipv4Addr::new(10, 0, 0, 7).into());
        let endpoint: Endpoint = "tcp://kinect-box.local:40603".parse().unwrap();
        assert_eq!(
            endpoint.resolve(&hosts).unwrap(),
            SocketAddr::from(([10, 0, 0, 7], 40603))
        );
        let unknown: Endpoint = "tcp://no-such-host.invalid:1".parse().unwrap();
        assert!(matches!(
            unknown.resolve(&hosts),
            Err(EndpointError::Unresolvable(_))
        ));
    }
}
