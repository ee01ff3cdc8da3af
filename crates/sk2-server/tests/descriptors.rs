//! Descriptors across sensor hot-plug cycles. Runs alone in a process of its own
//! ([`sk2_testkit::alone_in_process`]), because it counts the process's open descriptors, which
//! tests running beside it would change.

use crate::common;

use common::{local_config, mock};
use sk2_server::Server;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Every sensor's sockets are guarded by the gatekeeper (a monitor socket each): removing the
/// sensor must release them, or a hot-plugged sensor would leak descriptors on every cycle.
#[test]
fn adding_and_removing_sensors_many_times_leaves_no_descriptors_behind() {
    if !sk2_testkit::alone_in_process(
        "adding_and_removing_sensors_many_times_leaves_no_descriptors_behind",
    ) {
        return;
    }
    let mut server = Server::new(local_config());
    server.start().unwrap();
    let cycle = |server: &mut Server| {
        let id = server.add_sensor(Box::new(mock(30.0))).unwrap();
        server.remove_sensor(&id).unwrap();
    };
    // Warm up (libzmq's I/O threads, the encoder pool), then count.
    for _ in 0..3 {
        cycle(&mut server);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = open_descriptors();
    for _ in 0..40 {
        cycle(&mut server);
    }
    // The gatekeeper forgets a guard when its socket's monitor stops, checked every 50 ms.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = open_descriptors();
    assert!(
        after <= before + 2,
        "{before} descriptors before 40 add/remove cycles, {after} after"
    );
    server.stop();
}
