//! The server's integration tests, one module per file, built as one test binary (linking each
//! file as its own binary took longer than running them). Run one file's tests alone with
//! `cargo test -p sk2-server --test integration depth::`.

mod common;

mod control;
mod depth;
mod depth_v2;
mod descriptors;
mod fair_peers;
mod hostile_peers;
mod lifetime;
mod limits;
mod mdns;
mod streams;
