//! CurveZMQ on the client's sockets (docs/security.md), and what a failed handshake means.
//!
//! With [`ClientConfig::server_key`] set, every socket the client opens (control, depth, infrared
//! and colour) is a CURVE client of that server key, with [`ClientConfig::client_keys`] or,
//! without them, a key pair made for this client alone (enough for a server that admits anyone
//! knowing its key).
//!
//! A handshake that fails is reported by libzmq on the socket's monitor, not as an error of a
//! call; [`HandshakeWatch`] reads those events so that a request fails at once with the reason
//! instead of waiting for a reply that cannot come.
//!
//! [`ClientConfig::server_key`]: crate::ClientConfig::server_key
//! [`ClientConfig::client_keys`]: crate::ClientConfig::client_keys

use std::sync::atomic::{AtomicU64, Ordering};

use sk2_proto::curve::{KeyPair, PublicKey, SecretKey};
use sk2_proto::monitor_event;

use crate::error::ClientError;

/// libzmq's `ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH`: one side uses CURVE, the other not.
const MECHANISM_MISMATCH: u32 = 0x1100_0002;
/// libzmq's `ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC`: a box did not open (wrong key).
const CRYPTOGRAPHIC: u32 = 0x1100_0001;

static NEXT_MONITOR: AtomicU64 = AtomicU64::new(0);

/// The keys a client's sockets use.
#[derive(Debug, Clone)]
pub(crate) struct CurveClient {
    server: PublicKey,
    keys: KeyPair,
}

impl CurveClient {
    /// The keys of a client given `server_key` and `client_keys` (the two fields of its
    /// `ClientConfig`); `None` for an open client. Takes the fields, not the config: the config
    /// holds a `CurveClient`, and this module stays below `config`.
    pub(crate) fn from_keys(
        server_key: Option<PublicKey>,
        client_keys: Option<&KeyPair>,
    ) -> Result<Option<Self>, ClientError> {
        let Some(server) = server_key else {
            if client_keys.is_some() {
                return Err(ClientError::Curve(
                    "a client key pair needs the server's public key too".into(),
                ));
            }
            return Ok(None);
        };
        if !zmq::has("curve").unwrap_or(false) {
            return Err(ClientError::Curve(
                "this build's libzmq has no CURVE support".into(),
            ));
        }
        let keys = match client_keys {
            Some(keys) => keys.clone(),
            None => {
                let pair = zmq::CurveKeyPair::new()?;
                KeyPair {
                    public: PublicKey(pair.public_key),
                    secret: SecretKey(pair.secret_key),
                }
            }
        };
        Ok(Some(Self { server, keys }))
    }

    /// Makes `socket` a CURVE client with these keys. Before it connects.
    pub(crate) fn apply(&self, socket: &zmq::Socket) -> Result<(), zmq::Error> {
        socket.set_curve_serverkey(&self.server.0)?;
        socket.set_curve_publickey(&self.keys.public.0)?;
        socket.set_curve_secretkey(&self.keys.secret.0)
    }
}

/// A monitor of one socket's handshake outcomes.
pub(crate) struct HandshakeWatch {
    monitor: zmq::Socket,
    secure: bool,
}

impl HandshakeWatch {
    /// Watches `socket`'s handshakes. Before it connects.
    pub(crate) fn start(
        context: &zmq::Context,
        socket: &zmq::Socket,
        secure: bool,
    ) -> Result<Self, zmq::Error> {
        let address = format!(
            "inproc://sk2-handshake-monitor-{}",
            NEXT_MONITOR.fetch_add(1, Ordering::Relaxed)
        );
        let mut events = zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32;
        if secure {
            events |= zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32;
        }
        socket.monitor(&address, events)?;
        let monitor = context.socket(zmq::PAIR)?;
        monitor.set_linger(0)?;
        monitor.connect(&address)?;
        Ok(Self { monitor, secure })
    }

    pub(crate) fn as_poll_item(&self) -> zmq::PollItem<'_> {
        self.monitor.as_poll_item(zmq::POLLIN)
    }

    /// The reason of the first failed handshake waiting on the monitor, if any.
    pub(crate) fn failure(&self) -> Option<String> {
        let mut first = None;
        while let Ok(frames) = self.monitor.recv_multipart(zmq::DONTWAIT) {
            if first.is_none() {
                first = failure_reason(&frames, self.secure);
            }
        }
        first
    }
}

/// What a monitor event (libzmq's two frames: `u16 event, u32 value`, then the endpoint) says
/// about a failed handshake, for a client that does (`secure`) or does not use CURVE.
fn failure_reason(frames: &[Vec<u8>], secure: bool) -> Option<String> {
    let (event, value) = monitor_event::decode(frames)?;
    let reason = match (zmq::SocketEvent::from_raw(event), value, secure) {
        (zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL, MECHANISM_MISMATCH, false) => {
            "the server requires CurveZMQ (it is a secure server): give this client the \
             server's public key (docs/security.md)"
        }
        (zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL, MECHANISM_MISMATCH, true) => {
            "the server is not secure (it does not use CurveZMQ): connect without a server key"
        }
        (zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL, CRYPTOGRAPHIC, _) => {
            "a CurveZMQ message did not decrypt: the server key is probably wrong"
        }
        (zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL, _, _) => {
            "the server broke the handshake protocol"
        }
        (zmq::SocketEvent::HANDSHAKE_FAILED_AUTH, _, true) => {
            "the server refused this client: its key is not among the server's authorised \
             keys, or the server is full"
        }
        // An open client refused during the handshake: the server is full. Not a key problem;
        // the caller retries as for any refusal.
        (zmq::SocketEvent::HANDSHAKE_FAILED_AUTH, _, false) => return None,
        (zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL, _, true) => {
            "the server closed the connection during the CurveZMQ handshake: the server key is \
             wrong, or the server is not secure"
        }
        _ => return None,
    };
    Some(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u16, value: u32) -> Vec<Vec<u8>> {
        monitor_event::encode(id, value, "tcp://127.0.0.1:5555")
    }

    #[test]
    fn handshake_failures_are_explained_from_the_clients_side() {
        let open_to_secure = failure_reason(&event(0x2000, MECHANISM_MISMATCH), false).unwrap();
        assert!(
            open_to_secure.contains("requires CurveZMQ"),
            "{open_to_secure}"
        );
        let secure_to_open = failure_reason(&event(0x2000, MECHANISM_MISMATCH), true).unwrap();
        assert!(secure_to_open.contains("not secure"), "{secure_to_open}");
        let wrong_key = failure_reason(&event(0x0800, 104), true).unwrap();
        assert!(wrong_key.contains("server key"), "{wrong_key}");
        let refused = failure_reason(&event(0x4000, 400), true).unwrap();
        assert!(refused.contains("authorised"), "{refused}");
        assert_eq!(failure_reason(&event(0x4000, 400), false), None);
        assert_eq!(failure_reason(&event(0x1000, 0), true), None);
        assert_eq!(failure_reason(&[vec![1]], true), None);
    }

    #[test]
    fn client_keys_without_a_server_key_are_refused() {
        let keys = KeyPair {
            public: PublicKey([1; 32]),
            secret: SecretKey([2; 32]),
        };
        assert!(matches!(
            CurveClient::from_keys(None, Some(&keys)),
            Err(ClientError::Curve(_))
        ));
        assert!(CurveClient::from_keys(None, None).unwrap().is_none());
        let secure = CurveClient::from_keys(Some(PublicKey([3; 32])), None).unwrap();
        assert!(secure.is_some());
        let authorised = CurveClient::from_keys(Some(PublicKey([3; 32])), Some(&keys)).unwrap();
        assert_eq!(authorised.unwrap().keys.public, keys.public);
    }
}
