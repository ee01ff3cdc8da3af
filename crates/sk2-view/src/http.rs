//! [`ViewServer`]: the local web server that browser tabs talk to.
//!
//! Why plain HTTP long-polling (tiny_http, threads) rather than WebSocket or server-sent events:
//! the tab asks for the next frame only after it has drawn the previous one
//! (`GET /api/frame?after=N`), and the answer is always the hub's newest frame. So flow control
//! is the request itself: a slow tab simply asks less often and gets the newest frame, never a
//! backlog, and nothing is queued per tab. A tab holds at most one request (one thread here) at a
//! time, and that request ends within [`ViewConfig::long_poll_timeout`] even if nothing arrives;
//! when a tab closes, its request finishes or fails and its thread ends, so closing frees
//! everything. WebSocket would need a sender thread plus an acknowledgement protocol per tab to
//! get the same property; SSE pushes without acknowledgement and so buffers in the socket. On
//! loopback an HTTP request per frame costs well under a millisecond.
//!
//! Routes:
//!
//! | route                                      | answer                                        |
//! |--------------------------------------------|-----------------------------------------------|
//! | `GET /`, `/app.js`, `/style.css`           | the page, embedded in the binary              |
//! | `GET /api/state`                           | JSON [`crate::hub::Snapshot`] + server stats  |
//! | `GET /api/frame?server=S&sensor=I&after=N` | 200: newest frame numbered above N, as raw LE `u16` with `X-*` headers; 204: none within the timeout; 404 + JSON `{"error"}`: unknown sensor |

use std::io::Cursor;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::hub::{Hub, PublishedFrame, SourceKey, WaitError};

const INDEX_HTML: &str = include_str!("static/index.html");
const APP_JS: &str = include_str!("static/app.js");
const STYLE_CSS: &str = include_str!("static/style.css");

/// How the web server behaves.
#[derive(Debug, Clone)]
pub struct ViewConfig {
    /// How long a frame request waits for a new frame before answering 204 (the tab asks again).
    /// 1 s: long enough that an idle stream costs one request per second per tab, short enough
    /// that a closed tab's thread ends soon and shutdown is quick.
    pub long_poll_timeout: Duration,
    /// Requests handled at once; more are answered 503 at once. Each open tab holds one, so 64
    /// allows many tabs while bounding threads and the frames they hold (64 x 0.4 MiB for
    /// Kinect v2 frames).
    pub max_in_flight: usize,
}

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            long_poll_timeout: Duration::from_secs(1),
            max_in_flight: 64,
        }
    }
}

/// How often the accept loop checks whether it should stop.
const ACCEPT_POLL: Duration = Duration::from_millis(100);

/// Why the web server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// The listening socket could not be used.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address asked for, as text.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Counters of the web server, for tests and the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ViewStats {
    /// Requests being handled now (each open tab holds about one).
    pub in_flight: usize,
    /// Frames sent to tabs so far.
    pub frames_served: u64,
    /// Requests refused because [`ViewConfig::max_in_flight`] were being handled.
    pub rejected: u64,
}

#[derive(Default)]
struct Counters {
    in_flight: AtomicUsize,
    frames_served: AtomicU64,
    rejected: AtomicU64,
}

/// The running web server. Stops when dropped.
#[derive(Debug)]
pub struct ViewServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    hub: Hub,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

impl ViewServer {
    /// Serves the page and the frames of `hub` on `listener` (bind it to port 0 in tests).
    pub fn start(listener: TcpListener, hub: Hub, config: ViewConfig) -> Result<Self, ViewError> {
        let addr = listener.local_addr().map_err(|source| ViewError::Listen {
            addr: "the given listener".to_owned(),
            source,
        })?;
        // Frames are written as headers plus a large body through a small buffer; with Nagle's
        // algorithm the last partial segment waits for the tab's delayed ACK (tens of ms on
        // Linux). tiny_http does not expose accepted sockets, but on Linux they inherit
        // TCP_NODELAY from the listener. Failing to set it only costs latency.
        if let Err(error) = socket2::SockRef::from(&listener).set_tcp_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on the listener");
        }
        let server = tiny_http::Server::from_listener(listener, None).map_err(|error| {
            ViewError::Listen {
                addr: addr.to_string(),
                source: std::io::Error::other(error.to_string()),
            }
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let accept = {
            let (stop, counters, hub) = (Arc::clone(&stop), Arc::clone(&counters), hub.clone());
            std::thread::Builder::new()
                .name("view-accept".to_owned())
                .spawn(move || accept_loop(&server, &hub, &config, &stop, &counters))
                .map_err(|source| ViewError::Listen {
                    addr: addr.to_string(),
                    source,
                })?
        };
        tracing::debug!(%addr, "web server started");
        Ok(Self {
            addr,
            stop,
            accept: Some(accept),
            counters,
            hub,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, e.g. `http://127.0.0.1:8080/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The counters now.
    pub fn stats(&self) -> ViewStats {
        read_stats(&self.counters)
    }

    /// Stops accepting requests and wakes waiting ones; returns once the accept loop ended.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.hub.wake_all();
        if let Some(accept) = self.accept.take() {
            // The loop checks the flag every ACCEPT_POLL; it does not panic (handlers do not run
            // on it), so a join error is only possible if tiny_http panicked: nothing to add then.
            let _ = accept.join();
        }
    }
}

impl Drop for ViewServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn read_stats(counters: &Counters) -> ViewStats {
    ViewStats {
        in_flight: counters.in_flight.load(Ordering::SeqCst),
        frames_served: counters.frames_served.load(Ordering::SeqCst),
        rejected: counters.rejected.load(Ordering::SeqCst),
    }
}

fn accept_loop(
    server: &tiny_http::Server,
    hub: &Hub,
    config: &ViewConfig,
    stop: &Arc<AtomicBool>,
    counters: &Arc<Counters>,
) {
    while !stop.load(Ordering::SeqCst) {
        let request = match server.recv_timeout(ACCEPT_POLL) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%error, "web server cannot accept");
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        // Count before spawning, so the bound holds even if requests arrive faster than threads
        // start.
        if counters.in_flight.fetch_add(1, Ordering::SeqCst) >= config.max_in_flight {
            counters.in_flight.fetch_sub(1, Ordering::SeqCst);
            counters.rejected.fetch_add(1, Ordering::SeqCst);
            respond(
                request,
                json_error(503, "too many requests at once; try again"),
            );
            continue;
        }
        let (task_hub, task_config, task_stop, task_counters) = (
            hub.clone(),
            config.clone(),
            Arc::clone(stop),
            Arc::clone(counters),
        );
        let spawned = std::thread::Builder::new()
            .name("view-request".to_owned())
            .spawn(move || {
                let _guard = InFlight(&task_counters);
                handle(request, &task_hub, &task_config, &task_stop, &task_counters);
            });
        if let Err(error) = spawned {
            // The request went down with the closure; its guard never ran.
            counters.in_flight.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(%error, "cannot start a request thread");
        }
    }
}

/// Decrements the in-flight count however the handler ends.
struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

type Reply = Response<Cursor<FrameBytes>>;

/// A response body that is either a shared frame (no copy per tab) or owned bytes.
enum FrameBytes {
    Frame(Arc<PublishedFrame>),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for FrameBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Frame(frame) => &frame.depth_le,
            Self::Owned(bytes) => bytes,
        }
    }
}

fn handle(
    request: Request,
    hub: &Hub,
    config: &ViewConfig,
    stop: &AtomicBool,
    counters: &Counters,
) {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    if !host_allowed(&request) {
        let reply = json_error(
            403,
            "kinect-view answers only to IP addresses, localhost and .local names \
             (a guard against DNS rebinding)",
        );
        respond(request, reply);
        return;
    }
    let reply = match (request.method(), path) {
        (Method::Get | Method::Head, "/" | "/index.html") => {
            static_file(INDEX_HTML, "text/html; charset=utf-8")
        }
        (Method::Get | Method::Head, "/app.js") => {
            static_file(APP_JS, "text/javascript; charset=utf-8")
        }
        (Method::Get | Method::Head, "/style.css") => {
            static_file(STYLE_CSS, "text/css; charset=utf-8")
        }
        (Method::Get | Method::Head, "/api/state") => {
            #[derive(Serialize)]
            struct State {
                #[serde(flatten)]
                snapshot: crate::hub::Snapshot,
                web: ViewStats,
            }
            let state = State {
                snapshot: hub.snapshot(),
                web: read_stats(counters),
            };
            // Cannot fail: plain strings and numbers serialise.
            let body = serde_json::to_vec(&state).unwrap_or_default();
            bytes_reply(200, body, "application/json")
        }
        (Method::Get | Method::Head, "/api/frame") => {
            frame_reply(query, hub, config, stop, counters)
        }
        (Method::Get | Method::Head, _) => json_error(404, &format!("no page at {path}")),
        _ => json_error(405, "only GET is served"),
    };
    respond(request, reply);
}

fn frame_reply(
    query: &str,
    hub: &Hub,
    config: &ViewConfig,
    stop: &AtomicBool,
    counters: &Counters,
) -> Reply {
    let mut server = None;
    let mut sensor = None;
    let mut after = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "server" => server = Some(value.into_owned()),
            "sensor" => sensor = Some(value.into_owned()),
            "after" => match value.parse::<u64>() {
                Ok(number) => after = Some(number),
                Err(_) => return json_error(400, "`after` must be a frame number"),
            },
            _ => {}
        }
    }
    let (Some(server), Some(sensor)) = (server, sensor) else {
        return json_error(400, "`server` and `sensor` are required");
    };
    let key = SourceKey::new(server, sensor);
    if stop.load(Ordering::SeqCst) {
        return json_error(503, "the viewer is stopping");
    }
    match hub.wait_frame(&key, after, config.long_poll_timeout) {
        Ok(frame) => {
            counters.frames_served.fetch_add(1, Ordering::SeqCst);
            let mut headers = vec![
                header("Content-Type", "application/octet-stream"),
                header("Cache-Control", "no-store"),
                header("X-Frame-Number", &frame.number.to_string()),
                header("X-Width", &frame.width_px.to_string()),
                header("X-Height", &frame.height_px.to_string()),
            ];
            if let Some(sequence) = frame.sensor_sequence {
                headers.push(header("X-Sensor-Sequence", &sequence.to_string()));
            }
            if let Some(captured) = frame.capture_time_ns {
                // Milliseconds with a fraction: JavaScript numbers cannot hold ns since 1970.
                let ms = format!("{:.3}", captured as f64 / 1e6);
                headers.push(header("X-Capture-Time-Ms", &ms));
            }
            let len = frame.depth_le.len();
            // With its length known, send Content-Length rather than tiny_http's chunked
            // encoding above 32 KiB: the tab can size its buffer once.
            Response::new(
                StatusCode(200),
                headers,
                Cursor::new(FrameBytes::Frame(frame)),
                Some(len),
                None,
            )
            .with_chunked_threshold(usize::MAX)
        }
        Err(WaitError::Timeout) => {
            let mut reply = bytes_reply(204, Vec::new(), "text/plain");
            reply.add_header(header("Cache-Control", "no-store"));
            reply
        }
        Err(error) => json_error(404, &error.to_string()),
    }
}

/// Whether the `Host` header names this machine by an IP address, `localhost` or an mDNS `.local`
/// name. A web page elsewhere could otherwise point its own domain at 127.0.0.1 (DNS rebinding)
/// and read the depth stream through the visitor's browser; such requests carry that domain.
fn host_allowed(request: &Request) -> bool {
    let Some(host) = request
        .headers()
        .iter()
        .find(|header| header.field.equiv("Host"))
    else {
        return true; // HTTP/1.0 without Host: not a browser page's request
    };
    let host = host.value.as_str();
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    let lower = name.to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok() || lower == "localhost" || lower.ends_with(".local")
}

fn respond(request: Request, reply: Reply) {
    // A tab that closed mid-answer makes the write fail: nothing to do but let it go.
    if let Err(error) = request.respond(reply) {
        tracing::debug!(%error, "a tab went away before its answer was sent");
    }
}

fn header(name: &str, value: &str) -> Header {
    // Cannot fail: names are ASCII literals and values are ASCII digits or MIME types.
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

fn static_file(body: &'static str, content_type: &str) -> Reply {
    bytes_reply(200, body.as_bytes().to_vec(), content_type)
}

fn bytes_reply(status: u16, body: Vec<u8>, content_type: &str) -> Reply {
    let len = body.len();
    Response::new(
        StatusCode(status),
        vec![header("Content-Type", content_type)],
        Cursor::new(FrameBytes::Owned(body)),
        Some(len),
        None,
    )
}

fn json_error(status: u16, message: &str) -> Reply {
    let body = serde_json::json!({ "error": message })
        .to_string()
        .into_bytes();
    bytes_reply(status, body, "application/json")
}
