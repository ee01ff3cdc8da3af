//! sk2-view's integration tests, one module per file, built as one test binary. Run one file's
//! tests alone with `cargo test -p sk2-view --test integration web::`.

mod network;
mod web;
