//! One sensor's way from the server to Zenoh: its Zenoh publisher, and, while Zenoh has a
//! subscriber for it, the subscription that reads it from the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Select, TrySendError};
use sk2_client::{Endpoint, HostAddresses, RawSubscription, MAX_DEPTH_MESSAGE_BYTES};
use sk2_proto::id::short_id;

/// Original `depth` messages waiting for the bridge thread: a few frames, as the SUB socket's
/// high-water mark; the bridge only copies them on, so a full queue means it is starved of CPU,
/// and the newest message is dropped (counted) rather than memory growing.
const DEPTH_QUEUE_LEN: usize = 8;
/// Receive high-water mark of the `depth` reader's SUB socket, in messages.
const DEPTH_RCVHWM: i32 = 4;
/// How often the `depth` reader checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Where a sensor's messages come from while Zenoh watches it.
pub(crate) enum Source {
    /// `depth_v2`: every message, header checked, bytes unchanged.
    V2(RawSubscription),
    /// The original `depth` endpoint of a server that offers nothing else.
    Depth(DepthReader),
}

/// Counters a source keeps about its upstream side.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SourceStats {
    /// Frames the server produced that never reached the bridge (sequence gaps; `depth_v2` only).
    pub(crate) lost: u64,
    /// Messages skipped because they were malformed.
    pub(crate) errors: u64,
    /// Messages dropped because the bridge's thread did not take them in time.
    pub(crate) dropped: u64,
}

impl Source {
    /// Adds this source's queue to `select`.
    pub(crate) fn register<'a>(&'a self, select: &mut Select<'a>) {
        match self {
            Source::V2(subscription) => {
                select.recv(subscription.messages());
            }
            Source::Depth(reader) => {
                select.recv(&reader.messages);
            }
        }
    }

    /// Hands every waiting message to `put`, in order.
    pub(crate) fn drain(&self, mut put: impl FnMut(Vec<u8>)) {
        match self {
            Source::V2(subscription) => {
                for message in subscription.messages().try_iter() {
                    put(message.bytes);
                }
            }
            Source::Depth(reader) => {
                for message in reader.messages.try_iter() {
                    put(message);
                }
            }
        }
    }

    pub(crate) fn stats(&self) -> SourceStats {
        match self {
            Source::V2(subscription) => {
                let stats = subscription.stats();
                SourceStats {
                    lost: stats.lost,
                    errors: stats.decode_errors,
                    dropped: stats.dropped,
                }
            }
            Source::Depth(reader) => SourceStats {
                lost: 0,
                errors: 0,
                dropped: reader.dropped.load(Ordering::Relaxed),
            },
        }
    }
}

/// Reads an original `depth` endpoint on a thread of its own (its SUB socket's owner) and queues
/// the messages unchanged. The 2014 server has no peer limits to refuse it, so unlike
/// [`RawSubscription`] it needs no retry logic: libzmq reconnects by itself.
pub(crate) struct DepthReader {
    messages: Receiver<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DepthReader {
    /// Connects to `address` (a resolved `depth` endpoint) and starts reading.
    pub(crate) fn start(
        context: &zmq::Context,
        device_id: &str,
        address: SocketAddr,
    ) -> Result<Self, String> {
        let socket = context.socket(zmq::SUB).map_err(|e| e.to_string())?;
        let setup = || -> Result<(), zmq::Error> {
            socket.set_linger(0)?;
            socket.set_rcvhwm(DEPTH_RCVHWM)?;
            socket.set_maxmsgsize(MAX_DEPTH_MESSAGE_BYTES)?;
            socket.set_ipv6(address.is_ipv6())?;
            socket.set_subscribe(b"")?;
            socket.connect(&sk2_client::zmq_address(address))
        };
        setup().map_err(|error| format!("cannot connect to {address}: {error}"))?;
        let (tx, messages) = bounded(DEPTH_QUEUE_LEN);
        let dropped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_dropped, thread_stop) = (Arc::clone(&dropped), Arc::clone(&stop));
        let name = short_id(device_id).to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("sk2-bridge-depth {name}"))
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    match socket.poll(zmq::POLLIN, STOP_POLL.as_millis() as i64) {
                        Ok(0) | Err(zmq::Error::EINTR) => continue,
                        Ok(_) => {}
                        Err(error) => {
                            tracing::warn!(%error, device = %name, "depth socket failed");
                            return;
                        }
                    }
                    while let Ok(message) = socket.recv_multipart(zmq::DONTWAIT) {
                        // `depth` is one frame per message; anything else is not a depth message.
                        let Ok([bytes]) = <[Vec<u8>; 1]>::try_from(message) else {
                            continue;
                        };
                        if let Err(TrySendError::Full(_)) = tx.try_send(bytes) {
                            thread_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
            .map_err(|error| error.to_string())?;
        Ok(Self {
            messages,
            dropped,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for DepthReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The address of a depth endpoint advertised as `advertised`, by the client's rule: a host that
/// is the control endpoint's is reached where the control endpoint is (`upstream`, as the bridge
/// was told it); otherwise the host addresses the bridge was given, then the system resolver, then
/// (when `use_mdns`) mDNS for a `.local` name, which is how the 2014 server names its host.
pub(crate) fn resolve_depth(
    advertised: &str,
    upstream: &Endpoint,
    hosts: &HostAddresses,
    use_mdns: bool,
) -> Result<SocketAddr, String> {
    let mut endpoint: Endpoint = advertised
        .parse()
        .map_err(|error| format!("bad depth endpoint {advertised:?}: {error}"))?;
    if endpoint.same_host(upstream) {
        endpoint = Endpoint::new(upstream.host.clone(), endpoint.port);
    }
    match endpoint.resolve(hosts) {
        Ok(address) => Ok(address),
        Err(_) if use_mdns => sk2_client::resolve_local_host(&endpoint.host)
            .map(|ip| SocketAddr::new(ip, endpoint.port))
            .ok_or_else(|| format!("cannot resolve {advertised}")),
        Err(error) => Err(format!("cannot resolve {advertised}: {error}")),
    }
}
