//! Socket set-up: the options and peer limits of the control and depth sockets, binding, and
//! the host name put into advertised endpoints.

use std::time::Duration;

use sk2_proto::control::MAX_CONTROL_MESSAGE_BYTES;

use crate::admission::{Caps, Gatekeeper, PeerCounters};
use crate::{security, Config, ServerError};

/// `MAXMSGSIZE` of depth PUB sockets. PUB sockets read subscription messages from the network:
/// a subscription is one byte plus a topic, and clients of this protocol subscribe to everything
/// (an empty topic). 256 bytes allows any sane topic and refuses a peer that sends megabytes.
pub const MAX_SUBSCRIPTION_BYTES: i64 = 256;

/// `MAXMSGSIZE` of depth PUB sockets of a secure server. libzmq applies the limit to the CurveZMQ
/// handshake commands too, and a client's INITIATE is about 300 bytes (a 96-byte cookie, its
/// public key, a vouch, its socket metadata), which 256 refused. 1 KiB admits any real client
/// and still refuses a peer that sends megabytes.
pub const MAX_SECURE_SUBSCRIPTION_BYTES: i64 = 1024;

/// `RCVHWM` of the control socket, in requests per peer. A well-behaved client has one request in
/// flight (REQ); a peer that pipelines more waits in TCP once 8 are queued, instead of libzmq's
/// default of 1000 x [`MAX_CONTROL_MESSAGE_BYTES`] (64 MiB) per peer.
pub const CONTROL_RCVHWM: i32 = 8;

/// `SNDHWM` of the control socket, in replies per peer. Past it, replies to a peer that does not
/// read them are dropped (a REP socket never blocks on one peer). 128 lets a client pipeline
/// 100 requests (the hostile-peer test does) and still get every reply.
pub const CONTROL_SNDHWM: i32 = 128;

/// The control REP socket, with its limits, guarded by `gatekeeper` and bound; and its port.
pub(crate) fn control_socket(
    context: &zmq::Context,
    gatekeeper: &mut Gatekeeper,
    config: &Config,
    counters: &PeerCounters,
) -> Result<(zmq::Socket, u16), ServerError> {
    let socket = context.socket(zmq::REP)?;
    socket.set_maxmsgsize(MAX_CONTROL_MESSAGE_BYTES as i64)?;
    socket.set_rcvhwm(CONTROL_RCVHWM)?;
    socket.set_sndhwm(CONTROL_SNDHWM)?;
    let place = Place {
        role: "control",
        limit: config.max_control_peers,
        port: config.control_port,
    };
    let port = guard_and_bind(context, gatekeeper, config, counters, &socket, place)?;
    Ok((socket, port))
}

/// A depth XPUB socket for `role` (`depth` or `depth_v2`), guarded by `gatekeeper` and bound
/// to `port` (0: any free port); and the port bound. XPUB rather than PUB: it reports
/// subscriptions, so frames nobody watches are not encoded.
pub(crate) fn depth_socket(
    context: &zmq::Context,
    gatekeeper: &mut Gatekeeper,
    config: &Config,
    port: u16,
    role: &'static str,
    counters: &PeerCounters,
) -> Result<(zmq::Socket, u16), ServerError> {
    let socket = context.socket(zmq::XPUB)?;
    socket.set_sndhwm(config.depth_sndhwm)?;
    // An XPUB reads subscription messages from the network.
    socket.set_maxmsgsize(if config.curve.is_some() {
        MAX_SECURE_SUBSCRIPTION_BYTES
    } else {
        MAX_SUBSCRIPTION_BYTES
    })?;
    let place = Place {
        role,
        limit: config.max_subscribers,
        port,
    };
    let port = guard_and_bind(context, gatekeeper, config, counters, &socket, place)?;
    Ok((socket, port))
}

/// Where a guarded socket serves: its role (in the gatekeeper's counters and in errors), how many
/// peers it admits in all, and its port (0: any free port).
struct Place {
    role: &'static str,
    limit: usize,
    port: u16,
}

/// What the control and depth sockets share once their own options are set: the linger,
/// CurveZMQ when the server is secure, the gatekeeper's guard, then binding to `place`. Returns
/// the port bound.
fn guard_and_bind(
    context: &zmq::Context,
    gatekeeper: &mut Gatekeeper,
    config: &Config,
    counters: &PeerCounters,
    socket: &zmq::Socket,
    place: Place,
) -> Result<u16, ServerError> {
    socket.set_linger(linger_ms(config.linger))?;
    if let Some(curve) = &config.curve {
        security::secure(socket, curve)?;
    }
    // Before binding, so that every connection is counted.
    gatekeeper.guard(
        context,
        socket,
        place.role,
        Caps {
            limit: place.limit,
            per_address: config.max_peers_per_address,
        },
        counters.clone(),
        config.curve.as_ref(),
    )?;
    bind(socket, &config.bind_host, place.port, place.role)
}

pub(crate) fn linger_ms(linger: Duration) -> i32 {
    i32::try_from(linger.as_millis()).unwrap_or(i32::MAX)
}

/// Binds `socket` to `tcp://host:port` (`port` 0: any free port) and returns the port bound.
pub(crate) fn bind(
    socket: &zmq::Socket,
    host: &str,
    port: u16,
    role: &'static str,
) -> Result<u16, ServerError> {
    let host = if host == "0.0.0.0" { "*" } else { host };
    let endpoint = if port == 0 {
        format!("tcp://{host}:*")
    } else {
        format!("tcp://{host}:{port}")
    };
    socket.bind(&endpoint).map_err(|source| ServerError::Bind {
        role,
        endpoint: endpoint.clone(),
        source,
    })?;
    let bound = socket
        .get_last_endpoint()?
        .ok()
        .and_then(|last| last.rsplit(':').next().and_then(|p| p.parse().ok()));
    bound.ok_or(ServerError::Bind {
        role,
        endpoint,
        source: zmq::Error::EINVAL,
    })
}

/// The host name clients should use in advertised endpoints (see [`Config::advertise_host`]).
pub(crate) fn advertised_host(config: &Config) -> String {
    if let Some(host) = &config.advertise_host {
        return host.clone();
    }
    let machine = hostname_of_machine().unwrap_or_else(|_| "localhost".into());
    if config.announce {
        return format!("{machine}.local");
    }
    match config.bind_host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => "localhost".into(),
        Ok(ip) if ip.is_unspecified() => machine,
        _ if config.bind_host == "*" => machine,
        _ => config.bind_host.clone(),
    }
}

pub(crate) fn hostname_of_machine() -> Result<String, ServerError> {
    hostname::get()
        .map_err(ServerError::Hostname)
        .map(|name| name.to_string_lossy().into_owned())
}
