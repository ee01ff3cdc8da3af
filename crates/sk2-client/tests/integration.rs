//! The client's integration tests, one module per file, built as one test binary (linking each
//! file as its own binary took longer than running them). Run one file's tests alone with
//! `cargo test -p sk2-client --test integration discovery::`.

mod common;

mod control;
mod discovery;
mod image_subscription;
mod secure;
mod sensor_stall;
mod subscription;
mod with_server;
mod with_server_streams;
