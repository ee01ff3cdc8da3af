//! `Sensor`: one sensor of a server, as the server's latest `me` describes it (from a `Client`
//! or from `browse()`).

use pyo3::prelude::*;
use sk2_proto::depth_v2::DEVICE_CODEC_KEY;
use sk2_proto::{Device, Me};

/// One sensor of a server, as its latest `me` describes it.
#[pyclass(frozen, module = "streamkinect2", name = "Sensor")]
#[derive(Debug, Clone)]
pub(crate) struct Sensor {
    /// The sensor's id (32 hex characters on the original server).
    #[pyo3(get)]
    id: String,
    /// Endpoint name ("depth", "depth_v2", ...) to ZeroMQ address.
    #[pyo3(get)]
    endpoints: std::collections::BTreeMap<String, String>,
    /// Codec of its `depth_v2` endpoint, if the server says ("medhuf", ...).
    #[pyo3(get)]
    codec: Option<String>,
}

impl Sensor {
    pub(crate) fn all_of(me: &Me) -> Vec<Sensor> {
        me.devices
            .iter()
            .map(|device| Sensor::of(me, device))
            .collect()
    }

    fn of(me: &Me, device: &Device) -> Sensor {
        Sensor {
            id: device.id.clone(),
            endpoints: device.endpoints.clone(),
            codec: me
                .device_keys
                .get(&device.id)
                .and_then(|keys| keys.get(DEVICE_CODEC_KEY))
                .cloned(),
        }
    }
}

#[pymethods]
impl Sensor {
    fn __repr__(&self) -> String {
        let endpoints: Vec<&str> = self.endpoints.keys().map(String::as_str).collect();
        format!(
            "Sensor(id={:?}, endpoints={endpoints:?}, codec={:?})",
            self.id, self.codec
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Sensor>()
}
