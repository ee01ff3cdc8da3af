//! [`ViewServer`]: the local web server that browser tabs talk to, and its transport.
//!
//! This module is the transport: it accepts connections, parses requests and writes replies;
//! the routes are served by the [`App`](crate::routes::App) it hands each request to.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{ViewConfig, ViewError, ViewStats};
use crate::hub::Hub;
use crate::message::{json_error, Reply, Request};
use crate::routes::App;

/// Largest request head (request line + headers) accepted. Browsers send well under 2 KiB for
/// these routes; anything larger is refused before it is buffered.
const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;
/// Most headers parsed in one request (browsers send about 15).
const MAX_HEADERS: usize = 64;

/// The running web server. Stops when dropped.
///
/// Why plain HTTP long-polling rather than WebSocket or server-sent events: the tab asks for the
/// next frame only after it has drawn the previous one (`GET /api/frame?after=N`), and the answer
/// is always the hub's newest frame. So flow control is the request itself: a slow tab simply
/// asks less often and gets the newest frame, never a backlog, and nothing is queued per tab.
/// WebSocket would need a sender thread plus an acknowledgement protocol per tab to get the same
/// property; SSE pushes without acknowledgement and so buffers in the socket. On loopback an HTTP
/// request per frame costs well under a millisecond.
///
/// Why a small server of its own (one thread per connection, requests parsed by `httparse`)
/// rather than `tiny_http`: tiny_http 0.12 runs each keep-alive connection on a pool thread for
/// the connection's whole life, and its pool can queue a new connection without starting a thread
/// for it when several arrive at once, so a browser's extra connection could wait for ever. Here
/// every connection has its own thread from the start, at most
/// [`ViewConfig::max_connections`] of them (more are answered 503 and closed), and an idle
/// connection is closed after [`ViewConfig::idle_timeout`]. A tab holds one or two connections;
/// when it closes, its connections end and their threads with them.
#[derive(Debug)]
pub struct ViewServer {
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    app: Arc<App>,
}

impl ViewServer {
    /// Serves the page and the frames of `hub` on `listener` (bind it to port 0 in tests).
    pub fn start(listener: TcpListener, hub: Hub, config: ViewConfig) -> Result<Self, ViewError> {
        let addr = listener.local_addr().map_err(|source| ViewError::Listen {
            addr: "the given listener".to_owned(),
            source,
        })?;
        let app = Arc::new(App::new(hub, config));
        let accept = {
            let app = Arc::clone(&app);
            std::thread::Builder::new()
                .name("view-accept".to_owned())
                .spawn(move || accept_loop(&listener, &app))
                .map_err(|source| ViewError::Listen {
                    addr: addr.to_string(),
                    source,
                })?
        };
        tracing::debug!(%addr, "web server started");
        Ok(Self {
            addr,
            accept: Some(accept),
            app,
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
        self.app.stats()
    }

    /// Stops accepting connections and wakes waiting requests; returns once the accept loop
    /// ended. Open connections end after their current request.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.app.stop();
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

fn accept_loop(listener: &TcpListener, app: &Arc<App>) {
    let counters = &app.counters;
    // Frames are written as a head plus a large body; with Nagle's algorithm the last partial
    // segment would wait for the tab's delayed ACK (tens of ms on Linux).
    for stream in listener.incoming() {
        if app.is_stopping() {
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
        if counters.connections.fetch_add(1, Ordering::SeqCst) >= app.config.max_connections {
            counters.connections.fetch_sub(1, Ordering::SeqCst);
            counters.rejected.fetch_add(1, Ordering::SeqCst);
            refuse(stream);
            continue;
        }
        let task_app = Arc::clone(app);
        let spawned = std::thread::Builder::new()
            .name("view-connection".to_owned())
            .spawn(move || {
                let _guard = Guard(&task_app.counters.connections);
                serve_connection(stream, &task_app);
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

/// Answers requests on one connection until the client closes it, asks to close, goes idle, or
/// sends something that is not HTTP/1.x.
fn serve_connection(stream: TcpStream, app: &App) {
    let counters = &app.counters;
    if let Err(error) = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(app.config.idle_timeout)))
    {
        tracing::debug!(%error, "cannot set up a connection");
        return;
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !app.is_stopping() {
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
        let reply = app.route(&request);
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

/// The reason phrase of a status code.
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
