//! DNS-SD over mDNS: announces `<name>._kinect2._tcp.local.` so browsers find the server.

use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

use crate::ServerError;

pub use sk2_proto::discovery::SERVICE_TYPE;

/// How long `unregister` waits for the daemon to send its goodbye packets.
const GOODBYE_TIMEOUT: Duration = Duration::from_millis(500);

/// A registered service; [`Announcer::unregister`] (or drop) says goodbye.
pub(crate) struct Announcer {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Announcer {
    /// Registers `name` with SRV port `port`, target `<host>.local.`, the A records of the
    /// interfaces (all, or only `interface`), and the given TXT keys.
    pub(crate) fn register(
        name: &str,
        host: &str,
        port: u16,
        interface: Option<&str>,
        txt: &[(&str, String)],
    ) -> Result<Self, ServerError> {
        let failed = |error: mdns_sd::Error| ServerError::Announce(error.to_string());
        if let Some(interface) = interface {
            // mdns-sd accepts any name and then announces nowhere: refuse a typo up front.
            let known = if_addrs::get_if_addrs()
                .map_err(|error| ServerError::Announce(format!("listing interfaces: {error}")))?;
            if !known.iter().any(|candidate| candidate.name == interface) {
                return Err(ServerError::Announce(format!(
                    "no network interface named {interface:?} with an IP address"
                )));
            }
        }
        let daemon = ServiceDaemon::new().map_err(failed)?;
        let host = format!(
            "{}.local.",
            host.trim_end_matches('.').trim_end_matches(".local")
        );
        let mut info = ServiceInfo::new(SERVICE_TYPE, name, &host, (), port, txt)
            .map_err(failed)?
            // Fill the A records from the interfaces, and follow address changes.
            .enable_addr_auto();
        if let Some(interface) = interface {
            daemon.disable_interface(IfKind::All).map_err(failed)?;
            daemon
                .enable_interface(IfKind::Name(interface.to_owned()))
                .map_err(failed)?;
            info.set_interfaces(vec![IfKind::Name(interface.to_owned())]);
        }
        let fullname = info.get_fullname().to_owned();
        daemon.register(info).map_err(failed)?;
        tracing::info!(service = %fullname, port, "announced over mDNS");
        Ok(Self { daemon, fullname })
    }

    /// Unregisters (browsers see the service removed) and stops the daemon.
    pub(crate) fn unregister(self) {
        match self.daemon.unregister(&self.fullname) {
            Ok(status) => {
                if status.recv_timeout(GOODBYE_TIMEOUT).is_err() {
                    tracing::warn!(service = %self.fullname, "mDNS goodbye not confirmed in time");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot unregister mDNS service"),
        }
        if let Ok(status) = self.daemon.shutdown() {
            let _ = status.recv_timeout(GOODBYE_TIMEOUT);
        }
        tracing::info!(service = %self.fullname, "mDNS service unregistered");
    }
}
