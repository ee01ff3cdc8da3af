//! The two child roles: a publisher (the server side) and a subscriber.
//!
//! The orchestrator re-executes its own binary in these roles, so every process is a real,
//! separate process talking over loopback TCP. Children are driven through their standard streams:
//!
//! * publisher: prints `endpoint <zmq endpoint>` once bound, then publishes until its stdin closes;
//! * subscriber: prints `ready` once it has decoded a frame (a stalled one: once subscribed),
//!   starts counting at a `start` line on stdin, and at `stop` (or end of stdin) prints
//!   `summary <json>` and exits.
//!
//! End of stdin also means "the orchestrator is gone" (killed, crashed or interrupted), so no child
//! outlives it; every child also stops by itself after `--max-seconds`.
//!
//! [`Stack`] names what travels (and the socket limits both sides use); the `child` module holds
//! the stdin/stdout protocol every role speaks; [`publish`] and [`subscribe`] are the two roles.

mod child;
mod publisher;
mod stack;
mod subscriber;

pub(crate) use child::{count, pace, say, stdin_lines, wait_for_stop, Window};
pub use child::{Summary, POLL_INTERVAL};
pub use publisher::{publish, PublisherOptions};
pub use stack::{
    Stack, MAX_MESSAGE_BYTES, RAW_FRAME_BYTES, RAW_PREFIX_BYTES, RCVHWM_FRAMES, SNDHWM_FRAMES,
};
pub(crate) use subscriber::unwrap_sequence32;
pub use subscriber::{subscribe, SubscriberOptions};
