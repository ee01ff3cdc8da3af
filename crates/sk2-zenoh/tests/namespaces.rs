//! Two networks joined only through a Zenoh router: namespace A (a server and its bridge) and
//! namespace B (a subscriber) each have a veth link to namespace R (the router), which does not
//! forward IP. B cannot reach A's address, so neither mDNS nor a direct subscription could
//! connect them; Zenoh's router carries the frames. Made with `ip netns` (root needed).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sk2_client::zenoh::{ZenohClient, ZenohConfig, ZenohMode, ZenohServerEvent};
use sk2_testkit::test_name;
use sk2_zenoh::{Bridge, BridgeConfig};

use crate::common::{start_server, SENSOR_ID, SERVER_ID, WAIT};

const IP_A: &str = "10.214.1.1";
const IP_R_A: &str = "10.214.1.2";
const IP_R_B: &str = "10.214.2.2";
const IP_B: &str = "10.214.2.1";
const ZENOH_PORT: u16 = 7447;
/// Set for the helper processes: their role.
const ROLE_ENV: &str = "SK2_TEST_ZENOH_ROLE";
/// Frames the subscriber in B must decode.
const FRAMES: usize = 20;

#[test]
fn a_subscriber_gets_a_servers_frames_through_a_router_across_networks_it_cannot_reach() {
    let Some(networks) = Networks::create() else {
        return;
    };
    let mut router = networks.spawn(&networks.r, "router");
    // A client-mode session fails at once when no router answers: start B's after R's is up.
    let mut router_out = BufReader::new(router.stdout.take().unwrap()).lines();
    assert!(
        router_out.any(|line| line.is_ok_and(|line| line.ends_with("router ready"))),
        "the router never came up"
    );
    let mut server = networks.spawn(&networks.a, "server");
    let mut subscriber = networks.spawn(&networks.b, "subscriber");
    let status = wait_child(&mut subscriber, Duration::from_secs(90));
    let report = output(&mut subscriber);
    for child in [&mut server, &mut router] {
        drop(child.stdin.take());
        wait_child(child, Duration::from_secs(10));
    }
    assert_eq!(
        status,
        Some(true),
        "subscriber in B: {report}\nserver in A: {}\nrouter: {}",
        output(&mut server),
        output(&mut router)
    );
    eprintln!("{report}");
}

#[test]
#[ignore = "helper process, started by another test"]
fn zenoh_network_helper_process() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let until_stdin_closes = || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    };
    match role.as_str() {
        "router" => {
            let config = ZenohConfig::default()
                .with_mode(ZenohMode::Router)
                .with_listen(&[
                    format!("tcp/{IP_R_A}:{ZENOH_PORT}"),
                    format!("tcp/{IP_R_B}:{ZENOH_PORT}"),
                ])
                .unwrap();
            let _router = sk2_zenoh::start_node(&config).unwrap();
            println!("router ready");
            until_stdin_closes();
        }
        "server" => {
            let server = start_server(0, 30.0);
            let zenoh = ZenohConfig::default()
                .with_connect(&[format!("tcp/{IP_R_A}:{ZENOH_PORT}")])
                .unwrap();
            let _bridge = Bridge::start(
                BridgeConfig::new(server.control_endpoint().unwrap())
                    .with_server_id(Some(SERVER_ID.to_owned()))
                    .with_zenoh(zenoh),
            )
            .unwrap();
            until_stdin_closes();
        }
        "subscriber" => {
            // A's network is out of reach from here.
            let a: SocketAddr = format!("{IP_A}:9").parse().unwrap();
            assert!(
                TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_err(),
                "B can reach A directly: the test would prove nothing"
            );
            let zenoh = ZenohConfig::default()
                .with_mode(ZenohMode::Client)
                .with_connect(&[format!("tcp/{IP_R_B}:{ZENOH_PORT}")])
                .unwrap();
            let client = ZenohClient::open(&zenoh).unwrap();
            let watch = client.watch().unwrap();
            let appeared = watch
                .events()
                .recv_timeout(Duration::from_secs(60))
                .unwrap();
            assert_eq!(appeared, ZenohServerEvent::Appeared(SERVER_ID.to_owned()));
            let me = client.me(SERVER_ID, WAIT).unwrap();
            assert_eq!(me.devices[0].id, SENSOR_ID);
            let subscription = client.subscribe(SERVER_ID, SENSOR_ID).unwrap();
            let mut sequences = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while sequences.len() < FRAMES && Instant::now() < deadline {
                if let Some(frame) = subscription.recv_timeout(Duration::from_millis(200)) {
                    assert_eq!(frame.depth.width(), 512);
                    sequences.push(frame.sequence().unwrap());
                }
            }
            assert_eq!(sequences.len(), FRAMES, "too few frames through the router");
            assert!(sequences.windows(2).all(|pair| pair[1] > pair[0]));
            let stats = subscription.stats();
            println!(
                "B got {FRAMES} frames from A through the router (sequences {}..={}); {stats:?}",
                sequences[0],
                sequences[FRAMES - 1]
            );
        }
        other => panic!("unknown role {other}"),
    }
}

/// Namespaces A, R and B, with veth links A-R and R-B; deleted on drop.
struct Networks {
    a: String,
    r: String,
    b: String,
}

impl Networks {
    /// Makes the namespaces, or skips (`None`) where `ip netns` cannot (not root).
    fn create() -> Option<Self> {
        let pid = std::process::id();
        let networks = Self {
            a: format!("sk2za{pid}"),
            r: format!("sk2zr{pid}"),
            b: format!("sk2zb{pid}"),
        };
        if !ip(&["netns", "add", &networks.a]) {
            sk2_testkit::tools::skip_or_fail(
                "a_subscriber_gets_a_servers_frames_through_a_router_across_networks_it_cannot_reach",
                "`ip netns add` failed: run the tests as root (with iproute2 installed)",
            );
            return None;
        }
        let links = [
            (
                &networks.a,
                format!("za{pid}"),
                IP_A,
                format!("zra{pid}"),
                IP_R_A,
            ),
            (
                &networks.b,
                format!("zb{pid}"),
                IP_B,
                format!("zrb{pid}"),
                IP_R_B,
            ),
        ];
        let ok = ip(&["netns", "add", &networks.r])
            && ip(&["netns", "add", &networks.b])
            && links.iter().all(|(ns, veth, address, peer, peer_address)| {
                ip(&[
                    "link",
                    "add",
                    veth,
                    "netns",
                    ns,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    peer,
                    "netns",
                    &networks.r,
                ]) && ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{address}/24"),
                    "dev",
                    veth,
                ]) && ip(&["-n", ns, "link", "set", veth, "up"])
                    && ip(&["-n", ns, "link", "set", "lo", "up"])
                    && ip(&[
                        "-n",
                        &networks.r,
                        "addr",
                        "add",
                        &format!("{peer_address}/24"),
                        "dev",
                        peer,
                    ])
                    && ip(&["-n", &networks.r, "link", "set", peer, "up"])
            })
            && ip(&["-n", &networks.r, "link", "set", "lo", "up"]);
        assert!(ok, "could not set up the namespaces");
        Some(networks)
    }

    fn spawn(&self, namespace: &str, role: &str) -> Child {
        let exe = std::env::current_exe().unwrap();
        Command::new("ip")
            .args(["netns", "exec", namespace])
            .arg(exe)
            .args([
                test_name!("zenoh_network_helper_process").as_str(),
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROLE_ENV, role)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run `ip netns exec`")
    }
}

impl Drop for Networks {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it, and so the pairs.
        for ns in [&self.a, &self.r, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `ip` quietly; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Waits for a child up to `timeout`; `Some(success)` if it ended, `None` (after killing it).
fn wait_child(child: &mut Child, timeout: Duration) -> Option<bool> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status.success());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A finished (or killed) child's stdout and stderr.
fn output(child: &mut Child) -> String {
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut text = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut text);
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}
