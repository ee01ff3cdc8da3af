//! libzmq's socket monitor events, as the gatekeeper reads them.

use sk2_proto::monitor_event;

/// A monitor event the gatekeeper acts on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum MonitorEvent {
    /// A connection was accepted: its descriptor, and the port of the listener (from the event's
    /// endpoint, `tcp://host:port`).
    Accepted {
        fd: u32,
        port: Option<u16>,
    },
    Disconnected(u32),
    /// A CURVE handshake failed on protocol grounds (no CURVE, or the wrong server key); the
    /// connection's `Disconnected` follows.
    HandshakeFailed,
    Stopped,
}

impl MonitorEvent {
    /// Parses libzmq's two-frame event (see [`monitor_event`]). Anything else (events not asked
    /// for, a malformed message) is `None`.
    pub(super) fn parse(frames: &[Vec<u8>]) -> Option<Self> {
        let (event, value) = monitor_event::decode(frames)?;
        match zmq::SocketEvent::from_raw(event) {
            zmq::SocketEvent::ACCEPTED => {
                let port = frames
                    .get(1)
                    .and_then(|endpoint| std::str::from_utf8(endpoint).ok())
                    .and_then(|endpoint| endpoint.rsplit(':').next())
                    .and_then(|port| port.parse().ok());
                Some(Self::Accepted { fd: value, port })
            }
            zmq::SocketEvent::DISCONNECTED => Some(Self::Disconnected(value)),
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL => Some(Self::HandshakeFailed),
            zmq::SocketEvent::MONITOR_STOPPED => Some(Self::Stopped),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u16, value: u32) -> Vec<Vec<u8>> {
        monitor_event::encode(id, value, "tcp://127.0.0.1:5555")
    }

    #[test]
    fn monitor_events_are_parsed_from_libzmq_two_frame_layout() {
        assert_eq!(
            MonitorEvent::parse(&event(0x0020, 17)),
            Some(MonitorEvent::Accepted {
                fd: 17,
                port: Some(5555)
            })
        );
        assert_eq!(
            MonitorEvent::parse(&[event(0x0020, 17)[0].clone()]),
            Some(MonitorEvent::Accepted { fd: 17, port: None })
        );
        assert_eq!(
            MonitorEvent::parse(&event(0x0200, 17)),
            Some(MonitorEvent::Disconnected(17))
        );
        assert_eq!(
            MonitorEvent::parse(&event(0x0400, 0)),
            Some(MonitorEvent::Stopped)
        );
        assert_eq!(
            MonitorEvent::parse(&event(0x2000, 0x1100_0001)),
            Some(MonitorEvent::HandshakeFailed)
        );
        assert_eq!(MonitorEvent::parse(&event(0x0008, 3)), None);
        assert_eq!(MonitorEvent::parse(&[vec![1, 2, 3]]), None);
        assert_eq!(MonitorEvent::parse(&[]), None);
    }
}
