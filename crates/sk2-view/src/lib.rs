//! kinect-view's library: watch live depth frames in a browser.
//!
//! ```text
//!  FrameSource thread(s)            Hub                       ViewServer
//!  (synthetic, network client) --> latest frame per sensor <-- one thread per tab request
//!    publish(), server_error()      + catalogue + figures       GET /api/frame?after=N
//! ```
//!
//! A [`FrameSource`] feeds the [`Hub`]; the [`ViewServer`] serves the embedded page and, to each
//! tab, the newest frame of the sensor it shows. Nothing queues per tab: see [`http`] for why.

pub mod http;
pub mod hub;
pub mod network;
pub mod synthetic;

pub use http::{ViewConfig, ViewError, ViewServer, ViewStats};
pub use hub::{Frame, FrameSource, Hub, PublishedFrame, Snapshot, SourceKey, WaitError};
pub use network::NetworkSource;
pub use synthetic::SyntheticSource;
