//! Threads that can be joined with a time limit, so a stuck thread cannot hang shutdown.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;

/// One of the server's named threads (control, encoder, publisher), whose end can be awaited
/// with a timeout.
pub(crate) struct ServerThread {
    name: String,
    handle: JoinHandle<()>,
    /// Disconnected when the thread ends (its sender lives on the thread's stack).
    done: Receiver<()>,
}

impl ServerThread {
    pub(crate) fn spawn(
        name: String,
        body: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (done_sender, done) = crossbeam_channel::bounded::<()>(0);
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let _done = done_sender;
                body();
            })?;
        Ok(Self { name, handle, done })
    }

    /// Joins the thread if it ends within `timeout`; otherwise leaves it running and says so.
    pub(crate) fn join_within(self, timeout: Duration) {
        match self.done.recv_timeout(timeout) {
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) | Ok(()) => {
                if self.handle.join().is_err() {
                    tracing::warn!(thread = %self.name, "thread panicked");
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                tracing::warn!(thread = %self.name, ?timeout, "thread did not stop in time; left running");
            }
        }
    }
}
