//! How a server is set up: [`Config`] and the defaults of its limits.

use std::time::Duration;

use sk2_proto::depth_v2::Codec;

/// Default `SNDHWM` of depth PUB sockets, in messages per subscriber.
///
/// libzmq's default of 1000 would let a slow subscriber hold hundreds of megabytes of frames
/// (protocol.md 4.1). Four frames are about 130 ms at 30 fps: enough to ride out a hiccup of
/// the network, small enough that a stalled subscriber costs at most four frames of memory
/// (at most ~2.6 MB for incompressible 512 x 424 frames) and loses frames instead.
pub const DEFAULT_DEPTH_SNDHWM: i32 = 4;

/// Default most peers on each depth endpoint (per sensor, `depth` and `depth_v2` counted
/// apart); more are refused during the ZMTP handshake (see [`Config::max_subscribers`]).
///
/// Each subscriber costs a TCP connection (a file descriptor, kernel buffers) and a queue of up to
/// [`DEFAULT_DEPTH_SNDHWM`] frames that libzmq shares between subscribers. 100 subscribers per
/// endpoint were measured without drops (docs/performance.md), and with two endpoints per sensor
/// they stay well inside the usual limit of 1024 open files.
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 100;

/// Default most peers on the control endpoint (browsers and clients); more are refused during
/// the ZMTP handshake (see [`Config::max_control_peers`]). With
/// [`CONTROL_RCVHWM`](crate::CONTROL_RCVHWM) and [`CONTROL_SNDHWM`](crate::CONTROL_SNDHWM) this
/// bounds what control peers can make the server hold (next to kernel buffers):
/// 64 x (8 requests x 64 KiB + 128 replies x a few KiB), a few dozen MiB at worst.
pub const DEFAULT_MAX_CONTROL_PEERS: usize = 64;

/// Default most connections from one source address on each guarded endpoint (control, and each
/// depth endpoint apart); see [`Config::max_peers_per_address`].
///
/// Eight viewers of one sensor, or eight tools on one machine talking to the control endpoint, is
/// already unusual; eight is also small enough that peers from one address hold at most an eighth
/// of the control endpoint's slots, so a flood from a few addresses cannot fill it (a newcomer
/// from another address evicts an idle peer of the address that holds the most).
pub const DEFAULT_MAX_PEERS_PER_ADDRESS: usize = 8;

/// Default time a closing socket may spend sending what it still holds: bounded so that shutdown
/// finishes promptly even with a stalled peer, long enough for a last reply on loopback or LAN.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(100);

/// Default interval between the periodic info-level log lines of the counters.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(10);

/// Most encoder threads by default: sk2 encoding of a Kinect v2 frame takes about a millisecond,
/// so a few threads keep up with many sensors and leave the other cores to the application.
pub const DEFAULT_MAX_WORKERS: usize = 4;

/// How a [`Server`](crate::Server) is set up. Start from [`Config::default`] and change what
/// differs with the `with_*` methods (the fields are public too).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Human-readable name: the mDNS instance name and the `name` in `me`.
    /// Default: `Kinect on <host name>` ([`default_name`]). Two servers announced under one name
    /// on one network are told apart by mDNS itself: the second to announce is renamed
    /// `<name> (2)` on the network (mdns-sd's conflict resolution), while its `me` keeps the
    /// configured name.
    pub name: String,
    /// Address every socket binds to: an IPv4 address, or `0.0.0.0` / `*` for all interfaces.
    pub bind_host: String,
    /// TCP port of the control (REP) socket; `0` picks a free port.
    pub control_port: u16,
    /// TCP port of the first depth endpoint, the next ones counting up from it; `0` picks free
    /// ports.
    pub depth_port: u16,
    /// Host name put into advertised endpoints. `None`: `<hostname>.local` when announcing,
    /// otherwise `localhost` for a loopback bind address, the host name for `0.0.0.0`, and the
    /// bind address itself for any other.
    pub advertise_host: Option<String>,
    /// Announce the server over mDNS.
    pub announce: bool,
    /// Announce only on this network interface (e.g. `eth0`); `None`: on all.
    pub interface: Option<String>,
    /// Encoder threads. A sensor may have `workers + 1` frames in flight; more are dropped.
    pub workers: usize,
    /// Codec of the lossless `depth_v2` endpoint offered next to `depth` for every sensor, and
    /// advertised under the device key `codec` in `me`; `None`: only `depth`, as the original.
    pub codec: Option<Codec>,
    /// `SNDHWM` of the depth PUB sockets; see [`DEFAULT_DEPTH_SNDHWM`].
    pub depth_sndhwm: i32,
    /// `LINGER` of every socket; see [`DEFAULT_LINGER`].
    pub linger: Duration,
    /// Interval between info-level log lines of the counters.
    pub stats_interval: Duration,
    /// Most subscribers on each depth endpoint; see [`DEFAULT_MAX_SUBSCRIBERS`]. Subscribers past
    /// it are refused (counted in
    /// [`SensorStats::refused_subscribers`](crate::SensorStats::refused_subscribers)) until one
    /// leaves.
    pub max_subscribers: usize,
    /// Most peers on the control endpoint; see [`DEFAULT_MAX_CONTROL_PEERS`]. Peers past it are
    /// refused (counted by
    /// [`Server::refused_control_peers`](crate::Server::refused_control_peers)).
    pub max_control_peers: usize,
    /// Most connections from one source address on each endpoint; see
    /// [`DEFAULT_MAX_PEERS_PER_ADDRESS`]. A connection past it evicts that address's longest-idle
    /// peer, or is closed at once if none has been idle for a second (counted with the refusals).
    pub max_peers_per_address: usize,
    /// Codec of the `ir_v2` endpoint offered for every sensor that delivers infrared, and
    /// advertised under the device key `ir_codec`; `None`: no `ir_v2` endpoint. Default:
    /// [`sk2_proto::ir_v2::DEFAULT_CODEC`].
    pub ir_codec: Option<Codec>,
    /// Offer the `color` endpoint for every sensor that delivers colour. Default: `true`.
    pub color: bool,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            name: default_name(),
            bind_host: "0.0.0.0".into(),
            control_port: 0,
            depth_port: 0,
            advertise_host: None,
            announce: true,
            interface: None,
            workers: cores.clamp(1, DEFAULT_MAX_WORKERS),
            codec: Some(Codec::default()),
            depth_sndhwm: DEFAULT_DEPTH_SNDHWM,
            linger: DEFAULT_LINGER,
            stats_interval: DEFAULT_STATS_INTERVAL,
            max_subscribers: DEFAULT_MAX_SUBSCRIBERS,
            max_control_peers: DEFAULT_MAX_CONTROL_PEERS,
            max_peers_per_address: DEFAULT_MAX_PEERS_PER_ADDRESS,
            ir_codec: Some(sk2_proto::ir_v2::DEFAULT_CODEC),
            color: true,
        }
    }
}

/// Longest DNS label, in bytes: an mDNS instance name must fit in one.
const MAX_INSTANCE_NAME_BYTES: usize = 63;

/// The default server name: `Kinect on <host name>` (the host name's first label, e.g.
/// `Kinect on lab-pc-3`), which a person recognises in a list, where the original used
/// `Kinect <uuid4>`. `Kinect <32 hex digits>` if the host name cannot be read.
pub fn default_name() -> String {
    match hostname::get() {
        Ok(host) if !host.is_empty() => name_for_host(&host.to_string_lossy()),
        _ => format!("Kinect {}", sk2_proto::id::random_hex_id()),
    }
}

/// `Kinect on <first label of host>`, cut to the 63 bytes of a DNS label.
fn name_for_host(host: &str) -> String {
    let short = host.split('.').next().unwrap_or(host);
    let mut name = format!("Kinect on {short}");
    while name.len() > MAX_INSTANCE_NAME_BYTES {
        name.pop();
    }
    name
}

impl Config {
    /// Sets [`Config::name`].
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`Config::bind_host`].
    pub fn with_bind_host(mut self, bind_host: impl Into<String>) -> Self {
        self.bind_host = bind_host.into();
        self
    }

    /// Sets [`Config::control_port`].
    pub fn with_control_port(mut self, control_port: u16) -> Self {
        self.control_port = control_port;
        self
    }

    /// Sets [`Config::depth_port`].
    pub fn with_depth_port(mut self, depth_port: u16) -> Self {
        self.depth_port = depth_port;
        self
    }

    /// Sets [`Config::advertise_host`].
    pub fn with_advertise_host(mut self, advertise_host: Option<String>) -> Self {
        self.advertise_host = advertise_host;
        self
    }

    /// Sets [`Config::announce`].
    pub fn with_announce(mut self, announce: bool) -> Self {
        self.announce = announce;
        self
    }

    /// Sets [`Config::interface`].
    pub fn with_interface(mut self, interface: Option<String>) -> Self {
        self.interface = interface;
        self
    }

    /// Sets [`Config::workers`].
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets [`Config::codec`].
    pub fn with_codec(mut self, codec: Option<Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// Sets [`Config::depth_sndhwm`].
    pub fn with_depth_sndhwm(mut self, depth_sndhwm: i32) -> Self {
        self.depth_sndhwm = depth_sndhwm;
        self
    }

    /// Sets [`Config::linger`].
    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Sets [`Config::stats_interval`].
    pub fn with_stats_interval(mut self, stats_interval: Duration) -> Self {
        self.stats_interval = stats_interval;
        self
    }

    /// Sets [`Config::max_subscribers`].
    pub fn with_max_subscribers(mut self, max_subscribers: usize) -> Self {
        self.max_subscribers = max_subscribers;
        self
    }

    /// Sets [`Config::max_control_peers`].
    pub fn with_max_control_peers(mut self, max_control_peers: usize) -> Self {
        self.max_control_peers = max_control_peers;
        self
    }

    /// Sets [`Config::max_peers_per_address`].
    pub fn with_max_peers_per_address(mut self, max_peers_per_address: usize) -> Self {
        self.max_peers_per_address = max_peers_per_address;
        self
    }

    /// Sets [`Config::ir_codec`].
    pub fn with_ir_codec(mut self, ir_codec: Option<Codec>) -> Self {
        self.ir_codec = ir_codec;
        self
    }

    /// Sets [`Config::color`].
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_is_the_host_names_first_label() {
        assert_eq!(name_for_host("lab-pc-3"), "Kinect on lab-pc-3");
        assert_eq!(name_for_host("lab-pc-3.example.org"), "Kinect on lab-pc-3");
        assert_eq!(name_for_host("lab-pc-3.local"), "Kinect on lab-pc-3");
    }

    #[test]
    fn a_long_host_name_is_cut_to_one_dns_label_on_a_character_boundary() {
        let name = name_for_host(&"\u{e9}".repeat(40));
        assert!(name.len() <= MAX_INSTANCE_NAME_BYTES, "{name}");
        assert!(name.starts_with("Kinect on \u{e9}\u{e9}"), "{name}");
    }

    #[test]
    fn the_default_config_is_named_after_this_host() {
        let host = hostname::get().unwrap().to_string_lossy().into_owned();
        let first = host.split('.').next().unwrap();
        assert!(Config::default()
            .name
            .starts_with(&format!("Kinect on {first}")));
    }
}
