//! `Client`: a control connection to one server, over [`sk2_client`].
//!
//! The Rust client lives behind an `Arc` in a frozen Python class, so a thread blocked in a
//! request (GIL released) and another calling `close()` never fight over a borrow: `close()`
//! takes the client out, and later calls raise Unreachable.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sk2_client::{ClientConfig, EndpointKind, SubscriptionConfig};
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;

use crate::blocking::{close_released, closeable, lock, seconds, wait_interruptibly, Closeable};
use crate::discovery::ServerInfo;
use crate::errors::{client_error, Sk2Error, Timeout, UnknownSensor, Unreachable};
use crate::sensor::Sensor;
use crate::subscription::{Subscription, ENDPOINT_DEPTH};

/// A connection to one server's control endpoint.
///
/// `Client("tcp://host:port")` or `Client(server_info)` (from `browse()` or `watch()`) connects
/// and waits until the server answers, for at most `timeout` seconds (raises Unreachable). The
/// client then sends a `who` heartbeat every `heartbeat` seconds and reconnects by itself if the
/// server goes away and comes back. Requests (`ping()`) fail with Timeout after `timeout` seconds
/// without a reply.
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
    #[pyo3(signature = (target, heartbeat = 10.0, timeout = 5.0))]
    fn new(
        py: Python<'_>,
        target: &Bound<'_, PyAny>,
        heartbeat: f64,
        timeout: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let timeout = seconds(timeout, "timeout")?;
        let mut config = ClientConfig::default()
            .with_heartbeat(seconds(heartbeat, "heartbeat")?)
            .with_request_timeout(timeout);
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
            Ok(waiting.wait_connected(slice).ok())
        })?;
        if !matches!(outcome, Ok(Some(_))) {
            let endpoint = endpoint.clone();
            py.detach(move || drop(client));
            return Err(Unreachable::new_err(format!(
                "no answer from {endpoint} within {timeout:?}"
            )));
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
    /// (forever if None). Raises Timeout if it does not.
    #[pyo3(signature = (timeout = None))]
    fn wait_connected(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        let client = self.inner()?;
        match wait_interruptibly(py, timeout, move |slice| {
            Ok(client.wait_connected(slice).ok())
        })? {
            Ok(Some(_)) => Ok(()),
            _ => Err(Timeout::new_err(format!(
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
        let sensor_id = match sensor_id {
            Some(id) => id,
            None => client
                .me()
                .and_then(|me| me.devices.first().map(|device| device.id.clone()))
                .ok_or_else(|| UnknownSensor::new_err("the server has no sensor"))?,
        };
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
        closeable(py, Subscription::new(subscription, sensor_id, endpoint))
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

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    Ok(())
}
