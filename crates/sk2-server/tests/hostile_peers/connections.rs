//! Connections: a control peer past the limit, and a storm of connections opened and closed.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sk2_proto::control::Reply;
use sk2_server::Server;

use super::{config, control_client, ping, port_of, serial, start_server, RawPeer};

/// Connections the connection-storm peer opens and closes.
const CONNECTION_STORM: usize = 1_000;

/// Descriptors the process may hold above its baseline after the storm: libzmq closes sessions
/// asynchronously, and the well-behaved client's own socket is open.
const FD_SLACK: usize = 8;

/// docs/protocol.md, 7.1: a peer past the limit gets, instead of READY, the ERROR command whose
/// body is `05 45 52 52 4F 52 03 34 30 30`, then the connection closes.
#[test]
fn a_control_peer_past_the_limit_gets_the_error_command_of_the_spec_and_is_disconnected(
) -> Result<()> {
    let _serial = serial();
    let mut config = config();
    config.max_control_peers = 1;
    let mut server = Server::new(config);
    server.start()?;
    let port = port_of(&server.control_endpoint().context("no control endpoint")?)?;
    let mut admitted = RawPeer::connect(port, "REQ")?;
    ensure!(matches!(admitted.ping()?, Reply::Pong), "no pong");

    let (mut refused, flags, body) = RawPeer::handshake(port, "REQ")?;
    ensure!(flags == 0x04, "not a short command frame: {flags:#x}");
    ensure!(
        body == [0x05, 0x45, 0x52, 0x52, 0x4F, 0x52, 0x03, 0x34, 0x30, 0x30],
        "not ERROR 400: {body:02x?}"
    );
    ensure!(
        refused.closed_within(Duration::from_secs(2))?,
        "the refused peer's connection stayed open"
    );
    ensure!(server.refused_control_peers() == 1);
    ensure!(
        matches!(admitted.ping()?, Reply::Pong),
        "the admitted peer lost its pongs"
    );
    Ok(())
}

/// Open file descriptors of this process (Linux).
fn open_fds() -> Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

#[test]
fn a_thousand_connections_opened_and_closed_leave_no_descriptors_behind() -> Result<()> {
    if !sk2_testkit::alone_in_process(
        "a_thousand_connections_opened_and_closed_leave_no_descriptors_behind",
    ) {
        return Ok(());
    }
    let _serial = serial();
    let (server, port) = start_server(Vec::new())?;
    let context = zmq::Context::new();
    let client = control_client(&context, port)?;
    ping(&client)?;
    let baseline = open_fds()?;

    for i in 0..CONNECTION_STORM {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).with_context(|| format!("connection {i}"))?;
        // Every other peer leaves in the middle of the greeting.
        if i % 2 == 0 {
            stream.write_all(&[0xFF, 0, 0, 0])?;
        }
    }
    ping(&client)?;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fds = open_fds()?;
        if fds <= baseline + FD_SLACK {
            eprintln!("{fds} descriptors open after the storm, {baseline} before");
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{fds} descriptors open, {baseline} before the storm"
        );
        thread::sleep(Duration::from_millis(50));
    }
    ping(&client)?;
    drop(server);
    Ok(())
}
