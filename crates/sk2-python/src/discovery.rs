//! Discovery over mDNS: `browse()` (a snapshot) and `watch()` (a stream of events), over
//! [`sk2_client::Browser`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use pyo3::prelude::*;
use sk2_client::{Browser, BrowserEvent, ClientConfig};

use crate::blocking::{close_released, closeable, lock, seconds, wait_interruptibly, Closeable};
use crate::errors::{Sk2Error, Timeout};
use crate::sensor::Sensor;

/// How long `browse()` gives each server found to tell its sensors.
const SENSOR_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A server found over mDNS. Pass it to `Client()` to connect.
#[pyclass(frozen, module = "streamkinect2", name = "ServerInfo")]
#[derive(Debug, Clone)]
pub(crate) struct ServerInfo {
    info: sk2_client::ServerInfo,
    /// The server's sensors: asked by `browse()`; None in `watch()` events (which do not connect).
    #[pyo3(get)]
    sensors: Option<Vec<Sensor>>,
}

impl ServerInfo {
    pub(crate) fn inner(&self) -> &sk2_client::ServerInfo {
        &self.info
    }
}

#[pymethods]
impl ServerInfo {
    /// The server's name (its mDNS instance name).
    #[getter]
    fn name(&self) -> &str {
        &self.info.name
    }

    /// Its control endpoint, "tcp://host:port".
    #[getter]
    fn endpoint(&self) -> String {
        self.info.control_endpoint()
    }

    /// Its host name as announced, e.g. "kinect-box.local".
    #[getter]
    fn host(&self) -> &str {
        &self.info.host
    }

    /// Its control port.
    #[getter]
    fn port(&self) -> u16 {
        self.info.port
    }

    /// Its addresses from mDNS, best first (IPv4 before IPv6).
    #[getter]
    fn addresses(&self) -> Vec<String> {
        self.info
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "ServerInfo(name={:?}, endpoint={:?}, addresses={:?}, sensors={})",
            self.info.name,
            self.info.control_endpoint(),
            self.addresses(),
            match &self.sensors {
                Some(sensors) => format!("{}", sensors.len()),
                None => "None".to_owned(),
            }
        )
    }
}

fn browser_error(error: impl std::fmt::Display) -> PyErr {
    Sk2Error::new_err(error.to_string())
}

/// Asks a server for its sensors; None if it does not answer within [`SENSOR_QUERY_TIMEOUT`].
fn sensors_of(info: &sk2_client::ServerInfo) -> Option<Vec<Sensor>> {
    let config = ClientConfig::default().with_host_addresses(info.host_addresses());
    let client = sk2_client::Client::connect_blocking(
        &info.control_endpoint(),
        config,
        SENSOR_QUERY_TIMEOUT,
    )
    .ok()?;
    client.me().map(|me| Sensor::all_of(&me))
}

/// Listens for servers over mDNS for `timeout` seconds and returns those found, each with its
/// sensors (asked over the control connection; None for a server that did not answer).
#[pyfunction]
#[pyo3(signature = (timeout = 3.0))]
pub(crate) fn browse(py: Python<'_>, timeout: f64) -> PyResult<Vec<ServerInfo>> {
    let timeout = seconds(timeout, "timeout")?;
    let browser = py.detach(Browser::new).map_err(browser_error)?;
    // Ctrl-C must be able to end the listening: wait in slices.
    let _listened_for_the_whole_timeout = wait_interruptibly(py, Some(timeout), |slice| {
        std::thread::sleep(slice);
        Ok::<_, ()>(None::<()>)
    })?;
    let found = browser.servers();
    let servers = py.detach(move || {
        drop(browser);
        std::thread::scope(|scope| {
            let asked: Vec<_> = found
                .iter()
                .map(|info| scope.spawn(move || sensors_of(info)))
                .collect();
            found
                .iter()
                .zip(asked)
                .map(|(info, asked)| ServerInfo {
                    info: info.clone(),
                    sensors: asked.join().unwrap_or(None),
                })
                .collect()
        })
    });
    Ok(servers)
}

/// Something that happened on the network: `kind` is "appeared", "changed" or "disappeared".
#[pyclass(frozen, module = "streamkinect2", name = "ServerEvent")]
#[derive(Debug)]
pub(crate) struct ServerEvent {
    /// "appeared", "changed" (new port or addresses) or "disappeared".
    #[pyo3(get)]
    kind: &'static str,
    /// The server's name.
    #[pyo3(get)]
    name: String,
    /// The server, for "appeared" and "changed"; None for "disappeared".
    #[pyo3(get)]
    server: Option<Py<ServerInfo>>,
}

#[pymethods]
impl ServerEvent {
    fn __repr__(&self) -> String {
        format!("ServerEvent(kind={:?}, name={:?})", self.kind, self.name)
    }
}

/// Watches the network for servers: iterate to get `ServerEvent`s as servers appear and
/// disappear (blocking; Ctrl-C interrupts), or call `next(timeout)`. Servers already present are
/// reported as "appeared" first. Use it as a context manager, or call `close()`.
#[pyclass(frozen, extends = Closeable, module = "streamkinect2", name = "Watcher")]
pub(crate) struct Watcher {
    browser: Mutex<Option<Arc<Browser>>>,
}

impl Watcher {
    fn wait(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Result<Option<ServerEvent>, ()>> {
        let Some(browser) = lock(&self.browser).clone() else {
            return Ok(Err(()));
        };
        let events = browser.events();
        let waited = wait_interruptibly(py, timeout, |slice| match events.recv_timeout(slice) {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        })?;
        py.detach(move || drop(browser));
        let Ok(Some(event)) = waited else {
            return Ok(waited.map(|_| None));
        };
        let server = |info: sk2_client::ServerInfo| {
            Py::new(
                py,
                ServerInfo {
                    info,
                    sensors: None,
                },
            )
        };
        Ok(Ok(Some(match event {
            BrowserEvent::ServerAppeared(info) => ServerEvent {
                kind: "appeared",
                name: info.name.clone(),
                server: Some(server(info)?),
            },
            BrowserEvent::ServerChanged(info) => ServerEvent {
                kind: "changed",
                name: info.name.clone(),
                server: Some(server(info)?),
            },
            BrowserEvent::ServerDisappeared { name, .. } => ServerEvent {
                kind: "disappeared",
                name,
                server: None,
            },
            // A kind of event this version does not know: report it by name only.
            _ => ServerEvent {
                kind: "changed",
                name: String::new(),
                server: None,
            },
        })))
    }
}

#[pymethods]
impl Watcher {
    /// Waits for the next event, for at most `timeout` seconds (forever if None). Raises Timeout
    /// if none comes in time.
    #[pyo3(signature = (timeout = None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<ServerEvent> {
        let timeout = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        match self.wait(py, timeout)? {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(Timeout::new_err(format!(
                "no server appeared or disappeared within {:?}",
                timeout.unwrap_or_default()
            ))),
            Err(()) => Err(Sk2Error::new_err("the watcher is closed")),
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ServerEvent>> {
        Ok(self.wait(py, None)?.ok().flatten())
    }

    /// Stops watching (and leaves the multicast group).
    fn close(&self, py: Python<'_>) {
        close_released(py, &self.browser);
    }
}

/// Starts watching the network for servers; returns a `Watcher` to iterate over.
#[pyfunction]
pub(crate) fn watch(py: Python<'_>) -> PyResult<Py<Watcher>> {
    let browser = py.detach(Browser::new).map_err(browser_error)?;
    let watcher = Watcher {
        browser: Mutex::new(Some(Arc::new(browser))),
    };
    closeable(py, watcher)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ServerInfo>()?;
    m.add_class::<ServerEvent>()?;
    m.add_class::<Watcher>()?;
    m.add_function(wrap_pyfunction!(browse, m)?)?;
    m.add_function(wrap_pyfunction!(watch, m)?)?;
    Ok(())
}
