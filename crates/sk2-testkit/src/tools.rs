//! Tests that need a program the machine may lack (a browser, `ip`, `python3`): they skip loudly
//! on a developer's machine and fail in CI.
//!
//! `cargo test --workspace` must pass on a fresh machine with only the Rust toolchain and a C/C++
//! compiler, yet a test must never pass in silence. So a test that needs, say, Chromium asks
//! [`tools_present`] first: when a program is missing it prints one line on stderr (the test,
//! what is missing, the command that installs it) and the test returns. With
//! [`REQUIRE_TOOLS_ENV`]`=1`, as `.ci/run` sets it, the same absence fails the test instead.
//!
//! ```no_run
//! use sk2_testkit::tools::{tools_present, CHROMIUM};
//!
//! #[test]
//! fn page_shows_the_frame() {
//!     if !tools_present("page_shows_the_frame", CHROMIUM) {
//!         return;
//!     }
//!     // ... drive the browser ...
//! }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

/// Set to `1` to make a missing tool fail its tests instead of skipping them (`.ci/run` does).
pub const REQUIRE_TOOLS_ENV: &str = "SK2_REQUIRE_TOOLS";

/// A group of programs some tests need, and how to get them.
#[derive(Debug, Clone, Copy)]
pub struct Tools {
    /// What the tests use it for, for the skip line.
    pub purpose: &'static str,
    /// Program names looked up on `PATH`.
    pub programs: &'static [&'static str],
    /// The command that installs them on Debian/Ubuntu.
    pub install: &'static str,
}

/// Headless Chromium driven through WebDriver (kinect-view's end-to-end tests).
pub const CHROMIUM: Tools = Tools {
    purpose: "headless Chromium for kinect-view's end-to-end tests",
    programs: &["chromium", "chromedriver"],
    install: "apt-get install chromium chromium-driver",
};

/// `ip` (iproute2) and `unshare` (util-linux), which make private network namespaces.
pub const NETNS: Tools = Tools {
    purpose: "a private network namespace for mDNS",
    programs: &["unshare", "ip"],
    install: "apt-get install iproute2 util-linux",
};

/// Python 3 (standard library only) for the reference decoders written from the spec.
pub const PYTHON3: Tools = Tools {
    purpose: "the Python reference decoder",
    programs: &["python3"],
    install: "apt-get install python3",
};

/// Whether every program of `tools` is on `PATH`.
///
/// When one is missing: panics if [`REQUIRE_TOOLS_ENV`] is `1`; otherwise prints one line on
/// stderr naming `test_name`, the missing programs and the install command, and returns `false`
/// (the caller then returns).
pub fn tools_present(test_name: &str, tools: Tools) -> bool {
    let missing: Vec<&str> = tools
        .programs
        .iter()
        .copied()
        .filter(|program| find_program(program).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip_or_fail(
        test_name,
        &format!(
            "{} not on PATH ({}); install: `{}`",
            missing.join(" and "),
            tools.purpose,
            tools.install
        ),
    )
}

/// Reports that `test_name` cannot run, for `reason` (which says how to fix it): panics if
/// [`REQUIRE_TOOLS_ENV`] is `1`, else prints one `SKIPPED` line on stderr and returns `false`.
pub fn skip_or_fail(test_name: &str, reason: &str) -> bool {
    // Straight to the stderr stream, not `eprintln!`: the test harness captures what `eprintln!`
    // prints and shows it only for failing tests, and a skip must be seen.
    report_missing(test_name, reason, tools_required(), &mut std::io::stderr())
}

fn report_missing(test_name: &str, reason: &str, required: bool, out: &mut impl Write) -> bool {
    if required {
        panic!("{test_name} cannot run: {reason} ({REQUIRE_TOOLS_ENV}=1 makes this a failure)");
    }
    let _ = writeln!(
        out,
        "SKIPPED {test_name}: {reason}; {REQUIRE_TOOLS_ENV}=1 makes this a failure, as in CI"
    );
    false
}

/// Whether private network namespaces can be made here: [`NETNS`]'s programs are on `PATH` and
/// `unshare --net --map-root-user` works (a container may forbid user namespaces). Skips or fails
/// like [`tools_present`] otherwise. The probe runs once per test process.
pub fn netns_available(test_name: &str) -> bool {
    static PROBE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if !tools_present(test_name, NETNS) {
        return false;
    }
    let probe = PROBE.get_or_init(|| {
        let output = std::process::Command::new("unshare")
            .args(["--net", "--map-root-user", "ip", "link", "set", "lo", "up"])
            .output()
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    });
    match probe {
        Ok(()) => true,
        Err(error) => skip_or_fail(
            test_name,
            &format!(
                "`unshare --net --map-root-user` cannot make a private network namespace \
                 ({error}); allow unprivileged user namespaces (in a container: run it with \
                 user namespaces allowed)"
            ),
        ),
    }
}

/// Whether a missing tool is a failure here ([`REQUIRE_TOOLS_ENV`] is `1`).
pub fn tools_required() -> bool {
    std::env::var_os(REQUIRE_TOOLS_ENV).is_some_and(|value| value == "1")
}

/// The path of the executable `program` on `PATH`, like `command -v`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_on_path_is_found_and_a_made_up_one_is_not() {
        // `sh` is on every PATH these tests run with (cargo itself needs a shell for build scripts).
        assert!(find_program("sh").is_some_and(|path| path.is_absolute()));
        assert!(find_program("sk2-no-such-program").is_none());
    }

    #[test]
    fn present_tools_let_the_test_run() {
        let shell = Tools {
            purpose: "a shell",
            programs: &["sh"],
            install: "apt-get install dash",
        };
        assert!(tools_present("present_tools_let_the_test_run", shell));
    }

    #[test]
    fn a_missing_tool_skips_with_one_line_naming_the_test_and_the_install_command() {
        let mut out = Vec::new();
        let reason = "sk2-no-such-program not on PATH; install: `apt-get install sk2-nothing`";
        assert!(!report_missing("some_test", reason, false, &mut out));
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.starts_with("SKIPPED some_test: "), "{out}");
        assert!(out.contains("apt-get install sk2-nothing"), "{out}");
    }

    #[test]
    fn a_missing_tool_fails_when_tools_are_required() {
        let reason = "sk2-no-such-program not on PATH; install: `apt-get install sk2-nothing`";
        let panic =
            std::panic::catch_unwind(|| report_missing("some_test", reason, true, &mut Vec::new()))
                .expect_err("a required tool's absence panics");
        let message = panic
            .downcast_ref::<String>()
            .expect("the panic carries a formatted message");
        assert!(message.contains("some_test cannot run"), "{message}");
        assert!(message.contains("apt-get install sk2-nothing"), "{message}");
    }
}
