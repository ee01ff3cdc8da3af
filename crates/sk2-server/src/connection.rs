//! Looking at, and closing, one TCP connection that libzmq owns, knowing only its descriptor
//! number (from a socket monitor event).
//!
//! libzmq offers no call to drop one peer of a bound socket. What it does handle is a connection
//! that the network ends: when a read returns end-of-stream, the socket's engine closes the
//! connection itself, reports `DISCONNECTED` and frees everything. `shutdown(2)` on the
//! descriptor produces exactly that, from outside, without closing the descriptor: libzmq stays
//! the only one that closes it.
//!
//! The danger is the descriptor *number*: by the time the gatekeeper acts, libzmq may have closed
//! the connection and the number may name another file. So nothing here touches the number
//! directly: [`Connection::inspect`] first duplicates it (`F_DUPFD_CLOEXEC`, atomic), which pins
//! whatever file it names now, then checks that file's two TCP addresses against those recorded
//! when the connection was accepted. A TCP connection is identified by that address pair, so a
//! match means the same connection (or the same peer from the same port on the same listener,
//! which is equivalent for the caller); a mismatch or a closed number means it is gone.
//!
//! Idleness comes from the kernel (`TCP_INFO`: milliseconds since the peer last sent data, and
//! since it last acknowledged data), so it needs nothing from libzmq: on Linux only. Elsewhere
//! [`Connection::idle`] is `None` and the caller never evicts.
#![allow(unsafe_code)]

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

/// The two ends of a TCP connection, as recorded when it was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ends {
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
}

/// A duplicate of a libzmq connection's descriptor, checked to still be that connection. Dropping
/// it closes the duplicate only.
#[derive(Debug)]
pub(crate) struct Connection(TcpStream);

impl Connection {
    /// The connection now behind descriptor `fd`, and its ends; `None` if `fd` is not an open
    /// TCP socket.
    pub(crate) fn open(fd: u32) -> Option<(Self, Ends)> {
        let fd = i32::try_from(fd).ok()?;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) reads no memory; on a number that is not an open
        // descriptor it fails with EBADF.
        let duplicate = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if duplicate < 0 {
            return None;
        }
        // SAFETY: `duplicate` is a descriptor this function just created and nothing else owns.
        let stream = TcpStream::from(unsafe { OwnedFd::from_raw_fd(duplicate) });
        let ends = Ends {
            local: stream.local_addr().ok()?,
            peer: stream.peer_addr().ok()?,
        };
        Some((Self(stream), ends))
    }

    /// The connection behind `fd` if it still has the ends `expected`.
    pub(crate) fn inspect(fd: u32, expected: Ends) -> Option<Self> {
        Self::open(fd).and_then(|(connection, ends)| (ends == expected).then_some(connection))
    }

    /// How long ago the peer last showed it is alive: sent data or acknowledged ours.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub(crate) fn idle(&self) -> Option<Duration> {
        use std::os::fd::AsRawFd;
        // SAFETY: an all-zero tcp_info is a valid value (plain integers).
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::tcp_info>()).ok()?;
        // SAFETY: `info` is writable for `len` bytes; the kernel writes at most `len` and sets
        // `len` to what it wrote.
        let status = unsafe {
            libc::getsockopt(
                self.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                std::ptr::addr_of_mut!(info).cast(),
                &mut len,
            )
        };
        if status != 0 {
            return None;
        }
        let millis = info.tcpi_last_data_recv.min(info.tcpi_last_ack_recv);
        Some(Duration::from_millis(u64::from(millis)))
    }

    /// Not measured on this platform: nobody is evicted for being idle.
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub(crate) fn idle(&self) -> Option<Duration> {
        None
    }

    /// Ends the connection in both directions. libzmq's engine reads end-of-stream, closes its
    /// descriptor and reports `DISCONNECTED` as for any peer that left.
    pub(crate) fn shut_down(&self) -> bool {
        self.0.shutdown(Shutdown::Both).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn a_connection_is_found_by_descriptor_and_shutting_it_down_ends_it_for_the_peer() {
        let (mut client, server) = pair();
        let fd = u32::try_from(server.as_raw_fd()).unwrap();
        let (connection, ends) = Connection::open(fd).unwrap();
        assert_eq!(ends.local, server.local_addr().unwrap());
        assert_eq!(ends.peer, client.local_addr().unwrap());
        assert!(Connection::inspect(fd, ends).is_some());
        drop(connection);
        // Closing the duplicate left the original open: the peer still sees a live connection.
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        assert!(client.read(&mut [0u8; 1]).is_err());

        assert!(Connection::inspect(fd, ends).unwrap().shut_down());
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(client.read(&mut [0u8; 1]).unwrap(), 0, "no end of stream");
    }

    #[test]
    fn a_descriptor_that_names_another_connection_or_nothing_is_not_touched() {
        let (_client, server) = pair();
        let (_other_client, other_server) = pair();
        let fd = u32::try_from(server.as_raw_fd()).unwrap();
        let (_, other_ends) = Connection::open(u32::try_from(other_server.as_raw_fd()).unwrap())
            .expect("an open socket");
        assert!(Connection::inspect(fd, other_ends).is_none());
        assert!(Connection::open(u32::MAX).is_none());
        assert!(Connection::open(u32::try_from(i32::MAX).unwrap()).is_none());
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn idleness_grows_while_the_peer_is_silent_and_resets_when_it_sends() {
        use std::io::Write;
        let (mut client, server) = pair();
        let fd = u32::try_from(server.as_raw_fd()).unwrap();
        let (connection, _) = Connection::open(fd).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let before = connection.idle().unwrap();
        assert!(before >= Duration::from_millis(250), "idle {before:?}");
        client.write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let after = connection.idle().unwrap();
        assert!(
            after < before,
            "idle {after:?} after sending, {before:?} before"
        );
    }
}
