//! End-to-end runs of the real `kinect-bench` binary with tiny windows: every scenario runs,
//! every subscriber reports, and bad input fails fast with a one-line error.

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sk2_testkit::background::BackgroundJob;

/// Held by the tests that count this build's role processes, so one never counts another's.
static ROLE_PROCESSES: Mutex<()> = Mutex::new(());

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kinect-bench"))
}

#[test]
fn a_tiny_run_measures_every_scenario_for_every_stack_and_leaves_no_child_behind() {
    let _serial = ROLE_PROCESSES
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let output = bench()
        .args([
            "--quick",
            "--window-seconds",
            "0.5",
            "--stall-seconds",
            "0.5",
            "--capacity",
            "3",
            "--stacks",
            "server-sk2,server-v2-rvl,sk2-pub,v2-rvl-pub,v2-medans-pub",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for (scenario, stack) in [
        ("latency", "raw"),
        ("throughput", "raw"),
        ("capacity", "raw"),
        ("stalled", "raw"),
        ("latency", "sk2-pub"),
        ("throughput", "sk2-pub"),
        ("stalled", "sk2-pub"),
        ("latency", "server-sk2"),
        ("throughput", "server-sk2"),
        ("stalled", "server-sk2"),
        ("latency", "server-v2-rvl"),
        ("stalled", "server-v2-rvl"),
        ("latency", "v2-rvl-pub"),
        ("latency", "v2-medans-pub"),
    ] {
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
    assert_eq!(role_processes(), Vec::<u32>::new(), "children left running");
}

/// Pids of live `kinect-bench publish|subscribe` processes of this build.
fn role_processes() -> Vec<u32> {
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
        if same_exe && role {
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
    let _serial = ROLE_PROCESSES
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
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
        while role_processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_secs(1));
        let children = role_processes();
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
        let left: Vec<u32> = role_processes()
            .into_iter()
            .filter(|pid| children.contains(pid))
            .collect();
        assert!(left.is_empty(), "children left running: {left:?}");
        println!("kinect-bench SIG{signal}: stopped in {:?}", stopped.elapsed);
    }
}
