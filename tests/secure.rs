//! End-to-end tests of CurveZMQ in the binaries (docs/security.md): `kinect-keygen`, and
//! `kinect-server --secure` and `kinect-browse --server-key` with good and bad key files.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::KinectServer;
use sk2_testkit::free_port;

const SERVER: &str = env!("CARGO_BIN_EXE_kinect-server");
const KEYGEN: &str = env!("CARGO_BIN_EXE_kinect-keygen");
const BROWSE: &str = env!("CARGO_BIN_EXE_kinect-browse");
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `kinect-keygen` with `XDG_CONFIG_HOME` set to `config_home`.
fn keygen(config_home: &Path, args: &[&str]) -> Output {
    Command::new(KEYGEN)
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .output()
        .unwrap()
}

/// Runs `kinect-server --secure` with `args` until it exits by itself (a start-up failure).
fn failing_server(config_home: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(SERVER)
        .args(["--no-announce", "--bind", "127.0.0.1", "--secure"])
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kinect-server started despite a bad key file");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A running `kinect-server --secure` with its control endpoint on `port`, its keys in
/// `XDG_CONFIG_HOME` = `config_home`, and `args`.
fn secure_server(config_home: &Path, port: u16, args: &[&OsStr]) -> KinectServer {
    let port = port.to_string();
    let mut all: Vec<&OsStr> = vec![
        "--secure".as_ref(),
        "--control-port".as_ref(),
        port.as_ref(),
    ];
    all.extend_from_slice(args);
    KinectServer::start_with_env(&all, &[("XDG_CONFIG_HOME", config_home.as_os_str())])
}

/// The error output is exactly one line naming `needle`; the status is 1.
fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

#[test]
fn keygen_writes_a_private_secret_file_and_refuses_to_overwrite_it() {
    let home = tempfile::tempdir().unwrap();
    let output = keygen(home.path(), &[]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let public = stdout
        .lines()
        .find_map(|line| line.strip_prefix("public key: "))
        .expect("the public key is printed");
    assert_eq!(public.len(), 40);
    let dir = home.path().join("streamkinect2");
    let secret = dir.join("server.key_secret");
    let text = std::fs::read_to_string(dir.join("server.key")).unwrap();
    assert!(text.contains(public) && !text.contains("secret-key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = keygen(home.path(), &[]);
    assert_one_line_error(&again, "exists already");
    assert!(keygen(home.path(), &["--client"]).status.success());
    assert!(dir.join("client.key_secret").exists());
}

#[test]
fn missing_corrupt_or_readable_key_files_stop_the_server_with_one_line() {
    let home = tempfile::tempdir().unwrap();
    assert_one_line_error(&failing_server(home.path(), &[]), "kinect-keygen");

    assert!(keygen(home.path(), &[]).status.success());
    let secret = home.path().join("streamkinect2/server.key_secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_one_line_error(&failing_server(home.path(), &[]), "chmod 600");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let corrupt = home.path().join("corrupt.key_secret");
    std::fs::write(&corrupt, "metadata\ncurve\n    public-key = \"short\"\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&corrupt, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let corrupt_arg = corrupt.to_str().unwrap();
    assert_one_line_error(
        &failing_server(home.path(), &["--key-file", corrupt_arg]),
        "not a CURVE key file",
    );
    let empty = tempfile::tempdir().unwrap();
    assert_one_line_error(
        &failing_server(
            home.path(),
            &["--authorized-keys", empty.path().to_str().unwrap()],
        ),
        "no client key",
    );
}

#[test]
fn a_secure_server_says_original_clients_cannot_connect_and_browse_needs_its_key() {
    let home = tempfile::tempdir().unwrap();
    assert!(keygen(home.path(), &[]).status.success());
    let port = free_port();
    let server = secure_server(home.path(), port, &[]);
    let mut banner = Vec::new();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !banner
        .iter()
        .any(|line: &String| line.starts_with("device "))
    {
        let line = server
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no device line; got {banner:?}"));
        banner.push(line);
    }
    assert!(
        banner
            .iter()
            .any(|line| line.contains("original (2014) clients cannot connect")),
        "{banner:?}"
    );
    let key_file = home.path().join("streamkinect2/server.key");
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let browse = |extra: &[&str]| {
        Command::new(BROWSE)
            .args(["--once", "--timeout", "30", "--connect", &endpoint])
            .args(extra)
            .env("XDG_CONFIG_HOME", home.path())
            .output()
            .unwrap()
    };
    let started = Instant::now();
    let keyless = browse(&[]);
    assert_one_line_error(&keyless, "requires CurveZMQ");
    // Told at once, not after the 30 s timeout (a loaded machine takes seconds to start it).
    assert!(started.elapsed() < Duration::from_secs(15), "waited out");
    let keyed = browse(&["--server-key", key_file.to_str().unwrap()]);
    assert!(
        keyed.status.success(),
        "{}",
        String::from_utf8_lossy(&keyed.stderr)
    );
    assert!(String::from_utf8_lossy(&keyed.stdout).contains("ping"));
}

#[test]
fn keys_added_to_or_removed_from_the_authorised_directory_apply_without_a_restart() {
    use sk2_client::{Client, ClientConfig};
    use streamkinect2::keys::{generate, read_public_key, write_key_pair};

    let home = tempfile::tempdir().unwrap();
    assert!(keygen(home.path(), &[]).status.success());
    let server_key = read_public_key(
        home.path()
            .join("streamkinect2/server.key")
            .to_str()
            .unwrap(),
    )
    .unwrap();
    let authorized = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let (a, b) = (generate().unwrap(), generate().unwrap());
    write_key_pair(secrets.path(), "a", &a, false).unwrap();
    write_key_pair(secrets.path(), "b", &b, false).unwrap();
    std::fs::copy(
        secrets.path().join("a.key"),
        authorized.path().join("a.key"),
    )
    .unwrap();

    let port = free_port();
    let _server = secure_server(
        home.path(),
        port,
        &["--authorized-keys".as_ref(), authorized.path().as_os_str()],
    );
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let connect = |keys: &sk2_client::KeyPair, timeout: Duration| {
        let config = ClientConfig::default()
            .with_server_key(server_key)
            .with_client_keys(keys.clone());
        Client::connect_blocking(&endpoint, config, timeout)
    };

    let first = connect(&a, STARTUP_TIMEOUT).expect("a is authorised");
    assert!(connect(&b, Duration::from_secs(2)).is_err(), "b is not yet");

    // Revoke a, authorise b: within a few of the server's 2 s looks at the directory.
    std::fs::remove_file(authorized.path().join("a.key")).unwrap();
    std::fs::copy(
        secrets.path().join("b.key"),
        authorized.path().join("b.key"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        match connect(&b, Duration::from_secs(2)) {
            Ok(client) => break client,
            Err(error) => assert!(Instant::now() < deadline, "b never admitted: {error}"),
        }
    };
    assert!(second.ping().is_ok());
    assert!(
        connect(&a, Duration::from_secs(2)).is_err(),
        "a was revoked"
    );
    // A connection made before the revocation lives on, as an SSH session does.
    assert!(first.ping().is_ok());
}
