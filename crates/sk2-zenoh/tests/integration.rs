//! The bridge's tests, one binary (see Cargo.toml). Every Zenoh session here has multicast
//! scouting off and talks over loopback, or inside network namespaces the test made.

mod common;
mod loopback;
mod namespaces;
mod restart;
mod router;
mod stalled;
