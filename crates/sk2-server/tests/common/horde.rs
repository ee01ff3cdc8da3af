//! Crowds of hostile peers from one loopback address (the whole of 127.0.0.0/8 is loopback on
//! Linux): connections that complete the ZMTP handshake and then stay idle, or that never send a
//! byte. A crowd reopens every connection the server closes, as an attacker who wants to hold the
//! server's slots would. Plain TCP, so that a crowd costs the process nothing but descriptors.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// What each connection of a crowd does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Completes the greeting and READY handshake (NULL mechanism) as this socket type, then
    /// sends nothing more and reads nothing.
    Idle(&'static str),
    /// Connects and never sends a byte.
    Silent,
}

/// A crowd of `size` connections from one address, kept open (reopened when closed) by a thread
/// until [`Horde::stop`].
#[derive(Debug)]
pub struct Horde {
    stop: Arc<AtomicBool>,
    counters: Arc<HordeCounters>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct HordeCounters {
    /// Connections opened (TCP established, whatever the server did next).
    opened: AtomicU64,
    /// `Idle` connections that the server admitted (answered READY).
    admitted: AtomicU64,
    /// Times the thread went over every slot, reopening the closed ones.
    passes: AtomicU64,
    /// Connections open after the last pass.
    open: AtomicU64,
}

impl Horde {
    /// Starts a crowd of `size` connections from `from` to `to`.
    pub fn start(from: IpAddr, to: SocketAddr, size: usize, behaviour: Behaviour) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(HordeCounters::default());
        let thread = {
            let (stop, counters) = (Arc::clone(&stop), Arc::clone(&counters));
            thread::spawn(move || {
                let mut slots: Vec<Option<TcpStream>> = (0..size).map(|_| None).collect();
                while !stop.load(Ordering::Acquire) {
                    for slot in &mut slots {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        if slot.as_mut().is_some_and(|stream| !alive(stream)) {
                            *slot = None;
                        }
                        if slot.is_none() {
                            *slot = open(from, to, behaviour, &counters);
                        }
                    }
                    let open = slots.iter().flatten().count() as u64;
                    counters.open.store(open, Ordering::Relaxed);
                    counters.passes.fetch_add(1, Ordering::Release);
                    thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self {
            stop,
            counters,
            thread: Some(thread),
        }
    }

    /// Passes over every slot so far: after one, the crowd has tried all its connections.
    pub fn passes(&self) -> u64 {
        self.counters.passes.load(Ordering::Acquire)
    }

    /// Connections opened so far.
    pub fn opened(&self) -> u64 {
        self.counters.opened.load(Ordering::Relaxed)
    }

    /// `Idle` connections the server admitted so far.
    pub fn admitted(&self) -> u64 {
        self.counters.admitted.load(Ordering::Relaxed)
    }

    /// Connections open after the last pass.
    pub fn open(&self) -> u64 {
        self.counters.open.load(Ordering::Relaxed)
    }

    /// Closes every connection and ends the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Horde {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A TCP connection from `from` (port chosen by the kernel) to `to`.
pub fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(1))?;
    Ok(socket.into())
}

fn open(
    from: IpAddr,
    to: SocketAddr,
    behaviour: Behaviour,
    counters: &HordeCounters,
) -> Option<TcpStream> {
    let mut stream = connect_from(from, to).ok()?;
    counters.opened.fetch_add(1, Ordering::Relaxed);
    if let Behaviour::Idle(socket_type) = behaviour {
        stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        handshake(&mut stream, socket_type).ok()?;
        counters.admitted.fetch_add(1, Ordering::Relaxed);
    }
    Some(stream)
}

/// A ZMTP 3.0 greeting (RFC 23) offering the NULL mechanism.
pub fn zmtp_greeting() -> [u8; 64] {
    let mut greeting = [0u8; 64];
    greeting[0] = 0xFF; // signature: 0xFF, 8 bytes of padding, 0x7F
    greeting[9] = 0x7F;
    greeting[10] = 3; // version 3.0
    greeting[12..16].copy_from_slice(b"NULL"); // mechanism, zero-padded to 20 bytes
    greeting
}

/// The body of a ZMTP READY command announcing `socket_type` (RFC 23, NULL mechanism).
pub fn zmtp_ready(socket_type: &str) -> Vec<u8> {
    let mut ready = vec![5];
    ready.extend_from_slice(b"READY");
    ready.push(11);
    ready.extend_from_slice(b"Socket-Type");
    ready.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    ready.extend_from_slice(socket_type.as_bytes());
    ready
}

/// ZMTP 3.0 (RFC 23), NULL mechanism: greetings, then our READY; an error unless the server
/// answers READY (an admitted peer).
fn handshake(stream: &mut TcpStream, socket_type: &str) -> std::io::Result<()> {
    stream.write_all(&zmtp_greeting())?;
    let mut theirs = [0u8; 64];
    stream.read_exact(&mut theirs)?;
    let ready = zmtp_ready(socket_type);
    stream.write_all(&[0x04, ready.len() as u8])?; // a short command frame
    stream.write_all(&ready)?;
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let mut body = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut body)?;
    if body.get(1..6) == Some(&b"READY"[..]) {
        Ok(())
    } else {
        Err(std::io::Error::new(ErrorKind::PermissionDenied, "refused"))
    }
}

/// False once the server has closed the connection; reads (and drops) whatever it sent.
fn alive(stream: &mut TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut buffer = [0u8; 512];
    let alive = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break false,
            Ok(_) => continue,
            Err(error) if error.kind() == ErrorKind::WouldBlock => break true,
            Err(_) => break false,
        }
    };
    alive && stream.set_nonblocking(false).is_ok()
}

/// This process's resident memory, in bytes (Linux).
pub fn resident_bytes() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .ok_or_else(|| std::io::Error::other("no VmRSS in /proc/self/status"))?;
    Ok(kib * 1024)
}

/// Descriptors of this process that are TCP sockets on local `port` (the listener and the
/// connections it accepted): what a server on `port` holds, even with its clients in the same
/// process, since their local ports differ (Linux: /proc/net/tcp and /proc/self/fd).
pub fn descriptors_on_port(port: u16) -> std::io::Result<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let suffix = format!(":{port:04X}");
    let inodes: std::collections::BTreeSet<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            local
                .ends_with(&suffix)
                .then(|| fields.get(9).map(|inode| (*inode).to_owned()))
                .flatten()
        })
        .collect();
    let mut count = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            if inodes.contains(inode) {
                count += 1;
            }
        }
    }
    Ok(count)
}

/// Raises this process's soft limit of open files to at least `wanted` (up to the hard limit);
/// returns the soft limit now in force.
pub fn raise_open_files_limit(wanted: u64) -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    #[allow(unsafe_code)]
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    limit.rlim_cur = wanted.min(limit.rlim_max);
    // SAFETY: setrlimit reads one rlimit from the struct it is given.
    #[allow(unsafe_code)]
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}
