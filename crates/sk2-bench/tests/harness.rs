//! End-to-end runs of the real `kinect-bench` binary with tiny windows: every scenario runs,
//! every subscriber reports, and bad input fails fast with a one-line error.

use std::process::Command;
use std::time::{Duration, Instant};

use sk2_testkit::background::BackgroundJob;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kinect-bench"))
}

/// Runs `kinect-bench` with tiny windows on `stacks` (the `raw` baseline always runs too) and
/// `extra_args`, tagged with [`RUN_TAG_ENV`]; checks that it succeeded and left no child running,
/// and returns its stdout.
fn tiny_run(stacks: &str, extra_args: &[&str]) -> String {
    let output = bench()
        .args([
            "--quick",
            "--window-seconds",
            "0.3",
            "--stall-seconds",
            "0.3",
            "--capacity",
            "3",
            // One latency run per stack: the capacity scenario already has several subscribers.
            "--latency-subscribers",
            "1",
            "--stacks",
            stacks,
        ])
        .args(extra_args)
        .env(RUN_TAG_ENV, stacks)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        role_processes(Some(stacks)),
        Vec::<u32>::new(),
        "children left running"
    );
    stdout.into_owned()
}

/// A [`tiny_run`] on `stacks`: each `(scenario, stack)` row shows frames published.
///
/// The stacks are split over three tests, which the harness runs at the same time: most of a
/// scenario is waiting (child start-up, the window), so runs side by side take little longer
/// than one.
fn tiny_run_measures(stacks: &str, rows: &[(&str, &str)]) {
    let stdout = tiny_run(stacks, &[]);
    for &(scenario, stack) in rows {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(&format!("| {scenario} | {stack} |")))
            .unwrap_or_else(|| panic!("no {scenario}/{stack} row in\n{stdout}"));
        // Frames flowed: the "published" column is a positive count.
        let published: u64 = row.split('|').nth(6).unwrap().trim().parse().unwrap();
        assert!(published > 0, "{row}");
    }
    // Non-baseline rows carry ratios to the baseline.
    assert!(stdout.contains("x)"), "{stdout}");
}

#[test]
fn a_tiny_run_measures_every_scenario_for_the_server_stacks() {
    tiny_run_measures(
        "server-sk2,server-v2-rvl",
        &[
            ("latency", "raw"),
            ("throughput", "raw"),
            ("capacity", "raw"),
            ("stalled", "raw"),
            ("latency", "server-sk2"),
            ("throughput", "server-sk2"),
            ("stalled", "server-sk2"),
            ("latency", "server-v2-rvl"),
            ("stalled", "server-v2-rvl"),
        ],
    );
}

#[test]
fn a_tiny_run_measures_every_scenario_for_the_sk2_and_rvl_codec_stacks() {
    tiny_run_measures(
        "sk2-pub,v2-rvl-pub",
        &[
            ("latency", "raw"),
            ("latency", "sk2-pub"),
            ("throughput", "sk2-pub"),
            ("stalled", "sk2-pub"),
            ("latency", "v2-rvl-pub"),
        ],
    );
}

#[test]
fn a_tiny_run_measures_every_scenario_for_the_medans_codec_stack() {
    tiny_run_measures(
        "v2-medans-pub",
        &[
            ("latency", "raw"),
            ("latency", "v2-medans-pub"),
            ("capacity", "v2-medans-pub"),
            ("stalled", "v2-medans-pub"),
        ],
    );
}

/// Set in the environment of a tiny run, which its children inherit: tells them from the children
/// of the other run going on at the same time.
const RUN_TAG_ENV: &str = "SK2_BENCH_TEST_RUN";

/// Pids of live `kinect-bench publish|subscribe` processes of this build: those started by the
/// tiny run tagged `tag`, or with `None` those of a run with no tag at all (started by a test that
/// runs `kinect-bench` on its own).
fn role_processes(tag: Option<&str>) -> Vec<u32> {
    let tag_prefix = format!("{RUN_TAG_ENV}=");
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_kinect-bench")).unwrap();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let same_exe = std::fs::read_link(entry.path().join("exe")).is_ok_and(|e| e == exe);
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let role = cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == b"publish" || arg == b"subscribe");
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let run_tag = environ
            .split(|&b| b == 0)
            .find_map(|variable| variable.strip_prefix(tag_prefix.as_bytes()));
        if same_exe && role && run_tag == tag.map(str::as_bytes) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn an_unusable_corpus_directory_fails_at_once_with_one_line() {
    let start = Instant::now();
    let output = bench()
        .args(["--quick", "--corpus", "/nonexistent-corpus-dir"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(start.elapsed() < Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent-corpus-dir"), "{stderr}");
}

#[test]
fn kinect_bench_answers_version() {
    let output = bench().arg("--version").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("kinect-bench {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_run_in_the_background_stops_on_sigint_and_sigterm_with_its_children() {
    for signal in ["INT", "TERM"] {
        // Started as a script starts it: SIGINT is ignored in a background job of `sh`.
        let mut job = BackgroundJob::start(
            env!("CARGO_BIN_EXE_kinect-bench"),
            &[
                "--quick",
                "--stacks",
                "server-sk2",
                "--window-seconds",
                "60",
            ],
        );
        assert!(
            job.wait_for_line(Duration::from_secs(30), |line| line
                .starts_with("kinect-bench: latency"))
                .is_some(),
            "{:#?}",
            job.transcript
        );
        // Into the scenario: its processes started (and, most likely, the window open).
        let deadline = Instant::now() + Duration::from_secs(30);
        while role_processes(None).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_secs(1));
        let children = role_processes(None);
        assert!(
            !children.is_empty(),
            "no scenario started: {:#?}",
            job.transcript
        );
        let stopped = job
            .signal_and_wait(signal, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("still running after SIG{signal}: {:#?}", job.transcript));
        // 130: stopped before the end, as documented; not killed by the signal.
        assert_eq!(stopped.status.code(), Some(130), "{:#?}", job.transcript);
        assert!(
            job.transcript
                .iter()
                .any(|line| line.contains("interrupted")),
            "{:#?}",
            job.transcript
        );
        let left: Vec<u32> = role_processes(None)
            .into_iter()
            .filter(|pid| children.contains(pid))
            .collect();
        assert!(left.is_empty(), "children left running: {left:?}");
        println!("kinect-bench SIG{signal}: stopped in {:?}", stopped.elapsed);
    }
}

/// The Zenoh stack beside the direct one, and the fan-out, in a build with the feature.
#[cfg(feature = "zenoh")]
#[test]
fn a_tiny_run_measures_the_zenoh_stack_and_the_fanout() {
    let stdout = tiny_run(
        "zenoh-v2-medhuf",
        &["--fanout", "--fanout-subscribers", "1,2"],
    );
    for scenario in ["latency", "throughput", "capacity", "stalled"] {
        assert!(
            stdout.contains(&format!("| {scenario} | zenoh-v2-medhuf |")),
            "no {scenario} row in\n{stdout}"
        );
    }
    // Two fan-out rows per path, each with bytes counted.
    let fanout: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| bridge ->"))
        .collect();
    assert_eq!(fanout.len(), 4, "{stdout}");
    for row in fanout {
        let bytes: u64 = row.split('|').nth(4).unwrap().trim().parse().unwrap();
        assert!(bytes > 0, "{row}");
    }
}

/// Without the feature, asking for Zenoh fails at once with one line.
#[cfg(not(feature = "zenoh"))]
#[test]
fn the_zenoh_stack_without_the_feature_fails_at_once() {
    let started = Instant::now();
    let output = bench()
        .args(["--quick", "--stacks", "zenoh-v2-medhuf"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--features zenoh") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
