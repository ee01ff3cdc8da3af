//! The web server over real sockets on port 0: the frame protocol tabs use, its bounds, and that
//! closed tabs free their threads.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sk2_proto::DepthFrame;
use sk2_testkit::wait_until;
use sk2_view::{Hub, SourceFrame, SourceKey, ViewConfig, ViewServer};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

fn send(server: &ViewServer, path: &str) -> TcpStream {
    send_to_host(server, path, "localhost")
}

fn send_to_host(server: &ViewServer, path: &str, host: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

fn get(server: &ViewServer, path: &str) -> Reply {
    get_from_host(server, path, "localhost")
}

fn get_from_host(server: &ViewServer, path: &str, host: &str) -> Reply {
    let mut stream = send_to_host(server, path, host);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn key() -> SourceKey {
    SourceKey::new("srv", "abc")
}

fn start(config: ViewConfig) -> (Hub, ViewServer) {
    let hub = Hub::new();
    hub.server_seen("srv", "tcp://127.0.0.1:1");
    hub.set_sensors("srv", &[("abc".into(), "rvl".into())]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = ViewServer::start(listener, hub.clone(), config).unwrap();
    (hub, server)
}

fn publish(hub: &Hub, first_pixel: u16, sequence: u64) {
    hub.publish(
        &key(),
        SourceFrame {
            depth: DepthFrame::new(3, 2, vec![first_pixel, 2, 3, 4, 5, 0]).unwrap(),
            sensor_sequence: Some(sequence),
            capture_time_ns: Some(1_700_000_000_123_456_789),
            latency: None,
            lost: 0,
        },
    );
}

#[test]
fn a_tab_behind_by_many_frames_gets_the_newest_as_little_endian_millimetres() {
    let (hub, server) = start(ViewConfig::default());
    for n in 1..=10 {
        publish(&hub, 1000 + n as u16, n);
    }
    let reply = get(&server, "/api/frame?server=srv&sensor=abc&after=1");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("X-Frame-Number"), Some("10"));
    assert_eq!(reply.header("Content-Length"), Some("12"));
    assert_eq!(reply.header("X-Width"), Some("3"));
    assert_eq!(reply.header("X-Height"), Some("2"));
    assert_eq!(reply.header("X-Sensor-Sequence"), Some("10"));
    assert_eq!(reply.header("X-Capture-Time-Ms"), Some("1700000000123.457"));
    let expected: Vec<u8> = [1010u16, 2, 3, 4, 5, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(reply.body, expected);
}

#[test]
fn a_tab_with_the_newest_frame_gets_204_after_the_timeout_then_the_next_frame() {
    let config = ViewConfig::default().with_long_poll_timeout(Duration::from_millis(100));
    let (hub, server) = start(config);
    publish(&hub, 1, 0);
    assert_eq!(
        get(&server, "/api/frame?server=srv&sensor=abc&after=1").status,
        204
    );
    let waiter = send(&server, "/api/frame?server=srv&sensor=abc&after=1");
    std::thread::sleep(Duration::from_millis(20));
    publish(&hub, 2, 1);
    let mut raw = Vec::new();
    let mut waiter = waiter;
    waiter.read_to_end(&mut raw).unwrap();
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

#[test]
fn unknown_sensors_and_bad_queries_are_errors_with_a_message() {
    let (_hub, server) = start(ViewConfig::default());
    let reply = get(&server, "/api/frame?server=srv&sensor=nope");
    assert_eq!(reply.status, 404);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        body["error"],
        "sensor \"nope\" not found on server \"srv\" (it has: abc); still looking"
    );
    assert_eq!(
        get(&server, "/api/frame?server=srv&sensor=abc&after=x").status,
        400
    );
    assert_eq!(get(&server, "/api/frame?sensor=abc").status, 400);
    assert_eq!(get(&server, "/nothing-here").status, 404);
}

#[test]
fn the_page_and_state_are_served_from_the_binary() {
    let (hub, server) = start(ViewConfig::default());
    publish(&hub, 1, 0);
    let page = get(&server, "/");
    assert_eq!(page.status, 200);
    let page = String::from_utf8(page.body).unwrap();
    assert!(page.contains("<canvas id=\"depth\""));
    // No external requests: every script and style comes from the viewer itself.
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(get(&server, "/app.js")
        .body
        .starts_with(b"// kinect-view page"));
    let state: serde_json::Value =
        serde_json::from_slice(&get(&server, "/api/state").body).unwrap();
    assert_eq!(state["sensors"][0]["sensor"], "abc");
    assert_eq!(state["sensors"][0]["codec"], "rvl");
    assert_eq!(state["servers"][0]["endpoint"], "tcp://127.0.0.1:1");
}

#[test]
fn closed_tabs_free_their_request_threads() {
    let config = ViewConfig::default().with_long_poll_timeout(Duration::from_millis(200));
    let (hub, server) = start(config);
    publish(&hub, 1, 0);
    // Ten tabs wait for a frame that never comes, then close.
    let tabs: Vec<_> = (0..10)
        .map(|_| send(&server, "/api/frame?server=srv&sensor=abc&after=1"))
        .collect();
    wait_until("ten requests in flight", Duration::from_secs(5), || {
        server.stats().in_flight == 10
    });
    drop(tabs);
    wait_until(
        "every request thread to end",
        Duration::from_secs(5),
        || server.stats().in_flight == 0,
    );
}

#[test]
fn requests_beyond_the_limit_are_refused_at_once_not_queued() {
    let config = ViewConfig::default()
        .with_long_poll_timeout(Duration::from_secs(2))
        .with_max_connections(3);
    let (hub, server) = start(config);
    publish(&hub, 1, 0);
    let _waiting: Vec<_> = (0..3)
        .map(|_| send(&server, "/api/frame?server=srv&sensor=abc&after=1"))
        .collect();
    wait_until("three requests in flight", Duration::from_secs(5), || {
        server.stats().in_flight == 3
    });
    let started = Instant::now();
    assert_eq!(get(&server, "/api/state").status, 503);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(server.stats().rejected, 1);
    assert_eq!(server.stats().in_flight, 3);
}

#[test]
fn a_slow_tab_skips_to_the_newest_frame_while_fast_tabs_get_every_one() {
    let (hub, server) = start(ViewConfig::default());
    publish(&hub, 0, 0);
    let publisher = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            for n in 1..=60 {
                std::thread::sleep(Duration::from_millis(10));
                publish(&hub, n as u16, n);
            }
        })
    };
    // A tab asks for the frame after the one it has, as the page does; `pause` is its drawing.
    let tab = |pause: Duration| {
        let addr = server.local_addr();
        std::thread::spawn(move || {
            let mut numbers = Vec::new();
            let mut after = 0u64;
            let deadline = Instant::now() + Duration::from_secs(3);
            while after < 61 && Instant::now() < deadline {
                let mut stream = TcpStream::connect(addr).unwrap();
                write!(
                    stream,
                    "GET /api/frame?server=srv&sensor=abc&after={after} HTTP/1.1\r\n\
                     Host: localhost\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut raw = String::new();
                let _ = stream.read_to_string(&mut raw);
                if let Some(number) = raw
                    .lines()
                    .find_map(|line| line.strip_prefix("X-Frame-Number: "))
                {
                    after = number.trim().parse().unwrap();
                    numbers.push(after);
                }
                std::thread::sleep(pause);
            }
            numbers
        })
    };
    let fast: Vec<_> = (0..4).map(|_| tab(Duration::ZERO)).collect();
    let slow = tab(Duration::from_millis(200));
    publisher.join().unwrap();
    let slow = slow.join().unwrap();
    for fast in fast {
        let numbers = fast.join().unwrap();
        // A fast tab sees (nearly) every frame: it is never held up by the slow one.
        assert!(numbers.len() >= 30, "a fast tab got only {}", numbers.len());
    }
    // The slow tab got few frames, each the newest at the time, ending at the last one.
    assert!(slow.len() <= 20, "the slow tab got {}", slow.len());
    assert!(
        slow.windows(2).any(|w| w[1] > w[0] + 1),
        "no skipping: {slow:?}"
    );
    assert_eq!(slow.last(), Some(&61));
    wait_until(
        "every request thread to end",
        Duration::from_secs(5),
        || server.stats().in_flight == 0,
    );
}

#[test]
fn requests_for_other_host_names_are_refused_against_dns_rebinding() {
    let (_hub, server) = start(ViewConfig::default());
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
        "kinect-pc.local:8080",
        "10.0.0.7",
    ] {
        assert_eq!(
            get_from_host(&server, "/api/state", host).status,
            200,
            "{host}"
        );
    }
    for host in [
        "evil.example",
        "evil.example:8080",
        "127.0.0.1.evil.example",
    ] {
        assert_eq!(
            get_from_host(&server, "/api/state", host).status,
            403,
            "{host}"
        );
    }
}

#[test]
fn many_keep_alive_connections_opened_at_once_are_all_served() {
    let (hub, server) = start(ViewConfig::default());
    publish(&hub, 1, 0);
    let addr = server.local_addr();
    // 24 connections at once, each asking five times on the same connection, as browsers do.
    let clients: Vec<_> = (0..24)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                for _ in 0..5 {
                    write!(stream, "GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
                    let mut length = 0;
                    let mut status = String::new();
                    std::io::BufRead::read_line(&mut reader, &mut status).unwrap();
                    assert!(status.starts_with("HTTP/1.1 200"), "{status:?}");
                    loop {
                        let mut line = String::new();
                        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(value) = line.strip_prefix("Content-Length: ") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(server.stats().rejected, 0);
}

#[test]
fn infrared_and_colour_are_served_beside_depth_as_amplitudes_and_jpeg() {
    let config = ViewConfig::default().with_long_poll_timeout(Duration::from_millis(100));
    let (hub, server) = start(config);
    hub.publish_ir(&key(), 2, 1, &[0x0102, 0xFFFF], 7);
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xD9];
    hub.publish_color_jpeg(&key(), 16, 8, jpeg.clone(), 3);

    let ir = get(&server, "/api/image?server=srv&sensor=abc&stream=ir");
    assert_eq!(ir.status, 200);
    assert_eq!(ir.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(
        (ir.header("X-Width"), ir.header("X-Sensor-Sequence")),
        (Some("2"), Some("7"))
    );
    assert_eq!(ir.body, [0x02, 0x01, 0xFF, 0xFF]);
    let color = get(&server, "/api/image?server=srv&sensor=abc&stream=color");
    assert_eq!(color.status, 200);
    assert_eq!(color.header("Content-Type"), Some("image/jpeg"));
    assert_eq!(color.header("X-Height"), Some("8"));
    assert_eq!(color.body, jpeg);

    let after = "/api/image?server=srv&sensor=abc&stream=color&after=1";
    assert_eq!(get(&server, after).status, 204);
    // Depth is untouched by images, and the other errors are the frame route's.
    assert_eq!(get(&server, "/api/frame?server=srv&sensor=abc").status, 204);
    assert_eq!(
        get(&server, "/api/image?server=srv&sensor=abc&stream=sonar").status,
        400
    );
    assert_eq!(
        get(&server, "/api/image?server=srv&sensor=nope&stream=ir").status,
        404
    );
}
