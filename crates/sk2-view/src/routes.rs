//! The routes of the web server, served by [`App`]: the page, `/api/state`, `/api/frame` and
//! `/api/image`.
//! The transport ([`crate::http`]) parses requests and writes replies; it knows nothing of
//! the routes.
//!
//! Routes (GET only):
//!
//! | route                                      | answer                                        |
//! |--------------------------------------------|-----------------------------------------------|
//! | `/`, `/app.js`, `/style.css`               | the page, embedded in the binary              |
//! | `/api/state`                               | JSON [`crate::hub::Snapshot`] + server stats  |
//! | `/api/frame?server=S&sensor=I&after=N`     | 200: newest frame numbered above N, as raw LE `u16` with `X-*` headers; 204: none within the timeout; 404 + JSON `{"error"}`: unknown sensor |
//! | `/api/image?server=S&sensor=I&stream=T&after=N` | the same for the sensor's other images: `T` = `ir` (raw LE `u16` amplitudes) or `color` (`image/jpeg`, as the sensor sent it) |
//!
//! `S` is the server's key (`key` in `/api/state`: a network server's control endpoint, since
//! names may repeat) and `I` the full sensor id.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use crate::config::{ViewConfig, ViewStats};
use crate::hub::{Hub, ImageStream, SourceKey, WaitError};
use crate::message::{bytes_reply, json_error, static_file, Body, Reply, Request};

const INDEX_HTML: &str = include_str!("static/index.html");
const APP_JS: &str = include_str!("static/app.js");
const STYLE_CSS: &str = include_str!("static/style.css");

/// Everything a request may need: the hub, the configuration, whether the server is stopping,
/// and the counters. One value, shared by the accept thread and every connection thread.
#[derive(Debug)]
pub(crate) struct App {
    /// Where the frames and the catalogue come from.
    pub(crate) hub: Hub,
    pub(crate) config: ViewConfig,
    /// Set once, when the server stops: connections end after their current request.
    stopping: AtomicBool,
    pub(crate) counters: Counters,
}

impl App {
    pub(crate) fn new(hub: Hub, config: ViewConfig) -> Self {
        Self {
            hub,
            config,
            stopping: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// Marks the server as stopping and wakes every request waiting for a frame.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.hub.wake_all();
    }

    /// Whether [`App::stop`] was called.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> ViewStats {
        let counters = &self.counters;
        ViewStats {
            connections: counters.connections.load(Ordering::SeqCst),
            in_flight: counters.in_flight.load(Ordering::SeqCst),
            frames_served: counters.frames_served.load(Ordering::SeqCst),
            rejected: counters.rejected.load(Ordering::SeqCst),
        }
    }

    /// The answer to one request.
    pub(crate) fn route(&self, request: &Request) -> Reply {
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
                    snapshot: self.hub.snapshot(),
                    web: self.stats(),
                };
                // Cannot fail: plain strings and numbers serialise.
                let body = serde_json::to_vec(&state).unwrap_or_default();
                bytes_reply(200, body, "application/json")
            }
            "/api/frame" => self.frame_reply(query),
            "/api/image" => self.image_reply(query),
            _ => json_error(404, &format!("no page at {path}")),
        }
    }

    /// `/api/frame`: the newest frame of a sensor numbered above `after`, waiting for one up to
    /// the long-poll timeout.
    fn frame_reply(&self, query: &str) -> Reply {
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
        if self.is_stopping() {
            return json_error(503, "the viewer is stopping");
        }
        match self
            .hub
            .wait_frame(&key, after, self.config.long_poll_timeout)
        {
            Ok(frame) => {
                self.counters.frames_served.fetch_add(1, Ordering::SeqCst);
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
}

impl App {
    /// `/api/image`: the newest infrared or colour image of a sensor numbered above `after`,
    /// waiting for one up to the long-poll timeout.
    fn image_reply(&self, query: &str) -> Reply {
        let (mut server, mut sensor, mut stream, mut after) = (None, None, None, None);
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "server" => server = Some(value.into_owned()),
                "sensor" => sensor = Some(value.into_owned()),
                "stream" => match ImageStream::from_name(&value) {
                    Some(named) => stream = Some(named),
                    None => return json_error(400, "`stream` must be `ir` or `color`"),
                },
                "after" => match value.parse::<u64>() {
                    Ok(number) => after = Some(number),
                    Err(_) => return json_error(400, "`after` must be an image number"),
                },
                _ => {}
            }
        }
        let (Some(server), Some(sensor), Some(stream)) = (server, sensor, stream) else {
            return json_error(400, "`server`, `sensor` and `stream` are required");
        };
        if self.is_stopping() {
            return json_error(503, "the viewer is stopping");
        }
        let key = SourceKey::new(server, sensor);
        let timeout = self.config.long_poll_timeout;
        match self.hub.wait_image(&key, stream, after, timeout) {
            Ok(image) => {
                self.counters.frames_served.fetch_add(1, Ordering::SeqCst);
                let content_type = match stream {
                    ImageStream::Color => "image/jpeg",
                    _ => "application/octet-stream",
                };
                let headers = vec![
                    ("Content-Type", content_type.to_owned()),
                    ("Cache-Control", "no-store".to_owned()),
                    ("X-Frame-Number", image.number.to_string()),
                    ("X-Width", image.width_px.to_string()),
                    ("X-Height", image.height_px.to_string()),
                    ("X-Sensor-Sequence", image.sensor_sequence.to_string()),
                ];
                Reply {
                    status: 200,
                    headers,
                    body: Body::Image(image),
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
}

/// The live counters behind [`ViewStats`].
#[derive(Default)]
pub(crate) struct Counters {
    /// Connections open now.
    pub(crate) connections: AtomicUsize,
    /// Requests being answered now.
    pub(crate) in_flight: AtomicUsize,
    /// Frames sent to tabs so far.
    pub(crate) frames_served: AtomicU64,
    /// Connections refused at the limit.
    pub(crate) rejected: AtomicU64,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
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
