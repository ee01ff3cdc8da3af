//! CurveZMQ on every socket of a server (opt-in; docs/security.md).
//!
//! With [`Config::curve`](crate::Config::curve) set, the control socket and every depth socket
//! are CURVE servers with the server's key pair: each peer must know the server's public key, and
//! everything after the handshake is encrypted and authenticated. Which clients may connect is
//! decided during the handshake, before any message flows: any client that knows the server's
//! key, or only the client keys of [`Curve::authorized_clients`] (the "Ironhouse" pattern of the
//! ZeroMQ guide), checked by the gatekeeper's ZAP handler (`admission`).

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};

use sk2_proto::curve::{KeyPair, PublicKey};

use crate::ServerError;

/// How a server encrypts and whom it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Curve {
    /// The server's key pair; its public key is what clients must be given.
    pub keys: KeyPair,
    /// `None`: any client that knows the server's public key. `Some`: only clients whose public
    /// key is in the set (Ironhouse); others are refused during the handshake.
    pub authorized_clients: Option<AuthorizedClients>,
}

impl Curve {
    /// Admits any client that knows the public key of `keys`.
    pub fn new(keys: KeyPair) -> Self {
        Self {
            keys,
            authorized_clients: None,
        }
    }

    /// Sets [`Curve::authorized_clients`].
    pub fn with_authorized_clients(mut self, clients: Option<BTreeSet<PublicKey>>) -> Self {
        self.authorized_clients = clients.map(AuthorizedClients::new);
        self
    }
}

/// The client keys a secure server admits: one set shared by every socket of the server (and by
/// every clone of this handle), which [`AuthorizedClients::replace`] changes while the server
/// runs. The new set applies from the next handshake on; a peer already connected stays
/// connected, as an SSH session outlives the removal of its key.
#[derive(Debug, Clone)]
pub struct AuthorizedClients(Arc<RwLock<Arc<BTreeSet<PublicKey>>>>);

impl AuthorizedClients {
    /// A handle on `keys`.
    pub fn new(keys: BTreeSet<PublicKey>) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(keys))))
    }

    /// The keys admitted now.
    pub fn keys(&self) -> Arc<BTreeSet<PublicKey>> {
        // A panic while the lock was held cannot leave a half-written set: only whole `Arc`s
        // are stored.
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether `key` is admitted now.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys().contains(key)
    }

    /// Admits exactly `keys` from now on, for every socket of the server.
    pub fn replace(&self, keys: BTreeSet<PublicKey>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }
}

impl PartialEq for AuthorizedClients {
    fn eq(&self, other: &Self) -> bool {
        self.keys() == other.keys()
    }
}

impl Eq for AuthorizedClients {}

/// Whether the linked libzmq has CURVE (it does when built by this workspace: docs/security.md,
/// "Why a patched zmq-sys").
pub fn curve_available() -> bool {
    zmq::has("curve").unwrap_or(false)
}

/// Makes `socket` a CURVE server with `curve`'s keys. Before it binds.
pub(crate) fn secure(socket: &zmq::Socket, curve: &Curve) -> Result<(), ServerError> {
    if !curve_available() {
        return Err(ServerError::CurveUnavailable);
    }
    socket.set_curve_server(true)?;
    socket.set_curve_secretkey(&curve.keys.secret.0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libzmq_is_built_with_curve() {
        assert_eq!(zmq::has("curve"), Some(true));
        assert!(curve_available());
    }
}
