//! kinect-view's library: watch live depth frames in a browser, with the infrared and colour
//! images beside them when the sensor streams those (`/api/image`, see the `routes` module).
//!
//! ```text
//!  FrameSource thread(s)             Hub                        ViewServer
//!  (synthetic, network client) --> latest frame per sensor <-- one thread per tab request
//!    publish(), server_error()       + catalogue + figures        GET /api/frame?after=N
//! ```
//!
//! A [`FrameSource`] feeds the [`Hub`]; the [`ViewServer`] serves the embedded page and, to each
//! tab, the newest frame of the sensor it shows. Nothing queues per tab: a tab asks for the next
//! frame only after it has drawn the previous one (HTTP long polling), and gets the newest.
//! Memory is bounded by one frame per listed sensor plus one per request in flight
//! ([`ViewConfig::max_connections`]).
//!
//! ```no_run
//! use std::net::TcpListener;
//! use sk2_view::{FrameSource, Hub, NetworkSource, ViewConfig, ViewServer};
//!
//! let hub = Hub::new();
//! let server = ViewServer::start(TcpListener::bind("127.0.0.1:8080")?, hub.clone(),
//!                                ViewConfig::default())?;
//! println!("open {}", server.url());
//! let source = Box::new(NetworkSource {
//!     connect: vec!["tcp://localhost:40949".into()],
//!     ..NetworkSource::default()
//! });
//! // Dropping `_stop` tells the source to return.
//! let (_stop, shutdown) = crossbeam_channel::bounded::<()>(0);
//! source.run(hub, shutdown); // runs until shutdown
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod followed;
mod http;
pub mod hub;
mod message;
pub mod network;
mod routes;
pub mod synthetic;
#[cfg(feature = "zenoh")]
pub mod zenoh_source;

pub use config::{ViewConfig, ViewError, ViewStats};
pub use http::ViewServer;
pub use hub::{FrameSource, Hub, ServedFrame, Snapshot, SourceFrame, SourceKey, WaitError};
pub use network::NetworkSource;
pub use synthetic::SyntheticSource;
#[cfg(feature = "zenoh")]
pub use zenoh_source::ZenohSource;
