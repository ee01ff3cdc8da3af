//! Helpers shared by the test modules of this binary.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;

/// Takes `child`'s piped stdout and forwards it, line by line, into the returned channel from a
/// thread of its own, so that tests can wait for a line with a timeout.
pub fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
