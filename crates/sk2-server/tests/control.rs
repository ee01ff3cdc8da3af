//! The control channel on the wire: a raw libzmq REQ client checks every byte and field.

use crate::common;

use common::{req, request, started_server};
use serde_json::Value;

#[test]
fn ping_gets_a_single_frame_pong() {
    let server = started_server();
    let context = zmq::Context::new();
    let socket = req(&context, &server.control_endpoint().unwrap());
    assert_eq!(request(&socket, &[&[0x01]]), vec![vec![0x02]]);
    // A payload on ping is accepted and ignored.
    assert_eq!(request(&socket, &[&[0x01], b"{}"]), vec![vec![0x02]]);
}

/// Any JSON the grammar allows, as protocol.md (section 3) and the original promise: a number
/// beyond `f64` and a lone surrogate escape are valid JSON; `NaN` is not.
#[test]
fn payloads_are_judged_by_the_json_grammar_alone() {
    let server = started_server();
    let context = zmq::Context::new();
    let socket = req(&context, &server.control_endpoint().unwrap());
    assert_eq!(request(&socket, &[&[0x01], b"1e999999"]), vec![vec![0x02]]);
    assert_eq!(
        request(&socket, &[&[0x01], br#""\ud800""#]),
        vec![vec![0x02]]
    );
    let me = request(&socket, &[&[0x03], br#"{"x":"\ud800","y":1e999999}"#]);
    assert_eq!(me[0], vec![0x04]);
    let refused = request(&socket, &[&[0x01], b"NaN"]);
    assert_eq!(refused[0], vec![0x00]);
    let error: Value = serde_json::from_slice(&refused[1]).unwrap();
    assert_eq!(error["code"], 400);
    assert!(error["reason"]
        .as_str()
        .unwrap()
        .starts_with("payload is not valid JSON"));
}

#[test]
fn ten_back_to_back_pings_get_ten_pongs() {
    let server = started_server();
    let context = zmq::Context::new();
    let socket = req(&context, &server.control_endpoint().unwrap());
    for _ in 0..10 {
        assert_eq!(request(&socket, &[&[0x01]]), vec![vec![0x02]]);
    }
}

#[test]
fn who_gets_me_with_every_field_in_the_original_key_order() {
    let server = started_server();
    let control = server.control_endpoint().unwrap();
    let context = zmq::Context::new();
    let socket = req(&context, &control);
    let reply = request(&socket, &[&[0x03]]);
    assert_eq!(reply.len(), 2);
    assert_eq!(reply[0], vec![0x04]);
    let text = std::str::from_utf8(&reply[1]).unwrap();
    // Key order as the original sends it.
    let order: Vec<usize> = ["\"version\"", "\"name\"", "\"endpoints\"", "\"devices\""]
        .iter()
        .map(|key| text.find(key).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    let json: Value = serde_json::from_str(text).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["name"], "Test Kinect");
    assert_eq!(json["endpoints"], serde_json::json!({ "control": control }));
    let devices = json["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    let id = devices[0]["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let depth = devices[0]["endpoints"]["depth"].as_str().unwrap();
    assert!(depth.starts_with("tcp://localhost:"), "{depth}");
    assert_ne!(depth, control);
    // A payload on who is accepted and ignored.
    let again = request(&socket, &[&[0x03], b"null"]);
    assert_eq!(again, reply);
}

/// Every kind of malformed request in docs/protocol.md (section 3).
fn malformed_requests() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        ("unknown type byte", vec![vec![0x7f]]),
        ("empty type frame", vec![vec![]]),
        ("two-byte type frame", vec![vec![0x01, 0x01]]),
        ("pong sent by a client", vec![vec![0x02]]),
        ("me sent by a client", vec![vec![0x04], b"{}".to_vec()]),
        (
            "error sent by a client",
            vec![vec![0x00], br#"{"reason":"x"}"#.to_vec()],
        ),
        ("invalid UTF-8 payload", vec![vec![0x03], vec![0xff, 0xfe]]),
        (
            "invalid JSON payload",
            vec![vec![0x01], b"{not json".to_vec()],
        ),
        (
            "three frames",
            vec![vec![0x01], b"{}".to_vec(), b"{}".to_vec()],
        ),
        ("four frames", vec![vec![0x03], vec![], vec![], vec![]]),
    ]
}

#[test]
fn every_malformed_request_gets_one_400_error_and_the_server_keeps_serving() {
    let server = started_server();
    let context = zmq::Context::new();
    // A DEALER, unlike a REQ, would also receive a second reply if the server sent one.
    let socket = context.socket(zmq::DEALER).unwrap();
    socket
        .set_rcvtimeo(common::REPLY_TIMEOUT.as_millis() as i32)
        .unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(&server.control_endpoint().unwrap()).unwrap();
    let exchange = |frames: &[&[u8]]| -> Vec<Vec<u8>> {
        // REQ framing by hand: an empty delimiter, then the request.
        let mut message: Vec<&[u8]> = vec![&[]];
        message.extend_from_slice(frames);
        socket.send_multipart(message, 0).unwrap();
        let mut reply = socket.recv_multipart(0).unwrap();
        assert_eq!(reply.remove(0), Vec::<u8>::new(), "delimiter");
        reply
    };
    for (what, frames) in malformed_requests() {
        let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let reply = exchange(&frames);
        assert_eq!(reply.len(), 2, "{what}: {reply:?}");
        assert_eq!(reply[0], vec![0x00], "{what}");
        let json: Value = serde_json::from_slice(&reply[1]).unwrap();
        assert_eq!(json["code"], 400, "{what}");
        assert!(!json["reason"].as_str().unwrap().is_empty(), "{what}");
        // Exactly one reply: nothing else arrives, and the next request is served normally.
        assert!(
            socket.poll(zmq::POLLIN, 100).unwrap() == 0,
            "{what}: a second reply"
        );
        assert_eq!(exchange(&[&[0x01]]), vec![vec![0x02]], "{what}");
    }
}

#[test]
fn a_request_over_the_size_limit_does_not_wedge_the_server() {
    let server = started_server();
    let context = zmq::Context::new();
    let endpoint = server.control_endpoint().unwrap();
    // MAXMSGSIZE makes libzmq drop the connection of a peer sending an oversized frame: that
    // client gets no reply, and other clients are still served.
    let hostile = req(&context, &endpoint);
    hostile.set_rcvtimeo(300).unwrap();
    let huge = vec![b' '; sk2_proto::control::MAX_CONTROL_MESSAGE_BYTES + 1];
    hostile.send_multipart([&[0x01][..], &huge], 0).unwrap();
    assert!(hostile.recv_multipart(0).is_err());
    let socket = req(&context, &endpoint);
    assert_eq!(request(&socket, &[&[0x01]]), vec![vec![0x02]]);
}
