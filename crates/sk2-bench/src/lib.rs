//! `kinect-bench`: the end-to-end benchmark of streamkinect2 on loopback.
//!
//! One orchestrator process ([`harness`]) re-executes its own binary as a publisher and as N
//! subscriber processes ([`roles`]), runs each scenario for a bounded window, reads the
//! publisher's CPU and memory from `/proc` ([`procfs`]), merges the subscribers' latency
//! histograms ([`histogram`]) and prints a Markdown table. The baseline (raw frames over plain
//! libzmq PUB/SUB) runs in the same invocation, so every figure is also shown as a ratio to it.
//! Frame inputs and the sequence/time watermark are in [`frames`]; the Zenoh stack and the
//! fan-out measurement (cargo feature `zenoh`) in [`zenoh`].
//!
//! See `docs/performance.md` for the scenarios, the figures and how to read them.

pub mod frames;
pub mod harness;
pub mod histogram;
pub mod procfs;
pub mod real;
pub mod roles;
pub mod zenoh;
