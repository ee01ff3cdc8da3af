//! Shared glue for the `kinect-*` binaries. The product lives in the `crates/` libraries; the
//! binaries parse flags, call those libraries and report errors, and this is what they share.

use std::io::IsTerminal;

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
