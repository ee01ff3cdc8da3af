//! `kinect-view`'s command line, without a browser: the address it prints and its errors.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kinect-view");

#[test]
fn a_listen_address_in_use_is_a_one_line_error_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(BIN)
        .args(["--synthetic", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("kinect-view: cannot listen on {addr}: ")),
        "{stderr}"
    );
}

#[test]
fn it_prints_the_pages_address_first_and_serves_it() {
    let mut child = Command::new(BIN)
        .args(["--synthetic", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("kinect-view: open ")
        .unwrap_or_default()
        .to_owned();
    let result = std::panic::catch_unwind(|| {
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "{line:?}"
        );
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read, Write};
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut page = String::new();
        stream.read_to_string(&mut page).unwrap();
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("<title>kinect-view</title>"));
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn a_bad_endpoint_is_reported_and_retried_not_fatal() {
    // Not a tcp:// endpoint: the viewer keeps serving the page and says why on the terminal.
    let mut child = Command::new(BIN)
        .args(["--connect", "udp://nowhere", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = None;
    for line in stderr.lines().map_while(Result::ok) {
        if line.contains("cannot connect to udp://nowhere") {
            seen = Some(line);
            break;
        }
    }
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.is_some(), "no error line about the endpoint");
    assert!(still_running, "a bad endpoint must not end the viewer");
}
