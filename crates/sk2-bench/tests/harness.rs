//! End-to-end runs of the real `kinect-bench` binary with tiny windows: every scenario runs,
//! every subscriber reports, and bad input fails fast with a one-line error.

use std::process::Command;
use std::time::{Duration, Instant};

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kinect-bench"))
}

/// Runs `kinect-bench` with tiny windows on `stacks` (the `raw` baseline always runs too) and
/// checks that each `(scenario, stack)` row shows frames published, and that no child is left.
///
/// The stacks are split over two tests, which the harness runs at the same time: most of a
/// scenario is waiting (child start-up, the window), so two runs side by side take little longer
/// than one.
fn tiny_run_measures(stacks: &str, rows: &[(&str, &str)]) {
    let output = bench()
        .args([
            "--quick",
            "--window-seconds",
            "0.5",
            "--stall-seconds",
            "0.5",
            "--capacity",
            "3",
            // One latency run per stack: the capacity scenario already has several subscribers.
            "--latency-subscribers",
            "1",
            "--stacks",
            stacks,
        ])
        .env(RUN_TAG_ENV, stacks)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
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
    assert_eq!(
        role_processes(stacks),
        Vec::<u32>::new(),
        "children left running"
    );
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
fn a_tiny_run_measures_every_scenario_for_the_codec_stacks() {
    tiny_run_measures(
        "sk2-pub,v2-rvl-pub,v2-medans-pub",
        &[
            ("latency", "raw"),
            ("latency", "sk2-pub"),
            ("throughput", "sk2-pub"),
            ("stalled", "sk2-pub"),
            ("latency", "v2-rvl-pub"),
            ("latency", "v2-medans-pub"),
        ],
    );
}

/// Set in the environment of a tiny run, which its children inherit: tells them from the children
/// of the other run going on at the same time.
const RUN_TAG_ENV: &str = "SK2_BENCH_TEST_RUN";

/// Pids of live `kinect-bench publish|subscribe` processes of this build started by the tiny run
/// tagged `tag`.
fn role_processes(tag: &str) -> Vec<u32> {
    let tagged = format!("{RUN_TAG_ENV}={tag}");
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
        let ours = environ
            .split(|&b| b == 0)
            .any(|variable| variable == tagged.as_bytes());
        if same_exe && role && ours {
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
