//! Malformed input on the control endpoint: a flood of bad requests, a frame header announcing
//! 1 TiB.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use sk2_proto::control::{Reply, CODE_BAD_REQUEST};

use super::{control_client, join_pinger, ping, serial, spawn_pinger, start_server, RawPeer};

/// Malformed requests the flooding client sends: enough to show memory and latency stay flat.
const FLOOD_REQUESTS: usize = 10_000;

/// The malformed requests of protocol.md, section 3, one of each kind, cycled through by the flood.
fn malformed_requests() -> Vec<Vec<Vec<u8>>> {
    vec![
        vec![vec![0x7f]],                                 // unknown type
        vec![vec![0x01, 0x01]],                           // 2-byte type frame
        vec![vec![]],                                     // empty type frame
        vec![vec![0x01], b"{}".to_vec(), b"{}".to_vec()], // 3 frames
        vec![vec![0x03], vec![0xff, 0xfe]],               // invalid UTF-8
        vec![vec![0x03], b"{\"unterminated".to_vec()],    // invalid JSON
        vec![vec![0x02]],                                 // pong sent by a client
        vec![vec![0x04], br#"{"version":1}"#.to_vec()],   // me sent by a client
    ]
}

#[test]
fn ten_thousand_malformed_requests_each_get_one_400_while_pings_keep_getting_pongs() -> Result<()> {
    let _serial = serial();
    let (server, port) = start_server(Vec::new())?;
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = spawn_pinger(port, Arc::clone(&stop));

    // A DEALER pipelines requests without waiting for replies, as fast as libzmq takes them. To
    // a REP socket each request is an empty delimiter frame and then the message.
    let context = zmq::Context::new();
    let flood = context.socket(zmq::DEALER)?;
    flood.set_linger(0)?;
    flood.connect(&format!("tcp://127.0.0.1:{port}"))?;
    let requests = malformed_requests();
    let (mut sent, mut replies) = (0, 0);
    // Requests in flight at most. The server drops replies a peer leaves unread past the pipes'
    // high-water marks (that is how a never-reading peer is kept from costing memory, tested
    // below), so "one reply each" holds for a flood that keeps reading; 100 pipelined requests
    // keep the server's queue full all the same.
    const MAX_IN_FLIGHT: usize = 100;
    let deadline = Instant::now() + Duration::from_secs(120);
    while replies < FLOOD_REQUESTS {
        ensure!(
            Instant::now() < deadline,
            "{replies} replies to {sent} requests"
        );
        let events = if sent < FLOOD_REQUESTS && sent - replies < MAX_IN_FLIGHT {
            zmq::POLLIN | zmq::POLLOUT
        } else {
            zmq::POLLIN
        };
        let mut items = [flood.as_poll_item(events)];
        zmq::poll(&mut items, 1000)?;
        if items[0].is_writable() && sent < FLOOD_REQUESTS && sent - replies < MAX_IN_FLIGHT {
            let mut message = vec![Vec::new()];
            message.extend(requests[sent % requests.len()].iter().cloned());
            flood.send_multipart(message, 0)?;
            sent += 1;
        }
        if items[0].is_readable() {
            let frames = flood.recv_multipart(0)?;
            ensure!(
                frames.first().is_some_and(Vec::is_empty),
                "no delimiter: {frames:?}"
            );
            match Reply::decode(&frames[1..])? {
                Reply::Error(error) if error.code == Some(CODE_BAD_REQUEST) => replies += 1,
                other => bail!("reply {replies}: expected a 400 error, got {other:?}"),
            }
        }
    }
    // Exactly one reply each: nothing more arrives.
    ensure!(
        flood.poll(zmq::POLLIN, 300)? == 0,
        "a request got more than one reply"
    );
    stop.store(true, Ordering::Release);
    join_pinger(pinger)?;
    drop(server);
    Ok(())
}

#[test]
fn a_frame_header_announcing_one_tebibyte_gets_the_peer_dropped_and_the_server_keeps_serving(
) -> Result<()> {
    let _serial = serial();
    let (server, port) = start_server(Vec::new())?;
    let mut peer = RawPeer::connect(port, "REQ")?;
    ensure!(peer.ping()? == Reply::Pong, "the raw peer's ping failed");

    // Delimiter, then a frame whose 8-byte length says 2^40 bytes, and a few of them.
    peer.write_frame(0x01, &[])?;
    peer.stream.write_all(&[0x02])?; // 0x02: long frame, last of the message
    peer.stream.write_all(&(1u64 << 40).to_be_bytes())?;
    peer.stream.write_all(&[0x01; 1024])?;
    ensure!(
        peer.closed_within(Duration::from_secs(5))?,
        "the server kept the connection of a peer announcing a 1 TiB frame"
    );

    let context = zmq::Context::new();
    let client = control_client(&context, port)?;
    for _ in 0..3 {
        ping(&client)?;
    }
    drop(server);
    Ok(())
}
