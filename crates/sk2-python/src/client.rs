//! `Client`: a control connection to one server, over [`sk2_client`].
//!
//! The Rust client lives behind an `Arc` in a frozen Python class, so a thread blocked in a
//! request (GIL released) and another calling `close()` never fight over a borrow: `close()`
//! takes the client out, and later calls raise Unreachable.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sk2_client::{ClientConfig, ClientError, EndpointKind, SubscriptionConfig};
use sk2_proto::color::ENDPOINT_COLOR;
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::ir_v2::ENDPOINT_IR_V2;

use crate::blocking::{close_released, closeable, lock, seconds, wait_interruptibly, Closeable};
use crate::calibration::Calibration;
use crate::discovery::ServerInfo;
use crate::errors::{client_error, Sk2Error, Timeout, UnknownSensor, Unreachable};
use crate::keys;
use crate::sensor::Sensor;
use crate::subscription::{Stream, Subscription, ENDPOINT_DEPTH};

/// Default queue of infrared frames: as for depth (424 KiB each).
const DEFAULT_IR_QUEUE_LEN: usize = 4;
/// Default queue of decoded colour frames: 6 MB each (1920 x 1080 RGB), so two: the newest and
/// the one the application may still be reading.
const DEFAULT_COLOR_QUEUE_LEN: usize = 2;
/// Default queue of undecoded colour frames: a Kinect v2 JPEG is 0.1 to 0.5 MB.
const DEFAULT_JPEG_QUEUE_LEN: usize = 4;

/// A connection to one server's control endpoint.
///
/// `Client("tcp://host:port")` or `Client(server_info)` (from `browse()` or `watch()`) connects
/// and waits until the server answers, for at most `timeout` seconds (raises Unreachable). The
/// client then sends a `who` heartbeat every `heartbeat` seconds and reconnects by itself if the
/// server goes away and comes back. Requests (`ping()`) fail with Timeout after `timeout` seconds
/// without a reply.
///
/// A secure server (`kinect-server --secure`, docs/security.md) needs `server_key`: its public
/// key as 40 Z85 characters, 32 raw bytes, or its key file (`server.key`). Every socket of the
/// client, streams included, then encrypts. `client_key` is this client's key pair, for a server
/// that admits only known clients (`--authorized-keys`): a secret key file (`client.key_secret`,
/// mode 0600) or a `(public, secret)` pair as pyzmq's `zmq.curve_keypair()` gives it. Without it,
/// `$XDG_CONFIG_HOME/streamkinect2/client.key_secret` is used if it exists (as the client tools
/// do), else a key pair made for this client. A failed handshake raises HandshakeError at once,
/// saying why; a bad key or key file raises ValueError.
///
/// Use it as a context manager, or call `close()`.
#[pyclass(frozen, extends = Closeable, module = "streamkinect2", name = "Client")]
pub(crate) struct Client {
    inner: Mutex<Option<Arc<sk2_client::Client>>>,
    endpoint: String,
}

impl Client {
    fn inner(&self) -> PyResult<Arc<sk2_client::Client>> {
        lock(&self.inner)
            .clone()
            .ok_or_else(|| Unreachable::new_err("the client is closed"))
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (target, heartbeat = 10.0, timeout = 5.0, *, server_key = None, client_key = None))]
    fn new(
        py: Python<'_>,
        target: &Bound<'_, PyAny>,
        heartbeat: f64,
        timeout: f64,
        server_key: Option<&Bound<'_, PyAny>>,
        client_key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let timeout = seconds(timeout, "timeout")?;
        let mut config = ClientConfig::default()
            .with_heartbeat(seconds(heartbeat, "heartbeat")?)
            .with_request_timeout(timeout);
        match server_key {
            Some(server_key) => {
                config = config.with_server_key(keys::server_key(server_key)?);
                if let Some(pair) = keys::client_keys(client_key)? {
                    config = config.with_client_keys(pair);
                }
            }
            None if client_key.is_some() => {
                return Err(PyValueError::new_err(
                    "client_key needs server_key too: only a secure server checks client keys",
                ))
            }
            None => {}
        }
        let endpoint = if let Ok(info) = target.cast::<ServerInfo>() {
            let info = info.get().inner();
            config = config.with_host_addresses(info.host_addresses());
            info.control_endpoint()
        } else if let Ok(endpoint) = target.extract::<String>() {
            endpoint
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "Client() takes an endpoint \"tcp://host:port\" or a ServerInfo",
            ));
        };
        let client = py
            .detach(|| sk2_client::Client::connect_to(&endpoint, config))
            .map_err(client_error)?;
        let client = Arc::new(client);
        let waiting = Arc::clone(&client);
        let outcome = wait_interruptibly(py, Some(timeout), move |slice| {
            connected_within(&waiting, slice)
        })?;
        let failure = match outcome {
            Ok(Some(())) => None,
            Err(handshake) => Some(client_error(handshake)),
            Ok(None) => Some(Unreachable::new_err(format!(
                "no answer from {endpoint} within {timeout:?}"
            ))),
        };
        if let Some(failure) = failure {
            py.detach(move || drop(client));
            return Err(failure);
        }
        let client = Self {
            inner: Mutex::new(Some(client)),
            endpoint,
        };
        Ok(PyClassInitializer::from(Closeable).add_subclass(client))
    }

    /// The control endpoint this client talks to.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's name, from its latest answer.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.inner()?.name().unwrap_or_default())
    }

    /// The server's sensors, from its latest answer (refreshed by every heartbeat).
    #[getter]
    fn sensors(&self) -> PyResult<Vec<Sensor>> {
        Ok(self
            .inner()?
            .me()
            .map(|me| Sensor::all_of(&me))
            .unwrap_or_default())
    }

    /// True while the server answers; False after a request timed out, until it answers again.
    #[getter]
    fn connected(&self) -> PyResult<bool> {
        Ok(self.inner()?.is_connected())
    }

    /// Sends `ping` and returns the round-trip time in seconds. Raises Timeout if the server does
    /// not answer in time, Unreachable if the client is not connected.
    fn ping(&self, py: Python<'_>) -> PyResult<f64> {
        let client = self.inner()?;
        let pinged = py.detach(move || client.ping());
        pinged.map(|rtt| rtt.as_secs_f64()).map_err(client_error)
    }

    /// Waits until the server answers (after a restart, say), for at most `timeout` seconds
    /// (forever if None). Raises Timeout if it does not, HandshakeError if the server refuses
    /// this client's keys.
    #[pyo3(signature = (timeout = None))]
    fn wait_connected(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        let client = self.inner()?;
        match wait_interruptibly(py, timeout, move |slice| connected_within(&client, slice))? {
            Ok(Some(())) => Ok(()),
            Err(handshake) => Err(client_error(handshake)),
            Ok(None) => Err(Timeout::new_err(format!(
                "{} did not answer within {timeout:?}",
                self.endpoint
            ))),
        }
    }

    /// Subscribes to a sensor's depth frames; iterate over the result, or call `next()`.
    ///
    /// `sensor_id`: the sensor (default: the server's first). `endpoint`: "depth_v2" (exact
    /// depth with sequence numbers and timestamps; the default) or "depth" (the original, lossy
    /// format that every server offers). `queue`: decoded frames kept while the application is
    /// busy; when full, the oldest is dropped and counted.
    #[pyo3(signature = (sensor_id = None, endpoint = "depth_v2", queue = 4))]
    fn subscribe(
        &self,
        py: Python<'_>,
        sensor_id: Option<String>,
        endpoint: &str,
        queue: usize,
    ) -> PyResult<Py<Subscription>> {
        let prefer_depth_v2 = match endpoint {
            ENDPOINT_DEPTH_V2 => true,
            ENDPOINT_DEPTH => false,
            other => {
                return Err(PyValueError::new_err(format!(
                    "endpoint must be \"depth_v2\" or \"depth\", got {other:?}"
                )))
            }
        };
        let client = self.inner()?;
        let sensor_id = sensor_or_first(&client, sensor_id)?;
        let config = SubscriptionConfig::default()
            .with_queue_len(queue)
            .with_prefer_depth_v2(prefer_depth_v2);
        let id = sensor_id.clone();
        let subscription = py
            .detach(move || client.subscribe_with(&id, config))
            .map_err(client_error)?;
        if prefer_depth_v2 && subscription.kind() != EndpointKind::DepthV2 {
            py.detach(move || drop(subscription));
            return Err(Sk2Error::new_err(format!(
                "sensor {sensor_id:?} offers no depth_v2 endpoint; subscribe(endpoint=\"depth\") \
                 reads the original format"
            )));
        }
        closeable(
            py,
            Subscription::new(Stream::Depth(subscription), sensor_id, endpoint),
        )
    }

    /// Subscribes to a sensor's infrared frames (`ir_v2`): `IrFrame`s whose `ir` is a `uint16`
    /// amplitude array of shape (424, 512) on a Kinect v2, with the sequence number of the depth
    /// frame of the same exposure.
    ///
    /// `sensor_id`: the sensor (default: the server's first). `queue`: decoded frames kept while
    /// the application is busy; when full, the oldest is dropped and counted. Raises
    /// StreamUnavailable if the sensor offers no infrared.
    #[pyo3(signature = (sensor_id = None, queue = DEFAULT_IR_QUEUE_LEN))]
    fn subscribe_ir(
        &self,
        py: Python<'_>,
        sensor_id: Option<String>,
        queue: usize,
    ) -> PyResult<Py<Subscription>> {
        self.subscribe_stream(py, ImageStream::Ir, sensor_id, queue)
    }

    /// Subscribes to a sensor's colour frames (`color`), decoded to RGB on a Rust thread:
    /// `ColorFrame`s whose `rgb` is a `uint8` array of shape (1080, 1920, 3) on a Kinect v2.
    ///
    /// `queue`: decoded frames kept while the application is busy (6 MB each at 1920 x 1080);
    /// when full, the oldest is dropped and counted. Raises StreamUnavailable if the sensor
    /// offers no colour (a server started with `--no-color`).
    #[pyo3(signature = (sensor_id = None, queue = DEFAULT_COLOR_QUEUE_LEN))]
    fn subscribe_color(
        &self,
        py: Python<'_>,
        sensor_id: Option<String>,
        queue: usize,
    ) -> PyResult<Py<Subscription>> {
        self.subscribe_stream(py, ImageStream::Color, sensor_id, queue)
    }

    /// Subscribes to a sensor's colour frames as the JPEG files the server sends, undecoded:
    /// `JpegFrame`s whose `jpeg` is `bytes`, for applications that save or forward them (and
    /// spend no time decoding).
    ///
    /// `queue`: frames kept while the application is busy; when full, the oldest is dropped and
    /// counted. Raises StreamUnavailable if the sensor offers no colour.
    #[pyo3(signature = (sensor_id = None, queue = DEFAULT_JPEG_QUEUE_LEN))]
    fn subscribe_color_jpeg(
        &self,
        py: Python<'_>,
        sensor_id: Option<String>,
        queue: usize,
    ) -> PyResult<Py<Subscription>> {
        self.subscribe_stream(py, ImageStream::ColorJpeg, sensor_id, queue)
    }

    /// The calibration of a sensor (default: the server's first) from the server's latest
    /// answer: depth/infrared intrinsics and the colour camera's parameters, for
    /// `Registration` (point clouds). None if the server sends none (the 2014 server, replayed
    /// frames). Raises UnknownSensor if the server has no such sensor.
    #[pyo3(signature = (sensor_id = None))]
    fn calibration(&self, sensor_id: Option<String>) -> PyResult<Option<Calibration>> {
        let client = self.inner()?;
        let sensor_id = sensor_or_first(&client, sensor_id)?;
        let me = client
            .me()
            .ok_or_else(|| Unreachable::new_err("the server has not answered yet"))?;
        if !me.devices.iter().any(|device| device.id == sensor_id) {
            return Err(client_error(ClientError::UnknownDevice(sensor_id)));
        }
        Ok(me.calibration(&sensor_id).copied().map(Calibration::from))
    }

    /// Closes the connection. Subscriptions made from it keep working until closed.
    fn close(&self, py: Python<'_>) {
        close_released(py, &self.inner);
    }

    fn __repr__(&self) -> String {
        let state = match lock(&self.inner).as_ref() {
            None => "closed".to_owned(),
            Some(client) if client.is_connected() => {
                format!("connected to {:?}", client.name().unwrap_or_default())
            }
            Some(_) => "not connected".to_owned(),
        };
        format!("<Client {} {state}>", self.endpoint)
    }
}

impl Client {
    /// Opens a subscription to one of a sensor's image streams, with the GIL released while it
    /// connects.
    fn subscribe_stream(
        &self,
        py: Python<'_>,
        stream: ImageStream,
        sensor_id: Option<String>,
        queue: usize,
    ) -> PyResult<Py<Subscription>> {
        let client = self.inner()?;
        let sensor_id = sensor_or_first(&client, sensor_id)?;
        let config = SubscriptionConfig::default().with_queue_len(queue);
        let id = sensor_id.clone();
        let opened = py
            .detach(move || stream.open(&client, &id, config))
            .map_err(client_error)?;
        closeable(
            py,
            Subscription::new(opened, sensor_id, stream.endpoint_name()),
        )
    }
}

/// The streams besides depth that `Client.subscribe_*` opens: the three methods differ only in
/// this (their defaults and docs aside).
#[derive(Debug, Clone, Copy)]
enum ImageStream {
    /// `subscribe_ir`: infrared, `ir_v2`.
    Ir,
    /// `subscribe_color`: colour decoded to RGB.
    Color,
    /// `subscribe_color_jpeg`: colour as the JPEG files the server sends.
    ColorJpeg,
}

impl ImageStream {
    /// The endpoint it reads.
    fn endpoint_name(self) -> &'static str {
        match self {
            ImageStream::Ir => ENDPOINT_IR_V2,
            ImageStream::Color | ImageStream::ColorJpeg => ENDPOINT_COLOR,
        }
    }

    /// Subscribes with the Rust client's method for this stream.
    fn open(
        self,
        client: &sk2_client::Client,
        sensor_id: &str,
        config: SubscriptionConfig,
    ) -> Result<Stream, ClientError> {
        match self {
            ImageStream::Ir => client.subscribe_ir_with(sensor_id, config).map(Stream::Ir),
            ImageStream::Color => client
                .subscribe_color_with(sensor_id, config)
                .map(Stream::Color),
            ImageStream::ColorJpeg => client
                .subscribe_color_jpeg_with(sensor_id, config)
                .map(Stream::ColorJpeg),
        }
    }
}

/// `sensor_id`, or the id of the server's first sensor.
fn sensor_or_first(client: &sk2_client::Client, sensor_id: Option<String>) -> PyResult<String> {
    match sensor_id {
        Some(id) => Ok(id),
        None => client
            .me()
            .and_then(|me| me.devices.first().map(|device| device.id.clone()))
            .ok_or_else(|| UnknownSensor::new_err("the server has no sensor")),
    }
}

/// One slice of waiting for the server: `Ok(Some(()))` once it answers, `Err` with the reason
/// once a handshake failed (a secure server refusing this client's keys: waiting longer cannot
/// help, though the client keeps retrying in the background).
fn connected_within(
    client: &sk2_client::Client,
    slice: std::time::Duration,
) -> Result<Option<()>, ClientError> {
    match client.wait_connected(slice) {
        Ok(_) => Ok(Some(())),
        Err(handshake @ ClientError::Handshake { .. }) => Err(handshake),
        Err(_) => Ok(None),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    Ok(())
}
