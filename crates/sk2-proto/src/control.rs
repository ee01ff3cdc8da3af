//! The control channel: a client's ZeroMQ REQ socket talks to the server's REP socket.
//!
//! Every message is a multipart ZeroMQ message of one or two frames (docs/protocol.md, section 3):
//!
//! ```text
//! frame 0   exactly 1 byte: the message type
//!           +------+
//!           | type |   0x00 error, 0x01 ping, 0x02 pong, 0x03 who, 0x04 me
//!           +------+
//! frame 1   optional: a UTF-8 JSON payload (only error and me carry one that means anything)
//! ```
//!
//! Example: the reply to `who` from a server with one sensor is the two frames
//! `04` and `{"version":1,"name":"Bob's Kinect","endpoints":{"control":"tcp://host.local:40949"},
//! "devices":[{"id":"36ba…","endpoints":{"depth":"tcp://host.local:40603"}}]}`.
//!
//! Requests travel client to server ([`Request`]), replies server to client ([`Reply`]). Decoding is
//! total: any byte sequence gives either a message or a [`ControlError`], and the server answers
//! every error with an `error` reply carrying code 400 and the error's text as its reason.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::calibration::Calibration;

/// Type byte of an `error` reply (server to client).
pub const TYPE_ERROR: u8 = 0x00;
/// Type byte of a `ping` request (client to server).
pub const TYPE_PING: u8 = 0x01;
/// Type byte of a `pong` reply (server to client).
pub const TYPE_PONG: u8 = 0x02;
/// Type byte of a `who` request (client to server).
pub const TYPE_WHO: u8 = 0x03;
/// Type byte of a `me` reply (server to client).
pub const TYPE_ME: u8 = 0x04;

/// The protocol version carried in `me`. A client ignores a `me` of any other version.
pub const PROTOCOL_VERSION: u32 = 1;

/// The `code` of an `error` reply to a malformed request (as in HTTP: the request was bad).
pub const CODE_BAD_REQUEST: u32 = 400;

/// Largest control message, in bytes per ZeroMQ frame, that a peer should accept.
///
/// A `me` takes about 1 KB per Kinect (four endpoints and the calibration): 64 of them fit under
/// usual names, while a hostile peer cannot make a socket buffer megabytes. Servers and clients
/// set it as ZeroMQ's `MAXMSGSIZE` on control sockets, and a server refuses a sensor that would
/// take its `me` past it.
pub const MAX_CONTROL_MESSAGE_BYTES: usize = 64 * 1024;

/// Name of the server-level endpoint that every `me` must carry: the REP socket itself.
pub const ENDPOINT_CONTROL: &str = "control";
/// Name of a device endpoint serving the original 12-bit + LZ4 depth format ([`crate::sk2`]).
pub const ENDPOINT_DEPTH: &str = "depth";
/// The device-record key of a sensor's calibration object ([`Calibration`]).
pub const DEVICE_CALIBRATION_KEY: &str = "calibration";

/// A message a client sends to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `0x01`: are you there? The server answers [`Reply::Pong`].
    Ping,
    /// `0x03`: who are you, what sensors do you have? The server answers [`Reply::Me`].
    Who,
}

/// A message a server sends back to a client: exactly one per request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// `0x00`: the request could not be served.
    Error(ErrorPayload),
    /// `0x02`: the answer to [`Request::Ping`]; a single frame.
    Pong,
    /// `0x04`: the answer to [`Request::Who`].
    Me(Me),
}

/// Payload of an `error` reply: `{"code": 400, "reason": "..."}`. Only `reason` is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorPayload {
    /// An HTTP-like status code; the original uses 400 for every malformed request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    /// Human-readable text.
    pub reason: String,
}

impl ErrorPayload {
    /// A `400` error with the given reason.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self {
            code: Some(CODE_BAD_REQUEST),
            reason: reason.into(),
        }
    }
}

/// Payload of a `me` reply: who the server is and where its endpoints are.
///
/// `endpoints` maps endpoint names to ZeroMQ addresses (`tcp://host:port`); it must contain
/// [`ENDPOINT_CONTROL`]. Names a reader does not know are kept but mean nothing to it: new endpoint
/// names are how the protocol grows without breaking old clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Me {
    /// The server's human-readable name (the mDNS instance name).
    pub name: String,
    /// Server-level endpoints; always has `control`.
    pub endpoints: BTreeMap<String, String>,
    /// One record per attached sensor.
    pub devices: Vec<Device>,
    /// Extra string keys of device records, by device id, such as `"codec"` of the `depth_v2`
    /// extension. Written after `id` and `endpoints` (keys named `id`, `endpoints` or
    /// `calibration` are skipped);
    /// a reader keeps every extra key whose value is a string. Old clients ignore them.
    pub device_keys: BTreeMap<String, BTreeMap<String, String>>,
    /// Calibrations of the devices that know theirs, by device id: the `"calibration"` object
    /// of a device record, written last. A reader rejects a `me` whose calibration object is
    /// malformed; old clients ignore the key.
    pub calibrations: BTreeMap<String, Calibration>,
}

impl Me {
    /// A `me` with the given name and control endpoint and no devices yet.
    pub fn new(name: impl Into<String>, control_endpoint: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            endpoints: BTreeMap::from([(ENDPOINT_CONTROL.to_owned(), control_endpoint.into())]),
            devices: Vec::new(),
            device_keys: BTreeMap::new(),
            calibrations: BTreeMap::new(),
        }
    }

    /// The control endpoint. Always present in a decoded `me` and in one made by [`Me::new`].
    pub fn control_endpoint(&self) -> Option<&str> {
        self.endpoints.get(ENDPOINT_CONTROL).map(String::as_str)
    }

    /// The device with this id, if the server has it.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.devices.iter().find(|device| device.id == id)
    }

    /// The calibration of the device with this id, if the server sent one.
    pub fn calibration(&self, id: &str) -> Option<&Calibration> {
        self.calibrations.get(id)
    }
}

/// One sensor as advertised in `me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Unique id; the original uses 32 lowercase hex characters.
    pub id: String,
    /// Endpoint name to ZeroMQ address, e.g. `depth` -> `tcp://host.local:40603`.
    pub endpoints: BTreeMap<String, String>,
}

impl Device {
    /// The address of the named endpoint, if the device offers it.
    pub fn endpoint(&self, name: &str) -> Option<&str> {
        self.endpoints.get(name).map(String::as_str)
    }
}

/// Why bytes are not a valid control message. The `Display` text is what the server sends back
/// as the `reason` of its 400 reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// A message with no frames at all.
    #[error("empty message: expected a type frame")]
    NoFrames,
    /// More than two frames.
    #[error("expected 1 or 2 frames, got {0}")]
    TooManyFrames(usize),
    /// Frame 0 is not exactly one byte long.
    #[error("type frame must be exactly 1 byte, got {0} bytes")]
    BadTypeFrame(usize),
    /// Frame 0 holds a byte that is not a message type.
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    /// A known type sent the wrong way, such as a `pong` sent to a server.
    #[error("message type 0x{0:02x} is not valid in this direction")]
    WrongDirection(u8),
    /// A frame is larger than [`MAX_CONTROL_MESSAGE_BYTES`].
    #[error("payload of {0} bytes exceeds the limit of {max} bytes", max = MAX_CONTROL_MESSAGE_BYTES)]
    TooLarge(usize),
    /// The payload is not UTF-8.
    #[error("payload is not valid UTF-8")]
    InvalidUtf8,
    /// The payload is not JSON.
    #[error("payload is not valid JSON: {0}")]
    InvalidJson(String),
    /// The JSON does not have the fields this message needs, or they have the wrong types.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// A `me` whose `version` is not 1.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(String),
}

impl Request {
    /// The type byte of this request.
    pub fn type_byte(&self) -> u8 {
        match self {
            Request::Ping => TYPE_PING,
            Request::Who => TYPE_WHO,
        }
    }

    /// The frames of this request: a single type byte (requests carry no payload).
    pub fn encode(&self) -> Vec<Vec<u8>> {
        vec![vec![self.type_byte()]]
    }

    /// Parses the frames a server received. A payload, if any, must be valid JSON and is ignored.
    pub fn decode<F: AsRef<[u8]>>(frames: &[F]) -> Result<Self, ControlError> {
        let (type_byte, payload) = split(frames)?;
        match type_byte {
            TYPE_PING | TYPE_WHO => {
                if let Some(payload) = payload {
                    check_json(payload)?;
                }
                Ok(if type_byte == TYPE_PING {
                    Request::Ping
                } else {
                    Request::Who
                })
            }
            TYPE_ERROR | TYPE_PONG | TYPE_ME => Err(ControlError::WrongDirection(type_byte)),
            other => Err(ControlError::UnknownType(other)),
        }
    }
}

impl Reply {
    /// The type byte of this reply.
    pub fn type_byte(&self) -> u8 {
        match self {
            Reply::Error(_) => TYPE_ERROR,
            Reply::Pong => TYPE_PONG,
            Reply::Me(_) => TYPE_ME,
        }
    }

    /// The frames of this reply. `pong` is exactly one frame; `error` and `me` carry JSON.
    pub fn encode(&self) -> Vec<Vec<u8>> {
        let payload = match self {
            Reply::Pong => return vec![vec![TYPE_PONG]],
            Reply::Error(error) => to_json(error),
            Reply::Me(me) => to_json(&WireMe::from(me)),
        };
        vec![vec![self.type_byte()], payload]
    }

    /// Parses the frames a client received.
    pub fn decode<F: AsRef<[u8]>>(frames: &[F]) -> Result<Self, ControlError> {
        let (type_byte, payload) = split(frames)?;
        match type_byte {
            TYPE_PONG => {
                if let Some(payload) = payload {
                    check_json(payload)?;
                }
                Ok(Reply::Pong)
            }
            TYPE_ERROR => {
                let json = parse_json(payload.ok_or_else(|| missing("error payload"))?)?;
                decode_error(json).map(Reply::Error)
            }
            TYPE_ME => {
                let json = parse_json(payload.ok_or_else(|| missing("me payload"))?)?;
                decode_me(json).map(Reply::Me)
            }
            TYPE_PING | TYPE_WHO => Err(ControlError::WrongDirection(type_byte)),
            other => Err(ControlError::UnknownType(other)),
        }
    }
}

/// Checks the frame structure common to every message: returns the type byte and the payload.
fn split<F: AsRef<[u8]>>(frames: &[F]) -> Result<(u8, Option<&[u8]>), ControlError> {
    for frame in frames.iter().take(2) {
        if frame.as_ref().len() > MAX_CONTROL_MESSAGE_BYTES {
            return Err(ControlError::TooLarge(frame.as_ref().len()));
        }
    }
    match frames {
        [] => Err(ControlError::NoFrames),
        [kind] => Ok((type_of(kind.as_ref())?, None)),
        [kind, payload] => Ok((type_of(kind.as_ref())?, Some(payload.as_ref()))),
        more => Err(ControlError::TooManyFrames(more.len())),
    }
}

fn type_of(frame: &[u8]) -> Result<u8, ControlError> {
    match frame {
        [byte] => Ok(*byte),
        other => Err(ControlError::BadTypeFrame(other.len())),
    }
}

/// Checks that `payload` is one JSON text (RFC 8259) without building its value: for payloads that
/// are ignored. The grammar allows texts that no value could hold, and the original accepts them:
/// `1e999999` (beyond `f64`) and `"\ud800"` (a lone surrogate, which no Rust string can hold).
/// What the grammar refuses stays refused: `NaN`, `Infinity`, leading zeros, trailing text.
fn check_json(payload: &[u8]) -> Result<(), ControlError> {
    let text = std::str::from_utf8(payload).map_err(|_| ControlError::InvalidUtf8)?;
    // `IgnoredAny` makes serde_json scan the text with the grammar's rules only: numbers are not
    // converted, escapes not decoded.
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(drop)
        .map_err(|e| ControlError::InvalidJson(e.to_string()))
}

fn parse_json(payload: &[u8]) -> Result<Value, ControlError> {
    let text = std::str::from_utf8(payload).map_err(|_| ControlError::InvalidUtf8)?;
    serde_json::from_str(text).map_err(|e| ControlError::InvalidJson(e.to_string()))
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Cannot fail: these types hold only strings, numbers, maps with string keys and vectors
    // (serde_json writes a non-finite float as null rather than failing).
    serde_json::to_vec(value).expect("control payloads always serialise")
}

fn missing(what: &str) -> ControlError {
    ControlError::InvalidPayload(format!("missing {what}"))
}

fn wrong_type(what: &str, expected: &str) -> ControlError {
    ControlError::InvalidPayload(format!("{what} must be {expected}"))
}

fn object(value: Value, what: &str) -> Result<Map<String, Value>, ControlError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(wrong_type(what, "an object")),
    }
}

fn string(map: &mut Map<String, Value>, key: &str, what: &str) -> Result<String, ControlError> {
    match map.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(wrong_type(what, "a string")),
        None => Err(missing(what)),
    }
}

fn decode_error(json: Value) -> Result<ErrorPayload, ControlError> {
    let mut map = object(json, "error payload")?;
    let reason = string(&mut map, "reason", "error reason")?;
    let code = match map.remove("code") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| wrong_type("error code", "a non-negative integer"))?,
        ),
        Some(_) => return Err(wrong_type("error code", "a number")),
    };
    Ok(ErrorPayload { code, reason })
}

fn decode_me(json: Value) -> Result<Me, ControlError> {
    let mut map = object(json, "me payload")?;
    match map.remove("version") {
        // The original Python compares with `== 1`, so the float 1.0 is accepted too.
        Some(Value::Number(n)) if n.as_f64() == Some(f64::from(PROTOCOL_VERSION)) => {}
        Some(other) => return Err(ControlError::UnsupportedVersion(other.to_string())),
        None => return Err(missing("version")),
    }
    let name = string(&mut map, "name", "name")?;
    let endpoints = decode_endpoints(map.remove("endpoints"), "endpoints")?;
    if !endpoints.contains_key(ENDPOINT_CONTROL) {
        return Err(missing("control endpoint"));
    }
    let mut device_keys = BTreeMap::new();
    let mut calibrations = BTreeMap::new();
    let devices = match map.remove("devices") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| {
                let (device, keys, calibration) = decode_device(item)?;
                if !keys.is_empty() {
                    device_keys.insert(device.id.clone(), keys);
                }
                if let Some(calibration) = calibration {
                    calibrations.insert(device.id.clone(), calibration);
                }
                Ok(device)
            })
            .collect::<Result<Vec<_>, ControlError>>()?,
        Some(_) => return Err(wrong_type("devices", "an array")),
        None => return Err(missing("devices")),
    };
    Ok(Me {
        name,
        endpoints,
        devices,
        device_keys,
        calibrations,
    })
}

/// A device record as read: the record, its extra string keys (see [`Me::device_keys`]) and its
/// calibration.
type DecodedDevice = (Device, BTreeMap<String, String>, Option<Calibration>);

fn decode_device(json: Value) -> Result<DecodedDevice, ControlError> {
    let mut map = object(json, "device")?;
    let id = string(&mut map, "id", "device id")?;
    let endpoints = decode_endpoints(map.remove("endpoints"), "device endpoints")?;
    let calibration = match map.remove(DEVICE_CALIBRATION_KEY) {
        None => None,
        Some(value) => Some(
            Calibration::from_json(value)
                .map_err(|error| ControlError::InvalidPayload(format!("device {id:?}: {error}")))?,
        ),
    };
    let keys = map
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::String(text) => Some((key, text)),
            _ => None,
        })
        .collect();
    Ok((Device { id, endpoints }, keys, calibration))
}

/// Endpoint maps: values of the names this crate knows must be strings; entries with other names
/// are kept when they are strings and skipped otherwise, so a future extension cannot break us.
fn decode_endpoints(
    value: Option<Value>,
    what: &str,
) -> Result<BTreeMap<String, String>, ControlError> {
    let map = object(value.ok_or_else(|| missing(what))?, what)?;
    let mut endpoints = BTreeMap::new();
    for (name, value) in map {
        match value {
            Value::String(address) => {
                endpoints.insert(name, address);
            }
            _ if name == ENDPOINT_CONTROL || name == ENDPOINT_DEPTH => {
                return Err(wrong_type(&format!("endpoint {name:?}"), "a string"));
            }
            _ => {}
        }
    }
    Ok(endpoints)
}

/// The `me` payload as it goes on the wire, in the key order the original sends.
#[derive(Serialize)]
struct WireMe<'a> {
    version: u32,
    name: &'a str,
    endpoints: &'a BTreeMap<String, String>,
    devices: Vec<WireDevice<'a>>,
}

/// A device record as it goes on the wire: `id`, `endpoints`, any extra keys, then the
/// calibration.
#[derive(Serialize)]
struct WireDevice<'a> {
    id: &'a str,
    endpoints: &'a BTreeMap<String, String>,
    #[serde(flatten)]
    keys: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    calibration: Option<&'a Calibration>,
}

impl<'a> From<&'a Me> for WireMe<'a> {
    fn from(me: &'a Me) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            name: &me.name,
            endpoints: &me.endpoints,
            devices: me
                .devices
                .iter()
                .map(|device| WireDevice {
                    id: &device.id,
                    endpoints: &device.endpoints,
                    keys: me
                        .device_keys
                        .get(&device.id)
                        .into_iter()
                        .flatten()
                        .filter(|(key, _)| {
                            !["id", "endpoints", DEVICE_CALIBRATION_KEY].contains(&key.as_str())
                        })
                        .map(|(key, value)| (key.as_str(), value.as_str()))
                        .collect(),
                    calibration: me.calibrations.get(&device.id),
                })
                .collect(),
        }
    }
}
