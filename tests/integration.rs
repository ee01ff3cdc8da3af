//! End-to-end tests of the real binaries, one module per file, built as one test binary (linking
//! each file as its own binary took longer than running them). Run one file's tests alone with
//! `cargo test --test integration kinect_server::`.
//!
//! Two files are test targets of their own (see Cargo.toml): `kinect_server_freenect2.rs` needs
//! the `freenect2` feature, and `frozen_subscriber.rs` needs the CPU to itself.

mod browser;

mod client_restart;
mod common;
mod interop_python_server;
mod kinect_browse;
mod kinect_codec;
mod kinect_record;
mod kinect_record_streams;
mod kinect_server;
mod kinect_view_browser;
mod kinect_view_cli;
mod kinect_view_picture;
mod kinect_view_server;
mod medhuf_reference;
mod process_lifecycle;
mod secure;
