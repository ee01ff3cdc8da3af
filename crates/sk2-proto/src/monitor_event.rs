//! libzmq's socket-monitor event message, which the client's handshake watch and the server's
//! gatekeeper both read. The layout is libzmq's (`zmq_socket_monitor`), not this protocol's; it
//! lives here, as pure bytes, so that both read it one way and tests can write one.
//!
//! ```text
//! frame 1: event id   u16, native byte order   (e.g. 0x0020 ZMQ_EVENT_ACCEPTED)
//!          value      u32, native byte order   (a descriptor, an error code, ...)
//! frame 2: endpoint   the address the event is about, e.g. "tcp://127.0.0.1:5555"
//! ```

/// Size of the first frame: the event id and the value.
pub const HEAD_LEN: usize = 6;

/// The event id and value of a monitor message; `None` if its first frame is not [`HEAD_LEN`]
/// bytes (or there is none).
pub fn decode(frames: &[Vec<u8>]) -> Option<(u16, u32)> {
    let head: &[u8; HEAD_LEN] = frames.first()?.as_slice().try_into().ok()?;
    let event = u16::from_ne_bytes([head[0], head[1]]);
    let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
    Some((event, value))
}

/// The two frames libzmq sends for event `event` with `value` about `endpoint` (for tests of
/// code that reads them).
pub fn encode(event: u16, value: u32, endpoint: &str) -> Vec<Vec<u8>> {
    let mut head = event.to_ne_bytes().to_vec();
    head.extend_from_slice(&value.to_ne_bytes());
    vec![head, endpoint.as_bytes().to_vec()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_message_is_the_event_and_value_in_native_order_then_the_endpoint() {
        let frames = encode(0x0020, 0x0102_0304, "tcp://127.0.0.1:5555");
        let mut head = [0u8; HEAD_LEN];
        head[..2].copy_from_slice(&0x0020u16.to_ne_bytes());
        head[2..].copy_from_slice(&0x0102_0304u32.to_ne_bytes());
        assert_eq!(frames, [head.to_vec(), b"tcp://127.0.0.1:5555".to_vec()]);
        assert_eq!(decode(&frames), Some((0x0020, 0x0102_0304)));
        assert_eq!(decode(&frames[..1]), Some((0x0020, 0x0102_0304)));
    }

    #[test]
    fn a_first_frame_of_another_size_is_no_event() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[vec![1, 2, 3]]), None);
        assert_eq!(decode(&[vec![0; HEAD_LEN + 1]]), None);
    }
}
