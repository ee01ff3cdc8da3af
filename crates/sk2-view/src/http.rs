//! [`ViewServer`]: the local web server that browser tabs talk to.
//!
//! Why plain HTTP long-polling rather than WebSocket or server-sent events: the tab asks for the
//! next frame only after it has drawn the previous one (`GET /api/frame?after=N`), and the answer
//! is always the hub's newest frame. So flow control is the request itself: a slow tab simply
//! asks less often and gets the newest frame, never a backlog, and nothing is queued per tab.
//! WebSocket would need a sender thread plus an acknowledgement protocol per tab to get the same
//! property; SSE pushes without acknowledgement and so buffers in the socket. On loopback an HTTP
//! request per frame costs well under a millisecond.
//!
//! Why a small server of its own (one thread per connection, requests parsed by `httparse`)
//! rather than `tiny_http`: tiny_http 0.12 runs each keep-alive connection on a pool thread for
//! the connection's whole life, and its pool can queue a new connection without starting a thread
//! for it when several arrive at once, so a browser's extra connection could wait for ever. Here
//! every connection has its own thread from the start, at most
//! [`ViewConfig::max_connections`] of them (more are answered 503 and closed), and an idle
//! connection is closed after [`ViewConfig::idle_timeout`]. A tab holds one or two connections;
//! when it closes, its connections end and their threads with them.
//!
//! Routes (GET only):
//!
//! | route                                      | answer                                        |
//! |--------------------------------------------|-----------------------------------------------|
//! | `/`, `/app.js`, `/style.css`               | the page, embedded in the binary              |
//! | `/api/state`                               | JSON [`crate::hub::Snapshot`] + server stats  |
//! | `/api/frame?server=S&sensor=I&after=N`     | 200: newest frame numbered above N, as raw LE `u16` with `X-*` headers; 204: none within the timeout; 404 + JSON `{"error"}`: unknown sensor |

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::hub::{Hub, PublishedFrame, SourceKey, WaitError};

const INDEX_HTML: &str = include_str!("static/index.html");
const APP_JS: &str = include_str!("static/app.js");
const STYLE_CSS: &str = include_str!("static/style.css");

/// Largest request head (request line + headers) accepted. Browsers send well under 2 KiB for
/// these routes; anything larger is refused before it is buffered.
const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;
/// Most headers parsed in one request (browsers send about 15).
const MAX_HEADERS: usize = 64;

/// How the web server behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ViewConfig {
    /// How long a frame request waits for a new frame before answering 204 (the tab asks again).
    /// 1 s: long enough that an idle stream costs one request per second per tab, short enough
    /// that shutdown is quick.
    pub long_poll_timeout: Duration,
    /// Connections served at once, each on its own thread; more are answered 503 and closed.
    /// A tab uses one or two (Chromium opens at most six per host for all tabs together), so
    /// 64 allows many tabs and other clients while bounding threads and the frames they hold
    /// (64 x 0.4 MiB for Kinect v2 frames).
    pub max_connections: usize,
    /// A connection with no request for this long is closed, freeing its thread. Tabs ask at
    /// least once per [`ViewConfig::long_poll_timeout`]; 10 s covers a busy tab's pauses.
    pub idle_timeout: Duration,
}

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            long_poll_timeout: Duration::from_secs(1),
            max_connections: 64,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

impl ViewConfig {
    /// Sets the long-poll timeout.
    pub fn long_poll_timeout(mut self, timeout: Duration) -> Self {
        self.long_poll_timeout = timeout;
        self
    }

    /// Sets the connection limit (at least 1).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets the idle timeout.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

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
    /// Connections open now (each with its thread).
    pub connections: usize,
    /// Requests being answered now (each open tab has about one, waiting for its next frame).
    pub in_flight: usize,
    /// Frames sent to tabs so far.
    pub frames_served: u64,
    /// Connections refused because [`ViewConfig::max_connections`] were open.
    pub rejected: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    frames_served: AtomicU64,
    rejected: AtomicU64,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
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

impl ViewServer {
    /// Serves the page and the frames of `hub` on `listener` (bind it to port 0 in tests).
    pub fn start(listener: TcpListener, hub: Hub, config: ViewConfig) -> Result<Self, ViewError> {
        let addr = listener.local_addr().map_err(|source| ViewError::Listen {
            addr: "the given listener".to_owned(),
            source,
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let accept = {
            let (stop, counters, hub) = (Arc::clone(&stop), Arc::clone(&counters), hub.clone());
            std::thread::Builder::new()
                .name("view-accept".to_owned())
                .spawn(move || accept_loop(&listener, &hub, &config, &stop, &counters))
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

    /// Stops accepting connections and wakes waiting requests; returns once the accept loop
    /// ended. Open connections end after their current request.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.hub.wake_all();
        if let Some(accept) = self.accept.take() {
            // The accept loop blocks in accept(): a connection of our own wakes it. If that
            // fails the listener is already broken and the loop has ended or will on its error.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            // The loop does not panic (handlers run on their own threads): nothing to add.
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
        connections: counters.connections.load(Ordering::SeqCst),
        in_flight: counters.in_flight.load(Ordering::SeqCst),
        frames_served: counters.frames_served.load(Ordering::SeqCst),
        rejected: counters.rejected.load(Ordering::SeqCst),
    }
}

fn accept_loop(
    listener: &TcpListener,
    hub: &Hub,
    config: &ViewConfig,
    stop: &Arc<AtomicBool>,
    counters: &Arc<Counters>,
) {
    // Frames are written as a head plus a large body; with Nagle's algorithm the last partial
    // segment would wait for the tab's delayed ACK (tens of ms on Linux).
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "web server cannot accept");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // Count before spawning, so the bound holds even if connections arrive faster than
        // threads start.
        if counters.connections.fetch_add(1, Ordering::SeqCst) >= config.max_connections {
            counters.connections.fetch_sub(1, Ordering::SeqCst);
            counters.rejected.fetch_add(1, Ordering::SeqCst);
            refuse(stream);
            continue;
        }
        let (task_hub, task_config, task_stop, task_counters) = (
            hub.clone(),
            config.clone(),
            Arc::clone(stop),
            Arc::clone(counters),
        );
        let spawned = std::thread::Builder::new()
            .name("view-connection".to_owned())
            .spawn(move || {
                let _guard = Guard(&task_counters.connections);
                serve_connection(stream, &task_hub, &task_config, &task_stop, &task_counters);
            });
        if let Err(error) = spawned {
            // The stream went down with the closure; its guard never ran.
            counters.connections.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(%error, "cannot start a connection thread");
        }
    }
}

/// How long the accept thread reads a refused connection's request before answering 503.
/// Closing a socket with unread input resets it, and the client would see a reset instead of the
/// answer; a short bound keeps a flood of connections from holding the accept thread.
const REFUSE_READ: Duration = Duration::from_millis(50);

/// Answers 503 on a connection beyond the limit and closes it.
fn refuse(mut stream: TcpStream) {
    let mut scratch = [0u8; 4096];
    if stream.set_read_timeout(Some(REFUSE_READ)).is_ok() {
        let _ = stream.read(&mut scratch);
    }
    let reply = json_error(503, "too many connections at once; try again");
    let _ = write_reply(&mut stream, &reply, false, false);
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.read(&mut scratch);
}

/// Decrements a counter however the scope ends.
struct Guard<'a>(&'a AtomicUsize);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One parsed request: what the routes need.
struct Request {
    method: String,
    target: String,
    host: Option<String>,
    keep_alive: bool,
}

/// Answers requests on one connection until the client closes it, asks to close, goes idle, or
/// sends something that is not HTTP/1.x.
fn serve_connection(
    stream: TcpStream,
    hub: &Hub,
    config: &ViewConfig,
    stop: &AtomicBool,
    counters: &Counters,
) {
    if let Err(error) = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(config.idle_timeout)))
    {
        tracing::debug!(%error, "cannot set up a connection");
        return;
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::SeqCst) {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return, // closed, idle, or reset: nothing to answer
            Err(reply) => {
                let _ = write_reply(&mut writer, &reply, false, false);
                return;
            }
        };
        let _in_flight = {
            counters.in_flight.fetch_add(1, Ordering::SeqCst);
            Guard(&counters.in_flight)
        };
        let head_only = request.method == "HEAD";
        let reply = route(&request, hub, config, stop, counters);
        if let Err(error) = write_reply(&mut writer, &reply, request.keep_alive, head_only) {
            tracing::debug!(%error, "a tab went away before its answer was sent");
            return;
        }
        if !request.keep_alive {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Reads one request head. `Ok(None)`: the connection ended (or idled out) between requests.
/// `Err(reply)`: a malformed or oversized request, to be answered and the connection closed.
fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<Request>, Reply> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        // Reading line by line keeps us from consuming bytes of a pipelined next request.
        let room = (MAX_REQUEST_HEAD_BYTES + 1 - head.len()) as u64;
        match Read::take(&mut *reader, room).read_until(b'\n', &mut head) {
            Ok(0) => {
                return if head.is_empty() {
                    Ok(None)
                } else {
                    Err(json_error(400, "incomplete request"))
                }
            }
            Ok(_) => {}
            Err(_) if head.is_empty() => return Ok(None),
            Err(_) => return Err(json_error(408, "request not completed in time")),
        }
        if head.len() > MAX_REQUEST_HEAD_BYTES {
            return Err(json_error(431, "request head too large"));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                head.clear(); // a stray empty line between requests (RFC 9112 2.2)
                continue;
            }
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(json_error(400, "malformed request")),
    }
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(json_error(400, "malformed request"));
    };
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .and_then(|header| std::str::from_utf8(header.value).ok())
    };
    let connection = header("Connection").map(str::to_ascii_lowercase);
    let keep_alive = match (version, connection.as_deref()) {
        (_, Some(value)) if value.contains("close") => false,
        (0, Some(value)) => value.contains("keep-alive"),
        (0, None) => false,
        _ => true,
    };
    Ok(Some(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        host: header("Host").map(str::to_owned),
        keep_alive,
    }))
}

/// An answer: status, extra headers, body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

/// A response body: a shared frame (no copy per tab), static page text, or owned bytes.
enum Body {
    Frame(Arc<PublishedFrame>),
    Static(&'static str),
    Owned(Vec<u8>),
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Frame(frame) => &frame.depth_le,
            Self::Static(text) => text.as_bytes(),
            Self::Owned(bytes) => bytes,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn write_reply(
    stream: &mut TcpStream,
    reply: &Reply,
    keep_alive: bool,
    head_only: bool,
) -> std::io::Result<()> {
    let body = reply.body.bytes();
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    // 204 carries no body and, per RFC 9110 8.6, no Content-Length.
    if reply.status != 204 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    stream.write_all(head.as_bytes())?;
    if !head_only && reply.status != 204 {
        stream.write_all(body)?;
    }
    stream.flush()
}

fn route(
    request: &Request,
    hub: &Hub,
    config: &ViewConfig,
    stop: &AtomicBool,
    counters: &Counters,
) -> Reply {
    if !host_allowed(request.host.as_deref()) {
        return json_error(
            403,
            "kinect-view answers only to IP addresses, localhost and .local names \
             (a guard against DNS rebinding)",
        );
    }
    if request.method != "GET" && request.method != "HEAD" {
        return json_error(405, "only GET is served");
    }
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    match path {
        "/" | "/index.html" => static_file(INDEX_HTML, "text/html; charset=utf-8"),
        "/app.js" => static_file(APP_JS, "text/javascript; charset=utf-8"),
        "/style.css" => static_file(STYLE_CSS, "text/css; charset=utf-8"),
        "/api/state" => {
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
        "/api/frame" => frame_reply(query, hub, config, stop, counters),
        _ => json_error(404, &format!("no page at {path}")),
    }
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
                ("Content-Type", "application/octet-stream".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
                ("X-Frame-Number", frame.number.to_string()),
                ("X-Width", frame.width_px.to_string()),
                ("X-Height", frame.height_px.to_string()),
            ];
            if let Some(sequence) = frame.sensor_sequence {
                headers.push(("X-Sensor-Sequence", sequence.to_string()));
            }
            if let Some(captured) = frame.capture_time_ns {
                // Milliseconds with a fraction: JavaScript numbers cannot hold ns since 1970.
                headers.push(("X-Capture-Time-Ms", format!("{:.3}", captured as f64 / 1e6)));
            }
            Reply {
                status: 200,
                headers,
                body: Body::Frame(frame),
            }
        }
        Err(WaitError::Timeout) => Reply {
            status: 204,
            headers: vec![("Cache-Control", "no-store".to_owned())],
            body: Body::Owned(Vec::new()),
        },
        Err(error) => json_error(404, &error.to_string()),
    }
}

/// Whether the `Host` header names this machine by an IP address, `localhost` or an mDNS `.local`
/// name. A web page elsewhere could otherwise point its own domain at 127.0.0.1 (DNS rebinding)
/// and read the depth stream through the visitor's browser; such requests carry that domain.
fn host_allowed(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return true; // HTTP/1.0 without Host: not a browser page's request
    };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    let lower = name.to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok() || lower == "localhost" || lower.ends_with(".local")
}

fn static_file(body: &'static str, content_type: &str) -> Reply {
    Reply {
        status: 200,
        headers: vec![("Content-Type", content_type.to_owned())],
        body: Body::Static(body),
    }
}

fn bytes_reply(status: u16, body: Vec<u8>, content_type: &str) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type", content_type.to_owned())],
        body: Body::Owned(body),
    }
}

fn json_error(status: u16, message: &str) -> Reply {
    let body = serde_json::json!({ "error": message })
        .to_string()
        .into_bytes();
    bytes_reply(status, body, "application/json")
}
