//! CurveZMQ end to end (docs/security.md): the real server library with a mock sensor, clients and
//! raw ZeroMQ peers with and without the right keys, on 127.0.0.1; and discovery of a secure
//! server inside a private network namespace.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::{fast, wait_for};
use sk2_client::{
    Browser, BrowserEvent, Client, ClientError, KeyPair, PublicKey, SecretKey, SubscriptionConfig,
};
use sk2_mock::{MockConfig, MockKinect};
use sk2_server::{Config, Curve, Server};
use sk2_testkit::{in_private_netns, wait_until};

const WAIT: Duration = Duration::from_secs(10);

/// Below [`WAIT`]: a handshake failure must be reported, not waited out. (It takes milliseconds;
/// the margin is for a machine loaded by the whole test suite, where 3 s was once exceeded.)
const PROMPTLY: Duration = Duration::from_secs(6);

fn key_pair() -> KeyPair {
    let pair = zmq::CurveKeyPair::new().unwrap();
    KeyPair {
        public: PublicKey(pair.public_key),
        secret: SecretKey(pair.secret_key),
    }
}

/// A started secure server on 127.0.0.1 with one mock sensor, and the sensor's id.
fn secure_server(curve: Curve, announce: bool) -> (Server, String) {
    let config = Config::default()
        .with_bind_host("127.0.0.1")
        .with_announce(announce)
        .with_curve(Some(curve));
    let mut server = Server::new(config);
    let id = server
        .add_sensor(Box::new(MockKinect::new(MockConfig::default())))
        .unwrap();
    server.start().unwrap();
    (server, id)
}

fn endpoint(server: &Server) -> String {
    server.control_endpoint().unwrap()
}

fn depth_endpoint(server: &Server, id: &str, kind: &str) -> String {
    server.me().device(id).unwrap().endpoints[kind].clone()
}

/// A SUB socket connected to `endpoint`, with CURVE keys if given.
fn raw_subscriber(
    context: &zmq::Context,
    endpoint: &str,
    curve: Option<(PublicKey, &KeyPair)>,
) -> zmq::Socket {
    let socket = context.socket(zmq::SUB).unwrap();
    socket.set_linger(0).unwrap();
    if let Some((server, keys)) = curve {
        socket.set_curve_serverkey(&server.0).unwrap();
        socket.set_curve_publickey(&keys.public.0).unwrap();
        socket.set_curve_secretkey(&keys.secret.0).unwrap();
    }
    socket.set_subscribe(b"").unwrap();
    socket.connect(endpoint).unwrap();
    socket
}

/// Waits at most `within` for a client's connection and expects a handshake error.
fn handshake_error(client: &Client, within: Duration) -> String {
    let started = Instant::now();
    match client.wait_connected(WAIT) {
        Err(ClientError::Handshake { reason, .. }) => {
            assert!(
                started.elapsed() < within,
                "reported after {:?}",
                started.elapsed()
            );
            reason
        }
        other => panic!("expected a handshake error, got {other:?}"),
    }
}

#[test]
fn libzmq_has_curve_in_the_default_build() {
    assert_eq!(zmq::has("curve"), Some(true));
}

#[test]
fn an_authorised_client_streams_while_unauthorised_peers_are_refused_on_every_endpoint() {
    let server_keys = key_pair();
    let allowed = key_pair();
    let stranger = key_pair();
    let curve = Curve::new(server_keys.clone())
        .with_authorized_clients(Some(BTreeSet::from([allowed.public])));
    let (server, id) = secure_server(curve, false);
    let server_key = server_keys.public;

    // Peers that must get nothing: a stranger's client, and raw subscribers on both depth
    // endpoints with the stranger's keys or with no CURVE at all.
    let stranger_client = Client::connect_to(
        &endpoint(&server),
        fast()
            .with_server_key(server_key)
            .with_client_keys(stranger.clone()),
    )
    .unwrap();
    let context = zmq::Context::new();
    let intruders: Vec<zmq::Socket> = ["depth", "depth_v2"]
        .iter()
        .flat_map(|kind| {
            let endpoint = depth_endpoint(&server, &id, kind);
            [
                raw_subscriber(&context, &endpoint, Some((server_key, &stranger))),
                raw_subscriber(&context, &endpoint, None),
            ]
        })
        .collect();

    let client = Client::connect_blocking(
        &endpoint(&server),
        fast().with_server_key(server_key).with_client_keys(allowed),
        WAIT,
    )
    .unwrap();
    assert!(client.ping().is_ok());
    let v2 = client.subscribe(&id).unwrap();
    let original = client
        .subscribe_with(
            &id,
            SubscriptionConfig::default().with_prefer_depth_v2(false),
        )
        .unwrap();
    assert_eq!(v2.kind(), sk2_client::EndpointKind::DepthV2);
    assert_eq!(original.kind(), sk2_client::EndpointKind::Depth);
    for subscription in [&v2, &original] {
        for _ in 0..5 {
            let frame = subscription.recv_timeout(WAIT).expect("no frame");
            assert_eq!(frame.device_id, id);
        }
    }

    let reason = handshake_error(&stranger_client, PROMPTLY);
    assert!(reason.contains("authorised"), "{reason}");
    for intruder in &intruders {
        assert_eq!(
            intruder.poll(zmq::POLLIN, 0).unwrap(),
            0,
            "a refused peer got a frame"
        );
    }
    // The stranger's keys are refused by the gatekeeper's ZAP answer, always counted. The peers
    // without CURVE fail the handshake inside libzmq and are counted from its monitor events,
    // which do not report every such failure (about one run in five misses them here): they are
    // held to getting nothing, above.
    wait_until("unauthorised peers counted", WAIT, || {
        server.unauthorised_control_peers() >= 1 && server.stats()[0].unauthorised_subscribers >= 2
    });
    // They were refused for their keys, not for lack of room.
    assert_eq!(server.refused_control_peers(), 0);
    assert_eq!(server.stats()[0].refused_subscribers, 0);
}

#[test]
fn without_a_list_of_keys_any_client_that_knows_the_server_key_streams() {
    let server_keys = key_pair();
    let (server, id) = secure_server(Curve::new(server_keys.clone()), false);
    // No client key pair: the client makes one for itself.
    let client = Client::connect_blocking(
        &endpoint(&server),
        fast().with_server_key(server_keys.public),
        WAIT,
    )
    .unwrap();
    let frames = client.subscribe(&id).unwrap();
    assert!(frames.recv_timeout(WAIT).is_some());
    // A secure server secures every stream; the client's image subscriptions use its keys too.
    let ir = client.subscribe_ir(&id).unwrap();
    let color = client.subscribe_color_jpeg(&id).unwrap();
    assert!(ir.recv_timeout(WAIT).is_some(), "no infrared frame");
    assert!(color.recv_timeout(WAIT).is_some(), "no colour frame");
}

#[test]
fn a_wrong_server_key_is_a_clear_error_not_a_hang() {
    let (server, _) = secure_server(Curve::new(key_pair()), false);
    let client = Client::connect_to(
        &endpoint(&server),
        fast().with_server_key(key_pair().public),
    )
    .unwrap();
    let reason = handshake_error(&client, PROMPTLY);
    assert!(reason.contains("server key"), "{reason}");
    assert!(matches!(
        client.ping(),
        Err(ClientError::NotConnected | ClientError::Handshake { .. })
    ));
    wait_until("the failed handshake counted", WAIT, || {
        server.unauthorised_control_peers() >= 1
    });
}

#[test]
fn an_open_client_is_told_that_the_server_is_secure_and_the_reverse() {
    let (secure, _) = secure_server(Curve::new(key_pair()), false);
    let open_client = Client::connect_to(&endpoint(&secure), fast()).unwrap();
    let reason = handshake_error(&open_client, PROMPTLY);
    assert!(reason.contains("requires CurveZMQ"), "{reason}");

    let mut open = Server::new(
        Config::default()
            .with_bind_host("127.0.0.1")
            .with_announce(false),
    );
    open.start().unwrap();
    let secure_client =
        Client::connect_to(&endpoint(&open), fast().with_server_key(key_pair().public)).unwrap();
    let reason = handshake_error(&secure_client, PROMPTLY);
    assert!(reason.contains("not secure"), "{reason}");
}

#[test]
fn a_secure_server_announces_its_key_and_a_browser_reports_it() {
    if !in_private_netns("a_secure_server_announces_its_key_and_a_browser_reports_it") {
        return;
    }
    let browser = Browser::new().unwrap();
    let events = browser.events();
    let server_keys = key_pair();
    let (_server, id) = secure_server(Curve::new(server_keys.clone()), true);
    let (event, _) = wait_for(&events, WAIT, |event| {
        matches!(event, BrowserEvent::ServerAppeared(_))
    })
    .expect("secure server not seen");
    let BrowserEvent::ServerAppeared(found) = event else {
        unreachable!("matched above")
    };
    assert!(found.secure);
    assert_eq!(found.announced_key, Some(server_keys.public));

    // Without the key: told so at once. With it: frames.
    let hosts = found.host_addresses();
    let keyless = Client::connect_to(
        &found.control_endpoint(),
        fast().with_host_addresses(hosts.clone()),
    )
    .unwrap();
    let reason = handshake_error(&keyless, PROMPTLY);
    assert!(reason.contains("requires CurveZMQ"), "{reason}");
    let client = Client::connect_blocking(
        &found.control_endpoint(),
        fast()
            .with_host_addresses(hosts)
            .with_server_key(server_keys.public),
        WAIT,
    )
    .unwrap();
    assert!(client.subscribe(&id).unwrap().recv_timeout(WAIT).is_some());
}
