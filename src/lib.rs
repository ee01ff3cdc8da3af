//! Shared glue for the `kinect-*` binaries. The product lives in the `crates/` libraries; the
//! binaries parse flags, call those libraries and report errors, and this is what they share.

use std::io::IsTerminal;

pub mod authorized_keys;
pub mod browse;
pub mod keys;
pub mod record_progress;
#[cfg(feature = "zenoh")]
pub mod zenoh_browse;
pub mod zenoh_flags;

/// Logs to stderr at `default_level` unless `RUST_LOG` says otherwise, in colour only on a
/// terminal (so logs piped to a file or a test harness carry no escape codes).
pub fn init_logging(default_level: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Writes the start-up banner of a long-running service (its endpoints, for people and scripts)
/// to stdout, at once, and never fails: a service must keep serving when whoever started it has
/// closed the pipe it reads the banner from (`println!` would panic on that broken pipe and take
/// the whole process down).
pub fn print_banner<I, S>(lines: I)
where
    I: IntoIterator<Item = S>,
    S: std::fmt::Display,
{
    if let Err(error) = write_lines(&mut std::io::stdout().lock(), lines) {
        tracing::warn!(%error, "cannot print the start-up banner on stdout; serving anyway");
    }
}

/// A channel that receives `()` when the process gets SIGINT, SIGTERM or SIGHUP: a long-running
/// tool waits on it, then shuts down in order and exits 0.
///
/// The handler is installed whatever the signals' disposition was at start. That matters: a
/// script's background job (`kinect-view & ...`) starts with SIGINT *ignored* (POSIX shells do
/// that for asynchronous lists), so a tool that relied on the default action would ignore
/// `kill -INT` for good. (`ctrlc::set_handler` replaces an ignored disposition; its
/// `try_set_handler` would keep it.) Call it once per process, before starting threads that
/// hold resources, so a signal that arrives during start-up is not lost.
pub fn stop_signal() -> anyhow::Result<crossbeam_channel::Receiver<()>> {
    use anyhow::Context as _;
    // One slot: a second signal while shutting down changes nothing.
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .context("installing the SIGINT / SIGTERM handler")?;
    Ok(stop_rx)
}

/// Whether `error` comes from writing to a pipe whose reader has gone (`kinect-codec DIR | head`):
/// a command-line tool then stops quietly with success, as Unix filters do, instead of reporting
/// (or, with `println!`, panicking on) the broken pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn write_lines<I, S>(out: &mut impl std::io::Write, lines: I) -> std::io::Result<()>
where
    I: IntoIterator<Item = S>,
    S: std::fmt::Display,
{
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader has gone away, like stdout after the pipe's reader exited.
    struct BrokenPipe;

    impl std::io::Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn banner_lines_are_written_one_per_line() {
        let mut out = Vec::new();
        write_lines(&mut out, ["name: a", "control: tcp://127.0.0.1:1"]).unwrap();
        assert_eq!(out, b"name: a\ncontrol: tcp://127.0.0.1:1\n");
    }

    #[test]
    fn a_broken_pipe_is_an_error_not_a_panic() {
        let error = write_lines(&mut BrokenPipe, ["control: x"]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_broken_pipe_is_recognised_through_context_and_nothing_else_is() {
        let error = write_lines(&mut BrokenPipe, ["x"]).unwrap_err();
        let wrapped = anyhow::Error::new(error).context("printing the table");
        assert!(is_broken_pipe(&wrapped));
        let other = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(!is_broken_pipe(&other));
        assert!(!is_broken_pipe(&anyhow::anyhow!(
            "broken pipe, said in words"
        )));
    }
}
