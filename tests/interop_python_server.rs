//! Interop with an independent implementation: our browser and client against
//! `tests/interop/python_server.py`. Ignored by `cargo test` (it needs the Python server running
//! in the same private network namespace); `tests/interop/run_python_server.sh` sets that up and
//! runs it.

use std::time::Duration;

use sk2_client::{Browser, BrowserEvent, Client, ClientConfig, EndpointKind};

const WAIT: Duration = Duration::from_secs(10);
const FRAMES: usize = 10;
const WIDTH: usize = 512;
const HEIGHT: usize = 424;

/// The Python server's frame `k` (see python_server.py).
fn python_frame(k: u64) -> Vec<u16> {
    let mut depth = Vec::with_capacity(WIDTH * HEIGHT);
    for r in 0..HEIGHT as u64 {
        for c in 0..WIDTH as u64 {
            depth.push(((r * 7 + c * 3 + k * 11) % 4096) as u16);
        }
    }
    depth
}

#[test]
#[ignore = "needs tests/interop/python_server.py running: use tests/interop/run_python_server.sh"]
fn python_server_interop() {
    let name = std::env::var("SK2_PYTHON_SERVER_NAME")
        .expect("run by tests/interop/run_python_server.sh, which sets SK2_PYTHON_SERVER_NAME");
    assert!(
        std::env::var_os("SK2_INTEROP_IN_NETNS").is_some(),
        "mDNS only inside the runner's private network namespace"
    );
    let browser = Browser::new().unwrap();
    let events = browser.events();
    let found = loop {
        match events
            .recv_timeout(WAIT)
            .expect("the Python server was not found")
        {
            BrowserEvent::ServerAppeared(info) if info.name == name => break info,
            _ => {}
        }
    };
    assert_eq!(found.host, "pyserver.local");
    let client = Client::connect_blocking(
        &found.control_endpoint(),
        ClientConfig::default().with_host_addresses(found.host_addresses()),
        WAIT,
    )
    .unwrap();
    assert_eq!(client.name(), Some(name));
    assert!(client.ping().is_ok());
    let device = client.me().unwrap().devices[0].id.clone();
    let subscription = client.subscribe(&device).unwrap();
    assert_eq!(subscription.kind(), EndpointKind::Depth);
    // Frame k's first pixel is k * 11 mod 4096: it names the few candidates to compare in full.
    for _ in 0..FRAMES {
        let frame = subscription
            .recv_timeout(WAIT)
            .expect("no frame from the Python server");
        assert_eq!(frame.device_id, device);
        let first = u64::from(frame.depth.depth_mm()[0]);
        let exact = (0..4096u64)
            .filter(|k| k * 11 % 4096 == first)
            .any(|k| frame.depth.depth_mm() == python_frame(k).as_slice());
        assert!(
            exact,
            "frame does not match any frame the Python server sends"
        );
    }
    assert_eq!(subscription.stats().decode_errors, 0);
}
