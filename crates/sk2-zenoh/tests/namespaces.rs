//! Two networks joined only through a Zenoh router: namespace A (a server and its bridge) and
//! namespace B (a subscriber) each have a veth link to namespace R (the router), which does not
//! forward IP. B cannot reach A's address, so neither mDNS nor a direct subscription could
//! connect them; Zenoh's router carries the frames. Made with `ip netns` (root needed).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use sk2_client::zenoh::{ZenohClient, ZenohConfig, ZenohMode, ZenohServerEvent};
use sk2_testkit::hosts::{child_output, veth, wait_child, Host};
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
    let mut router = Networks::spawn(&networks.r, "router");
    // A client-mode session fails at once when no router answers: start B's after R's is up.
    let mut router_out = BufReader::new(router.stdout.take().unwrap()).lines();
    assert!(
        router_out.any(|line| line.is_ok_and(|line| line.ends_with("router ready"))),
        "the router never came up"
    );
    let mut server = Networks::spawn(&networks.a, "server");
    let mut subscriber = Networks::spawn(&networks.b, "subscriber");
    let status = wait_child(&mut subscriber, Duration::from_secs(90));
    let report = child_output(&mut subscriber);
    for child in [&mut server, &mut router] {
        drop(child.stdin.take());
        wait_child(child, Duration::from_secs(10));
    }
    assert_eq!(
        status,
        Some(true),
        "subscriber in B: {report}\nserver in A: {}\nrouter: {}",
        child_output(&mut server),
        child_output(&mut router)
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
    a: Host,
    r: Host,
    b: Host,
}

impl Networks {
    /// Makes the namespaces, or skips (`None`) where `ip netns` cannot (not root).
    fn create() -> Option<Self> {
        let pid = std::process::id();
        let a = match Host::add(format!("sk2za{pid}")) {
            Ok(a) => a,
            Err(error) => {
                sk2_testkit::tools::skip_or_fail(
                    "a_subscriber_gets_a_servers_frames_through_a_router_across_networks_it_cannot_reach",
                    &format!(
                        "`ip netns add` failed ({error}): run the tests as root (with iproute2 \
                         installed)"
                    ),
                );
                return None;
            }
        };
        let made = || -> Result<Self, String> {
            let networks = Self {
                a,
                r: Host::add(format!("sk2zr{pid}"))?,
                b: Host::add(format!("sk2zb{pid}"))?,
            };
            veth(
                (&networks.a, &format!("za{pid}"), IP_A),
                (&networks.r, &format!("zra{pid}"), IP_R_A),
            )?;
            veth(
                (&networks.b, &format!("zb{pid}"), IP_B),
                (&networks.r, &format!("zrb{pid}"), IP_R_B),
            )?;
            Ok(networks)
        };
        Some(made().unwrap_or_else(|error| panic!("could not set up the namespaces: {error}")))
    }

    fn spawn(host: &Host, role: &str) -> Child {
        host.spawn_helper(
            &test_name!("zenoh_network_helper_process"),
            &[(ROLE_ENV, role), ("RUST_LOG", "warn")],
        )
    }
}
