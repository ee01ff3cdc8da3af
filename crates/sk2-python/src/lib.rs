//! streamkinect2 for Python: the module `streamkinect2._native`, re-exported as `streamkinect2`
//! by the pure-Python package in `python/streamkinect2/`.
//!
//! Everything heavy runs in the Rust crates: discovery and the control connection
//! ([`sk2_client`], with CurveZMQ for secure servers), receiving and decoding depth, infrared and
//! colour frames (each subscription's own thread), the codecs and registration ([`sk2_proto`]).
//! This crate only converts between Rust and Python:
//!
//! * every blocking wait releases the GIL and wakes every `blocking::WAIT_SLICE` (50 ms) to run
//!   Python's signal handlers, so Ctrl-C interrupts it;
//! * decoded frames become numpy arrays without a copy (the decoder's `Vec<u16>` becomes the
//!   array's memory);
//! * errors become a small exception hierarchy (`Sk2Error` and its subclasses) carrying the Rust
//!   error's message.
//!
//! Built by maturin (`pip install ./crates/sk2-python`); tested from Python (`tests/`).

use pyo3::prelude::*;

mod blocking;
mod calibration;
mod client;
mod codecs;
mod discovery;
mod errors;
mod keys;
mod sensor;
mod subscription;

/// Rust core of streamkinect2; import `streamkinect2` instead.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    codecs::register(m)?;
    m.add_class::<blocking::Closeable>()?;
    client::register(m)?;
    calibration::register(m)?;
    sensor::register(m)?;
    subscription::register(m)?;
    discovery::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
