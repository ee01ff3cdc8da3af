//! The sensors attached to a [`Server`](crate::Server) and what a running server holds: starting
//! a sensor with its `depth`, `depth_v2`, `ir_v2` and `color` sockets and publishers, and stopping
//! it again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sk2_proto::color::ENDPOINT_COLOR;
use sk2_proto::control::ENDPOINT_DEPTH;
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::ir_v2::ENDPOINT_IR_V2;
use sk2_proto::{Calibration, Sensor, StreamDemand, StreamSinks};

use crate::admission::{Gatekeeper, PeerCounters};
use crate::announce::Announcer;
use crate::config::Config;
use crate::error::ServerError;
use crate::pipeline::{EncoderPool, Publisher, Sockets};
use crate::sockets;
use crate::stats::Counters;
use crate::streams::{self, StreamPublisher};
use crate::thread::ServerThread;

/// Time `stop` waits for each thread to end before leaving it behind with a warning.
pub(crate) const JOIN_TIMEOUT: Duration = Duration::from_millis(500);

pub(crate) struct Attached {
    pub(crate) id: String,
    pub(crate) sensor: Box<dyn Sensor>,
    pub(crate) counters: Arc<Counters>,
    /// Set while the server runs.
    pub(crate) publisher: Option<Publisher>,
    /// The `ir_v2` and `color` publishers, while the server runs and the sensor offers them.
    pub(crate) stream_publishers: Vec<StreamPublisher>,
    /// Advertised endpoints, set while the server runs.
    pub(crate) endpoints: BTreeMap<String, String>,
    /// The sensor's calibration, read once when it was added.
    pub(crate) calibration: Option<Calibration>,
}

pub(crate) struct Running {
    pub(crate) context: zmq::Context,
    pub(crate) control_endpoint: String,
    pub(crate) control_thread: ServerThread,
    /// Admits or refuses peers of every socket, to enforce the peer limits.
    pub(crate) gatekeeper: Gatekeeper,
    /// Host name in advertised endpoints.
    pub(crate) host: String,
    pub(crate) pool: EncoderPool,
    pub(crate) announcer: Option<Announcer>,
    /// Offset from `config.depth_port` of the next depth socket.
    pub(crate) next_depth_offset: u16,
}

impl Running {
    /// The next depth socket for `role`, bound to the next depth port of the configuration.
    pub(crate) fn depth_socket(
        &mut self,
        config: &Config,
        role: &'static str,
        counters: &PeerCounters,
    ) -> Result<(zmq::Socket, u16), ServerError> {
        let port = if config.depth_port == 0 {
            0
        } else {
            let port = config.depth_port.saturating_add(self.next_depth_offset);
            self.next_depth_offset = self.next_depth_offset.saturating_add(1);
            port
        };
        sockets::depth_socket(
            &self.context,
            &mut self.gatekeeper,
            config,
            port,
            role,
            counters,
        )
    }
}

/// Binds the sensor's depth sockets, starts its publisher thread, then the sensor.
pub(crate) fn start_sensor(
    config: &Config,
    running: &mut Running,
    attached: &mut Attached,
) -> Result<(), ServerError> {
    let counters = &attached.counters.subscribers;
    let (depth, depth_port) = running.depth_socket(config, "depth", counters)?;
    let depth_v2 = match config.codec {
        Some(codec) => Some((running.depth_socket(config, "depth_v2", counters)?, codec)),
        None => None,
    };
    let mut endpoints = BTreeMap::from([(
        ENDPOINT_DEPTH.to_owned(),
        format!("tcp://{}:{depth_port}", running.host),
    )]);
    if let Some(((_, port), _)) = &depth_v2 {
        endpoints.insert(
            ENDPOINT_DEPTH_V2.to_owned(),
            format!("tcp://{}:{port}", running.host),
        );
    }
    let sockets = Sockets {
        depth,
        depth_v2: depth_v2.map(|((socket, _), codec)| (socket, codec)),
    };
    let short_id = attached.id.get(..8).unwrap_or(&attached.id);
    let (publisher, pipe) = Publisher::start(
        format!("sk2-publish-{short_id}"),
        sockets,
        Arc::clone(&attached.counters),
        config.workers.max(1) + 1,
    )?;
    attached.publisher = Some(publisher);
    let mut sinks = StreamSinks::depth_only(running.pool.sink(pipe));
    if let Err(error) = start_streams(config, running, attached, &mut sinks, &mut endpoints) {
        stop_sensor(attached);
        return Err(error);
    }
    attached.sensor.start_streams(sinks).inspect_err(|_| {
        stop_sensor(attached);
    })?;
    attached.endpoints = endpoints;
    Ok(())
}

/// Binds and starts the `ir_v2` and `color` publishers of the streams the sensor offers and the
/// configuration allows, puts their sinks in `sinks` and their addresses in `endpoints`.
fn start_streams(
    config: &Config,
    running: &mut Running,
    attached: &mut Attached,
    sinks: &mut StreamSinks,
    endpoints: &mut BTreeMap<String, String>,
) -> Result<(), ServerError> {
    let offered = attached.sensor.streams();
    let demand = StreamDemand::default();
    attached.sensor.set_demand(demand.clone());
    let short_id = attached.id.get(..8).unwrap_or(&attached.id).to_owned();
    let peers = attached.counters.subscribers.clone();
    if let Some(codec) = config.ir_codec.filter(|_| offered.ir()) {
        let (socket, port) = running.depth_socket(config, ENDPOINT_IR_V2, &peers)?;
        let counters = Arc::clone(&attached.counters.ir);
        let name = format!("sk2-ir-{short_id}");
        let (publisher, sink) = streams::start_ir(name, socket, codec, counters, demand.clone())?;
        attached.stream_publishers.push(publisher);
        sinks.ir = Some(sink);
        let address = format!("tcp://{}:{port}", running.host);
        endpoints.insert(ENDPOINT_IR_V2.to_owned(), address);
    }
    if config.color && offered.color() {
        let (socket, port) = running.depth_socket(config, ENDPOINT_COLOR, &peers)?;
        let counters = Arc::clone(&attached.counters.color);
        let name = format!("sk2-color-{short_id}");
        let (publisher, sink) = streams::start_color(name, socket, counters, demand)?;
        attached.stream_publishers.push(publisher);
        sinks.color = Some(sink);
        let address = format!("tcp://{}:{port}", running.host);
        endpoints.insert(ENDPOINT_COLOR.to_owned(), address);
    }
    Ok(())
}

pub(crate) fn stop_sensor(attached: &mut Attached) {
    attached.sensor.stop();
    if let Some(mut publisher) = attached.publisher.take() {
        publisher.stop(JOIN_TIMEOUT);
    }
    for mut publisher in attached.stream_publishers.drain(..) {
        publisher.stop(JOIN_TIMEOUT);
    }
    attached.endpoints.clear();
}
