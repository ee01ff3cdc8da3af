//! The control channel (docs/protocol.md, section 3): exact bytes of every message we send, and a
//! typed error for every malformed message a peer may send.

use sk2_proto::control::{ControlError, ENDPOINT_DEPTH};
use sk2_proto::{Calibration, Device, ErrorPayload, Me, Reply, Request};

fn frames(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|part| part.to_vec()).collect()
}

fn bobs_kinect() -> Me {
    let mut me = Me::new("Bob's Kinect", "tcp://host.local:40949");
    me.devices.push(Device {
        id: "36ba86e3f35d44c3b5bbc1f2a125919f".into(),
        endpoints: [(
            ENDPOINT_DEPTH.to_owned(),
            "tcp://host.local:40603".to_owned(),
        )]
        .into(),
    });
    me
}

/// The `me` example of docs/protocol.md, in the key order the original sends.
const BOBS_ME_JSON: &str = concat!(
    r#"{"version":1,"name":"Bob's Kinect","endpoints":{"control":"tcp://host.local:40949"},"#,
    r#""devices":[{"id":"36ba86e3f35d44c3b5bbc1f2a125919f","#,
    r#""endpoints":{"depth":"tcp://host.local:40603"}}]}"#
);

#[test]
fn requests_are_a_single_type_byte() {
    assert_eq!(Request::Ping.encode(), frames(&[&[0x01]]));
    assert_eq!(Request::Who.encode(), frames(&[&[0x03]]));
}

#[test]
fn pong_is_exactly_one_frame() {
    assert_eq!(Reply::Pong.encode(), frames(&[&[0x02]]));
}

#[test]
fn me_is_encoded_with_the_original_key_order() {
    let encoded = Reply::Me(bobs_kinect()).encode();
    assert_eq!(encoded, frames(&[&[0x04], BOBS_ME_JSON.as_bytes()]));
}

#[test]
fn error_reply_carries_code_and_reason() {
    let encoded = Reply::Error(ErrorPayload::bad_request("unknown message type 0x09")).encode();
    assert_eq!(
        encoded,
        frames(&[
            &[0x00],
            br#"{"code":400,"reason":"unknown message type 0x09"}"#
        ])
    );
}

#[test]
fn every_reply_round_trips() {
    for reply in [
        Reply::Pong,
        Reply::Me(bobs_kinect()),
        Reply::Error(ErrorPayload::bad_request("nope")),
    ] {
        assert_eq!(Reply::decode(&reply.encode()).unwrap(), reply);
    }
    for request in [Request::Ping, Request::Who] {
        assert_eq!(Request::decode(&request.encode()).unwrap(), request);
    }
}

#[test]
fn request_payloads_are_accepted_and_ignored_when_they_are_json() {
    assert_eq!(
        Request::decode(&frames(&[&[0x01], b"{\"x\":1}"])),
        Ok(Request::Ping)
    );
    assert_eq!(
        Request::decode(&frames(&[&[0x03], b"null"])),
        Ok(Request::Who)
    );
}

/// JSON that the grammar (RFC 8259) allows but a parsed value could not hold: a number beyond
/// `f64` and a lone surrogate escape. The original accepts both; so does protocol.md, section 3.
#[test]
fn request_payloads_the_grammar_allows_are_accepted_even_when_no_value_could_hold_them() {
    for payload in [
        &b"1e999999"[..],
        b"-1e999999",
        b"123456789012345678901234567890",
        br#""\ud800""#,
        br#"{"a":["\udc00x",1e-999999]}"#,
        b" [] ",
    ] {
        for type_byte in [0x01, 0x03] {
            assert!(
                Request::decode(&frames(&[&[type_byte], payload])).is_ok(),
                "{} refused",
                String::from_utf8_lossy(payload)
            );
        }
    }
}

#[test]
fn request_payloads_the_grammar_refuses_stay_refused() {
    for payload in [
        &b"NaN"[..],
        b"Infinity",
        b"-Infinity",
        b"01",
        b"1.",
        b"+1",
        br#""\ud80""#,
        br#""\x41""#,
        b"{} {}",
        b"",
        b"'a'",
    ] {
        assert!(
            matches!(
                Request::decode(&frames(&[&[0x01], payload])),
                Err(ControlError::InvalidJson(_))
            ),
            "{} accepted",
            String::from_utf8_lossy(payload)
        );
    }
}

#[test]
fn every_malformed_request_is_a_typed_error() {
    let cases: Vec<(Vec<Vec<u8>>, ControlError)> = vec![
        (vec![], ControlError::NoFrames),
        (frames(&[b""]), ControlError::BadTypeFrame(0)),
        (frames(&[&[0x01, 0x00]]), ControlError::BadTypeFrame(2)),
        (frames(&[&[0x09]]), ControlError::UnknownType(0x09)),
        (frames(&[&[0xFF]]), ControlError::UnknownType(0xFF)),
        (frames(&[&[0x02]]), ControlError::WrongDirection(0x02)),
        (
            frames(&[&[0x00], b"{}"]),
            ControlError::WrongDirection(0x00),
        ),
        (
            frames(&[&[0x04], b"{}"]),
            ControlError::WrongDirection(0x04),
        ),
        (
            frames(&[&[0x01], b"{}", b"{}"]),
            ControlError::TooManyFrames(3),
        ),
        (frames(&[&[0x03], &[0xC3, 0x28]]), ControlError::InvalidUtf8),
    ];
    for (message, expected) in cases {
        assert_eq!(Request::decode(&message), Err(expected), "{message:?}");
    }
    assert!(matches!(
        Request::decode(&frames(&[&[0x01], b"{not json"])),
        Err(ControlError::InvalidJson(_))
    ));
    let huge = vec![b' '; 100_000];
    assert_eq!(
        Request::decode(&[vec![0x01], huge]),
        Err(ControlError::TooLarge(100_000))
    );
}

#[test]
fn me_with_version_1_or_1_0_is_accepted_and_others_rejected() {
    let with_version = |version: &str| {
        let json = BOBS_ME_JSON.replace(r#""version":1"#, &format!(r#""version":{version}"#));
        Reply::decode(&[vec![0x04], json.into_bytes()])
    };
    assert_eq!(with_version("1"), Ok(Reply::Me(bobs_kinect())));
    assert_eq!(with_version("1.0"), Ok(Reply::Me(bobs_kinect())));
    for bad in ["2", "0", "1.5", "\"1\"", "null"] {
        assert!(
            matches!(with_version(bad), Err(ControlError::UnsupportedVersion(_))),
            "version {bad}"
        );
    }
}

#[test]
fn unknown_keys_and_endpoint_names_are_accepted() {
    let json = r#"{"version":1,"name":"n","extra":[1,2],
        "endpoints":{"control":"tcp://a:1","metrics":"tcp://a:2","future":{"x":1}},
        "devices":[{"id":"d","endpoints":{"depth":"tcp://a:3","depth_v9":"tcp://a:4"},"colour":true}]}"#;
    let Reply::Me(me) = Reply::decode(&[vec![0x04], json.as_bytes().to_vec()]).unwrap() else {
        panic!("expected me");
    };
    assert_eq!(me.control_endpoint(), Some("tcp://a:1"));
    assert_eq!(
        me.endpoints.get("metrics").map(String::as_str),
        Some("tcp://a:2")
    );
    assert!(!me.endpoints.contains_key("future"));
    let device = me.device("d").unwrap();
    assert_eq!(device.endpoint("depth"), Some("tcp://a:3"));
    assert_eq!(device.endpoint("depth_v9"), Some("tcp://a:4"));
}

#[test]
fn me_with_missing_or_mistyped_fields_is_a_typed_error() {
    let bad = [
        r#"[]"#,
        r#"{"name":"n","endpoints":{"control":"c"},"devices":[]}"#,
        r#"{"version":1,"endpoints":{"control":"c"},"devices":[]}"#,
        r#"{"version":1,"name":5,"endpoints":{"control":"c"},"devices":[]}"#,
        r#"{"version":1,"name":"n","endpoints":{},"devices":[]}"#,
        r#"{"version":1,"name":"n","endpoints":{"control":7},"devices":[]}"#,
        r#"{"version":1,"name":"n","endpoints":[],"devices":[]}"#,
        r#"{"version":1,"name":"n","endpoints":{"control":"c"}}"#,
        r#"{"version":1,"name":"n","endpoints":{"control":"c"},"devices":{}}"#,
        r#"{"version":1,"name":"n","endpoints":{"control":"c"},"devices":[{"endpoints":{}}]}"#,
        r#"{"version":1,"name":"n","endpoints":{"control":"c"},"devices":[{"id":1,"endpoints":{}}]}"#,
        r#"{"version":1,"name":"n","endpoints":{"control":"c"},"devices":[{"id":"x"}]}"#,
        r#"{"version":1,"name":"n","endpoints":{"control":"c"},"devices":[{"id":"x","endpoints":{"depth":1}}]}"#,
    ];
    for json in bad {
        let result = Reply::decode(&[vec![0x04], json.as_bytes().to_vec()]);
        assert!(
            matches!(
                result,
                Err(ControlError::InvalidPayload(_)) | Err(ControlError::UnsupportedVersion(_))
            ),
            "{json} gave {result:?}"
        );
    }
    assert!(matches!(
        Reply::decode(&frames(&[&[0x04]])),
        Err(ControlError::InvalidPayload(_))
    ));
    assert!(matches!(
        Reply::decode(&frames(&[&[0x00], br#"{"code":"x","reason":"r"}"#])),
        Err(ControlError::InvalidPayload(_))
    ));
}

#[test]
fn error_reply_needs_only_a_reason() {
    assert_eq!(
        Reply::decode(&frames(&[&[0x00], br#"{"reason":"r"}"#])),
        Ok(Reply::Error(ErrorPayload {
            code: None,
            reason: "r".into()
        }))
    );
}

#[test]
fn replies_sent_the_wrong_way_are_rejected() {
    assert_eq!(
        Reply::decode(&frames(&[&[0x01]])),
        Err(ControlError::WrongDirection(0x01))
    );
    assert_eq!(
        Reply::decode(&frames(&[&[0x03]])),
        Err(ControlError::WrongDirection(0x03))
    );
}

#[test]
fn extra_device_keys_follow_id_and_endpoints_and_survive_a_round_trip() {
    let mut me = bobs_kinect();
    let id = me.devices[0].id.clone();
    me.device_keys.insert(
        id.clone(),
        [
            ("codec".to_owned(), "rvl".to_owned()),
            // Would shadow the record's own keys: never written.
            ("id".to_owned(), "evil".to_owned()),
        ]
        .into(),
    );
    let frames = Reply::Me(me.clone()).encode();
    let text = std::str::from_utf8(&frames[1]).unwrap();
    let expected = BOBS_ME_JSON.replace(r#"40603"}}]}"#, r#"40603"},"codec":"rvl"}]}"#);
    assert_eq!(text, expected);
    let Reply::Me(decoded) = Reply::decode(&frames).unwrap() else {
        panic!("not a me");
    };
    assert_eq!(
        decoded.device_keys[&id],
        [("codec".to_owned(), "rvl".to_owned())].into()
    );
    assert_eq!(decoded.devices, me.devices);
    // Without extra keys the bytes are exactly the original's.
    assert_eq!(
        Reply::Me(bobs_kinect()).encode()[1],
        BOBS_ME_JSON.as_bytes()
    );
}

#[test]
fn a_device_calibration_is_written_last_and_survives_a_round_trip() {
    let mut me = bobs_kinect();
    let id = me.devices[0].id.clone();
    me.device_keys.insert(
        id.clone(),
        [("codec".to_owned(), "medhuf".to_owned())].into(),
    );
    me.calibrations
        .insert(id.clone(), Calibration::KINECT_V2_TYPICAL);
    let frames = Reply::Me(me.clone()).encode();
    let text = std::str::from_utf8(&frames[1]).unwrap();
    let tail = r#""codec":"medhuf","calibration":{"ir":{"fx":368.147,"#;
    assert!(text.contains(tail), "{text}");
    assert!(text.ends_with(r#""my_x0y1":0.632964,"my_x0y0":-0.000370404}}}]}"#));
    let Reply::Me(decoded) = Reply::decode(&frames).unwrap() else {
        panic!("not a me");
    };
    assert_eq!(decoded, me);
    assert_eq!(
        decoded.calibration(&id),
        Some(&Calibration::KINECT_V2_TYPICAL)
    );
}

#[test]
fn a_malformed_calibration_is_a_typed_error_and_an_absent_one_is_none() {
    let text = BOBS_ME_JSON.replace(r#"40603"}}]}"#, r#"40603"},"calibration":{"ir":{}}}]}"#);
    assert!(matches!(
        Reply::decode(&frames(&[&[0x04], text.as_bytes()])),
        Err(ControlError::InvalidPayload(reason)) if reason.contains("calibration")
    ));
    let Reply::Me(me) = Reply::decode(&frames(&[&[0x04], BOBS_ME_JSON.as_bytes()])).unwrap() else {
        panic!("not a me");
    };
    assert!(me.calibrations.is_empty());
}
