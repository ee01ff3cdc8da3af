//! CPU time and memory of a process, read from Linux `/proc`.
//!
//! `/proc/<pid>/stat` counts user and system time of all the process's threads in clock ticks of
//! `USER_HZ`, which the kernel reports as 100 per second on every Linux architecture (the ABI fixes
//! it, whatever the kernel's internal `HZ`), so the resolution is 10 ms. The harness divides by
//! hundreds of frames, so that is enough.

use anyhow::{bail, Context, Result};

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, fixed by the Linux ABI).
pub const USER_HZ: f64 = 100.0;

/// User + system CPU seconds used so far by process `pid` (all threads).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / USER_HZ)
}

/// User + system CPU seconds used so far by this process.
pub fn own_cpu_seconds() -> Result<f64> {
    cpu_seconds(std::process::id())
}

/// `utime + stime` from the text of `/proc/<pid>/stat`.
fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    // The command name (field 2) is in parentheses and may contain spaces or ')': the fields
    // after the last ')' are unambiguous. They start at field 3 (state); utime is field 14.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        bail!("no ')' in /proc stat line");
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .with_context(|| format!("stat line has no field {n}"))?
            .parse::<u64>()
            .with_context(|| format!("stat field {n} is not a number"))
    };
    Ok(field(14)? + field(15)?)
}

/// Memory figures of process `pid` in KiB: `(VmRSS, VmHWM)`, current and peak resident set.
pub fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_rss_kib(&status)
}

fn parse_rss_kib(status: &str) -> Result<(u64, u64)> {
    let value = |key: &str| -> Result<u64> {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .with_context(|| format!("no {key} in /proc status"))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("{key} is not a number of kB"))
    };
    Ok((value("VmRSS:")?, value("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let line = "1234 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 37 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_cpu_ticks(line).unwrap(), 287);
        assert!(parse_cpu_ticks("garbage").is_err());
        assert!(parse_cpu_ticks("1 (x) S 1").is_err());
    }

    #[test]
    fn rss_lines_are_read_in_kib() {
        let status = "Name:\tx\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(parse_rss_kib(status).unwrap(), (40000, 51234));
        assert!(parse_rss_kib("Name: x\n").is_err());
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        // Burn a little CPU so the counter is very likely above zero even at 10 ms resolution.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(own_cpu_seconds().unwrap() > 0.0);
        let (rss, hwm) = rss_kib(std::process::id()).unwrap();
        assert!(rss > 0 && hwm >= rss);
    }
}
