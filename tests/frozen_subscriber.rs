//! Fault: a subscriber process frozen with SIGSTOP and resumed with SIGCONT. A real
//! `kinect-server` (realistic mock, 30 fps, `--codec raw` so every queued frame is a full
//! 424 KiB and an unbounded queue would show at once) serves two subscriber processes. Each
//! subscriber is this test binary run again with `SK2_SUBSCRIBER` set: it prints one line per
//! frame. The freeze lasts 5 s (as in CI) unless `SK2_FREEZE_SECONDS` sets another (e.g. 30).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::KinectServer;
use sk2_client::{Client, ClientConfig};
use sk2_proto::sensor::unix_time_ns;
use sk2_testkit::wait_until;

const WAIT: Duration = Duration::from_secs(5);
const TEST_NAME: &str = "a_subscriber_frozen_and_resumed_leaves_server_memory_bounded_others_unaffected_and_gets_new_frames";
/// The freeze, unless `SK2_FREEZE_SECONDS` says otherwise.
const DEFAULT_FREEZE: Duration = Duration::from_secs(5);
/// Server RSS may grow by at most this much during the freeze. What the frozen subscriber can
/// hold in the server is `DEFAULT_DEPTH_SNDHWM` (4) frames of 424 KiB in libzmq, about 1.7 MiB
/// (the kernel's socket buffers are not process memory); 8 MiB leaves room for allocator noise.
/// An unbounded queue would grow by 30 frames (12.4 MiB) per second of freeze.
const RSS_GROWTH_BOUND_KIB: u64 = 8 * 1024;
/// A frame is "new" after the resume when it was captured at most this long before it was read.
const FRESH: Duration = Duration::from_millis(500);

/// One frame as a subscriber printed it: sequence, capture time and read time (ns since epoch).
#[derive(Debug, Clone, Copy)]
struct Seen {
    sequence: u64,
    captured_ns: u64,
    read_ns: u64,
}

/// The subscriber process: connect, subscribe to the first sensor, print every frame.
fn run_subscriber(endpoint: &str) {
    let client =
        Client::connect_blocking(endpoint, ClientConfig::default(), WAIT).expect("connects");
    let id = client.me().expect("me").devices[0].id.clone();
    let subscription = client.subscribe(&id).expect("subscribes");
    for frame in subscription {
        println!(
            "frame {} {} {}",
            frame.sequence().expect("depth_v2 carries sequences"),
            frame
                .capture_time_ns()
                .expect("depth_v2 carries capture times"),
            unix_time_ns()
        );
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(name: &str, pid: u32) -> std::io::Result<()> {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "kill -{name} {pid}: {status}"
        )))
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

fn start_server() -> KinectServer {
    KinectServer::start(&[
        "--advertise-host",
        "127.0.0.1",
        "--mock-mode",
        "realistic",
        "--fps",
        "30",
        "--codec",
        "raw",
    ])
}

/// Starts a subscriber process and a thread collecting what it prints.
fn start_subscriber(endpoint: &str) -> (KillOnDrop, Arc<Mutex<Vec<Seen>>>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &sk2_testkit::test_name!(TEST_NAME)])
        .args(["--nocapture", "--test-threads=1"])
        .env("SK2_SUBSCRIBER", endpoint)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let collected = Arc::clone(&seen);
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let fields: Vec<u64> = match line.strip_prefix("frame ") {
                Some(rest) => rest.split(' ').filter_map(|f| f.parse().ok()).collect(),
                None => continue,
            };
            if let [sequence, captured_ns, read_ns] = fields[..] {
                collected.lock().unwrap().push(Seen {
                    sequence,
                    captured_ns,
                    read_ns,
                });
            }
        }
    });
    (KillOnDrop(child), seen)
}

#[test]
fn a_subscriber_frozen_and_resumed_leaves_server_memory_bounded_others_unaffected_and_gets_new_frames(
) {
    if let Ok(endpoint) = std::env::var("SK2_SUBSCRIBER") {
        run_subscriber(&endpoint);
        return;
    }
    let freeze = std::env::var("SK2_FREEZE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_FREEZE, Duration::from_secs);

    let server = start_server();
    let endpoint = server.control.clone();
    let server_pid = server.id();
    let (frozen, frozen_seen) = start_subscriber(&endpoint);
    let (_healthy, healthy_seen) = start_subscriber(&endpoint);
    wait_until("both subscribers to receive frames", WAIT, || {
        frozen_seen.lock().unwrap().len() >= 30 && healthy_seen.lock().unwrap().len() >= 30
    });
    // Warm-up: let the server reach its steady memory with both subscribers reading.
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = rss_kib(server_pid);

    signal("STOP", frozen.0.id()).unwrap();
    let stopped_ns = unix_time_ns();
    let healthy_from = healthy_seen.lock().unwrap().len();
    let frozen_until = frozen_seen.lock().unwrap().len();
    let freeze_started = Instant::now();
    let mut rss_max = rss_before;
    while freeze_started.elapsed() < freeze {
        rss_max = rss_max.max(rss_kib(server_pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let during: Vec<Seen> = healthy_seen.lock().unwrap()[healthy_from..].to_vec();
    let frozen_printed = frozen_seen.lock().unwrap().len() - frozen_until;

    signal("CONT", frozen.0.id()).unwrap();
    let resumed_ns = unix_time_ns();
    let resumed = Instant::now();
    // Wait for the first frame captured after the resume.
    wait_until(
        "the resumed subscriber to get a frame captured after SIGCONT",
        WAIT,
        || {
            frozen_seen.lock().unwrap()[frozen_until..]
                .iter()
                .any(|seen| seen.captured_ns >= resumed_ns)
        },
    );
    let caught_up_after = resumed.elapsed();
    let after: Vec<Seen> = frozen_seen.lock().unwrap()[frozen_until..].to_vec();
    let last_before_freeze = frozen_seen.lock().unwrap()[frozen_until - 1];
    let first_after = after[0];
    let stale = after
        .iter()
        .filter(|seen| seen.read_ns.saturating_sub(seen.captured_ns) > FRESH.as_nanos() as u64)
        .count();
    let fps = during.len() as f64 / freeze.as_secs_f64();
    eprintln!(
        "freeze {freeze:?}: server RSS {rss_before} KiB before, at most {rss_max} KiB during; \
         healthy subscriber {} frames ({fps:.1} fps); frozen subscriber printed {frozen_printed} \
         while stopped; after SIGCONT: first sequence {} (last before {}), captured {} ms \
         after the stop, {stale} stale frames, caught up in {caught_up_after:?}",
        during.len(),
        first_after.sequence,
        last_before_freeze.sequence,
        (first_after.captured_ns as i64 - stopped_ns as i64) / 1_000_000,
    );

    assert!(
        rss_max <= rss_before + RSS_GROWTH_BOUND_KIB,
        "server RSS grew from {rss_before} KiB to {rss_max} KiB during the freeze"
    );
    // The healthy subscriber kept its pace (30 fps, with a margin for a busy CI machine) and lost
    // nothing.
    assert!(
        fps >= 25.0,
        "healthy subscriber at {fps:.1} fps during the freeze"
    );
    for pair in during.windows(2) {
        assert_eq!(
            pair[1].sequence,
            pair[0].sequence + 1,
            "healthy subscriber has a gap"
        );
    }
    assert_eq!(frozen_printed, 0, "the stopped subscriber printed frames");
    // The resumed one jumps to new frames within a second instead of working through a backlog
    // that began when it froze.
    assert!(
        caught_up_after < Duration::from_secs(1),
        "new frames took {caught_up_after:?} after SIGCONT"
    );
    // The first new frame comes after a jump over the frozen time (at least 80 % of its frames),
    // not at the end of a replay of everything sent meanwhile.
    let first_new = after
        .iter()
        .find(|seen| seen.captured_ns >= resumed_ns)
        .unwrap();
    let skipped_over = first_new.sequence - last_before_freeze.sequence;
    let frozen_frames = (freeze.as_secs_f64() * 30.0 * 0.8) as u64;
    assert!(
        skipped_over >= frozen_frames,
        "sequence moved by only {skipped_over} over a {freeze:?} freeze"
    );
    // What arrives before it is the short backlog queued when the process stopped (measured: 7
    // frames, read in 42 ms), never more than a second's worth.
    assert!(stale < 30, "{stale} stale frames after SIGCONT");
}
