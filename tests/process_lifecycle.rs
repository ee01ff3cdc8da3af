//! Every tool answers `--version`, and every long-running tool stops gracefully (exit status 0)
//! on SIGINT and on SIGTERM within a second, also when a script started it in the background,
//! where the shell leaves SIGINT ignored. (kinect-bench, in crates/sk2-bench, is checked there.)

use std::time::Duration;

use sk2_testkit::background::BackgroundJob;

/// What the tools promise (README, `--help`): stopped within this of the signal.
const STOP_PROMISE: Duration = Duration::from_secs(1);
/// What the assertion allows: the promise plus room for a machine busy with other builds.
const STOP_ALLOWED: Duration = Duration::from_secs(5);
/// Time for a tool to start and print its first line (debug build, loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn every_tool_answers_version_with_its_name_and_the_package_version() {
    for (name, path) in [
        ("kinect-server", env!("CARGO_BIN_EXE_kinect-server")),
        ("kinect-browse", env!("CARGO_BIN_EXE_kinect-browse")),
        ("kinect-view", env!("CARGO_BIN_EXE_kinect-view")),
        ("kinect-codec", env!("CARGO_BIN_EXE_kinect-codec")),
        ("kinect-record", env!("CARGO_BIN_EXE_kinect-record")),
    ] {
        let output = std::process::Command::new(path)
            .arg("--version")
            .output()
            .unwrap();
        assert!(output.status.success(), "{name} --version: {output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout.trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION")),
            "{name}"
        );
    }
}

/// Starts `program args` as a script would, waits for the line `ready` matches, sends `signal`
/// and checks a clean exit within [`STOP_ALLOWED`]; returns the measured stop time.
fn stops_cleanly(
    program: &str,
    args: &[&str],
    ready: impl FnMut(&str) -> bool,
    signal: &str,
) -> Duration {
    let mut job = BackgroundJob::start(program, args);
    assert!(
        job.wait_for_line(START_TIMEOUT, ready).is_some(),
        "{program} did not start: {:#?}",
        job.transcript
    );
    let stopped = job
        .signal_and_wait(signal, STOP_ALLOWED)
        .unwrap_or_else(|| {
            panic!(
                "{program} still running {STOP_ALLOWED:?} after SIG{signal}: {:#?}",
                job.transcript
            )
        });
    assert!(
        stopped.status.success(),
        "{program} exited with {} after SIG{signal}: {:#?}",
        stopped.status,
        job.transcript
    );
    // Printed for the record (`--nocapture`): the promise is STOP_PROMISE.
    println!(
        "{program} SIG{signal}: stopped in {:?} (promise {STOP_PROMISE:?})",
        stopped.elapsed
    );
    stopped.elapsed
}

const SERVER_ARGS: &[&str] = &["--no-announce", "--bind", "127.0.0.1"];

/// Starts a `kinect-server` for a client to connect to; returns it (killed on drop) and its
/// control endpoint.
fn start_server() -> (BackgroundJob, String) {
    let mut server = BackgroundJob::start(env!("CARGO_BIN_EXE_kinect-server"), SERVER_ARGS);
    let control = server
        .wait_for_line(START_TIMEOUT, |line| line.starts_with("control: "))
        .expect("the server prints its control endpoint");
    let control = control["control: ".len()..].trim().to_owned();
    (server, control)
}

#[test]
fn kinect_server_in_the_background_stops_on_sigint_and_sigterm() {
    for signal in ["INT", "TERM"] {
        stops_cleanly(
            env!("CARGO_BIN_EXE_kinect-server"),
            SERVER_ARGS,
            |line| line.starts_with("device "),
            signal,
        );
    }
}

#[test]
fn kinect_view_in_the_background_stops_on_sigint_and_sigterm() {
    for signal in ["INT", "TERM"] {
        stops_cleanly(
            env!("CARGO_BIN_EXE_kinect-view"),
            &["--synthetic", "--listen", "127.0.0.1:0"],
            |line| line.contains("http://"),
            signal,
        );
    }
}

#[test]
fn kinect_view_connected_to_a_server_stops_on_sigint_and_sigterm() {
    let (_server, control) = start_server();
    for signal in ["INT", "TERM"] {
        stops_cleanly(
            env!("CARGO_BIN_EXE_kinect-view"),
            &["--connect", &control, "--listen", "127.0.0.1:0"],
            |line| line.contains("http://"),
            signal,
        );
    }
}

#[test]
fn kinect_record_in_the_background_stops_on_sigint_and_sigterm() {
    let (_server, control) = start_server();
    let dir = tempfile::tempdir().unwrap();
    for signal in ["INT", "TERM"] {
        let file = dir.path().join(format!("{signal}.mcap"));
        stops_cleanly(
            env!("CARGO_BIN_EXE_kinect-record"),
            &["--connect", &control, "-q", "-o", file.to_str().unwrap()],
            |line| line.contains("kinect-record: recording"),
            signal,
        );
    }
}

#[test]
fn kinect_browse_watching_in_the_background_stops_on_sigint_and_sigterm() {
    let (_server, control) = start_server();
    for signal in ["INT", "TERM"] {
        stops_cleanly(
            env!("CARGO_BIN_EXE_kinect-browse"),
            &["--connect", &control, "--json"],
            |line| line.contains("\"connected\""),
            signal,
        );
    }
}
