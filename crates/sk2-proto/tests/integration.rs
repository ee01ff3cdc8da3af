//! The protocol's integration tests (golden bytes and properties), one module per file, built as
//! one test binary. Run one file's tests alone with
//! `cargo test -p sk2-proto --test integration sk2_golden::`.

mod color_image;
mod color_properties;
mod control_messages;
mod depth_v2_golden;
mod depth_v2_properties;
mod registration_golden;
mod sk2_golden;
mod sk2_properties;
mod sk2_reuse;
mod streams_golden;
