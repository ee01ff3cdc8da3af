//! [`Bridge`]: one thread that follows a server through a [`Client`] and keeps its Zenoh
//! declarations (token, `me` queryable, one publisher per sensor) in step with it. This is its
//! handle (start, counters, stop); the thread itself is in `following`.
//!
//! Every queue on the way is bounded and drops rather than waits: the server's PUB socket drops
//! for a slow bridge (its high-water mark), the bridge's subscriptions keep a few messages
//! (dropping the oldest, counted), and Zenoh's publishers use congestion control *drop*, so a
//! stalled Zenoh link costs the bridge no memory and no time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_client::{Client, Endpoint};

use crate::config::BridgeConfig;
use crate::error::BridgeError;
use crate::following::{lock, Counters, Running};

/// How long `stop` waits for the thread.
const JOIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Counters of a bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Messages published on Zenoh.
    pub published: u64,
    /// Bytes of those messages (Zenoh's own framing not counted).
    pub published_bytes: u64,
    /// Messages Zenoh refused to take (the session is closing).
    pub publish_errors: u64,
    /// Frames the server produced that never reached the bridge (gaps in `depth_v2` sequence
    /// numbers).
    pub upstream_lost: u64,
    /// Malformed messages from the server, skipped.
    pub upstream_errors: u64,
    /// Messages dropped in the bridge because its thread did not take them in time.
    pub dropped: u64,
    /// Times the server answered after not answering (1 after the first connection).
    pub connects: u64,
    /// Sensors being read now (those Zenoh has subscribers for).
    pub reading: u64,
}

/// A running bridge. Dropping it (or [`Bridge::stop`]) withdraws its declarations and closes its
/// Zenoh session and its client.
#[derive(Debug)]
pub struct Bridge {
    counters: Arc<Counters>,
    server_id: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Opens the Zenoh session, connects to the server and starts following it. Returns once the
    /// session is open (the server may not have answered yet: the bridge keeps trying).
    pub fn start(config: BridgeConfig) -> Result<Self, BridgeError> {
        if config.server_id.as_deref() == Some("") {
            return Err(BridgeError::ServerId(String::new()));
        }
        let upstream: Endpoint = config
            .upstream
            .parse()
            .map_err(sk2_client::ClientError::from)?;
        let session = config.zenoh.open()?;
        let client = Client::connect_to(&config.upstream, config.client.clone())?;
        let counters = Arc::new(Counters::default());
        let server_id = Arc::new(Mutex::new(config.server_id.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut running = Running::new(
            session,
            client,
            upstream,
            config,
            Arc::clone(&server_id),
            Arc::clone(&counters),
        );
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sk2-bridge".to_owned())
            .spawn(move || running.run(&thread_stop))
            .map_err(|error| BridgeError::Thread(error.to_string()))?;
        Ok(Self {
            counters,
            server_id,
            stop,
            thread: Some(thread),
        })
    }

    /// The server's id in Zenoh keys, once known (given, or learnt from the first `me`).
    pub fn server_id(&self) -> Option<String> {
        lock(&self.server_id).clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> BridgeStats {
        let counters = &self.counters;
        let (retired, live) = (*lock(&counters.retired), *lock(&counters.live));
        BridgeStats {
            published: counters.published.load(Ordering::Relaxed),
            published_bytes: counters.published_bytes.load(Ordering::Relaxed),
            publish_errors: counters.publish_errors.load(Ordering::Relaxed),
            upstream_lost: retired.lost + live.lost,
            upstream_errors: retired.errors + live.errors,
            dropped: retired.dropped + live.dropped,
            connects: counters.connects.load(Ordering::Relaxed),
            reading: counters.reading.load(Ordering::Relaxed),
        }
    }

    /// Withdraws the token and the queryable, closes the session and the client.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + JOIN_TIMEOUT;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::warn!("the bridge thread did not stop in time; left behind");
            }
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.shut_down();
    }
}
