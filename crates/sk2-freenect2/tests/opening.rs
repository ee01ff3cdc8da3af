//! Enumerating and opening devices: clear errors for missing, unknown, busy or already open
//! devices and bad options, and nothing leaked on any path.

use sk2_freenect2::{Freenect2, Freenect2Error, Freenect2Sensor, OpenOptions};
use sk2_proto::Sensor;

use crate::{
    assert_nothing_alive, exclusive, open_device, standin, with_serial, KINECT_INTERVAL_US,
};

#[test]
fn enumeration_lists_every_attached_serial_in_order() {
    let _bus = exclusive();
    standin::reset("003943241347,012345678912", KINECT_INTERVAL_US, 0);
    let freenect2 = Freenect2::new().unwrap();
    assert_eq!(
        freenect2.serials().unwrap(),
        ["003943241347", "012345678912"]
    );
    assert_eq!(freenect2.device_count().unwrap(), 2);
    standin::reset("", KINECT_INTERVAL_US, 0);
    assert_eq!(
        freenect2.device_count().unwrap(),
        0,
        "enumeration rescans the bus"
    );
    drop(freenect2);
    assert_nothing_alive();
}

#[test]
fn no_device_attached_is_a_clear_error_and_leaks_nothing() {
    let _bus = exclusive();
    standin::reset("", KINECT_INTERVAL_US, 0);
    let error = Freenect2Sensor::open(&OpenOptions::default()).unwrap_err();
    assert_eq!(error, Freenect2Error::NoDevice);
    let message = error.to_string();
    assert!(message.starts_with("no Kinect v2 found"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    let error = Freenect2Sensor::open(&with_serial("003943241347")).unwrap_err();
    assert_eq!(error, Freenect2Error::NoDevice);
    assert_eq!(standin::counts().devices_opened, 0);
    assert_nothing_alive();
}

#[test]
fn an_unknown_serial_is_an_error_naming_the_attached_devices() {
    let _bus = exclusive();
    standin::reset("AAA,BBB", KINECT_INTERVAL_US, 0);
    let error = Freenect2Sensor::open(&with_serial("CCC")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no Kinect v2 with serial \"CCC\"; attached: AAA, BBB"
    );
    assert_nothing_alive();
}

#[test]
fn a_device_opens_by_serial_or_as_the_first_one() {
    let _bus = exclusive();
    standin::reset("AAA,BBB", KINECT_INTERVAL_US, 0);
    let freenect2 = Freenect2::new().unwrap();
    let second = freenect2.open(&with_serial("BBB")).unwrap();
    assert_eq!(second.serial(), "BBB");
    let first = freenect2.open(&OpenOptions::default()).unwrap();
    assert_eq!(first.serial(), "AAA");
    assert_eq!(
        Freenect2Sensor::new(first).unwrap().id(),
        sk2_freenect2::sensor_id("AAA"),
        "the sensor id derives from the serial"
    );
    drop(second);
    drop(freenect2);
    assert_eq!(standin::counts().devices_closed, 2);
    assert_nothing_alive();
}

#[test]
fn opening_an_open_device_again_is_refused_before_libfreenect2_hands_it_out_twice() {
    let _bus = exclusive();
    standin::reset("AAA", KINECT_INTERVAL_US, 0);
    let (freenect2, device) = open_device();
    // libfreenect2 v0.2 (and the stand-in) would return the same device object again, and
    // closing both handles would free it twice.
    let error = freenect2.open(&OpenOptions::default()).unwrap_err();
    assert_eq!(
        error,
        Freenect2Error::AlreadyOpen {
            serial: "AAA".into()
        }
    );
    let error = freenect2.open(&with_serial("AAA")).unwrap_err();
    assert_eq!(
        error,
        Freenect2Error::AlreadyOpen {
            serial: "AAA".into()
        }
    );
    assert!(!standin::events()
        .iter()
        .any(|event| event.starts_with("open_again")));
    drop(device);
    // Closed devices can be opened again.
    drop(freenect2.open(&OpenOptions::default()).unwrap());
    drop(freenect2);
    assert_eq!(standin::counts().devices_opened, 2);
    assert_nothing_alive();
}

#[test]
fn a_device_that_cannot_be_opened_is_an_error_and_leaks_no_pipeline() {
    let _bus = exclusive();
    // The stand-in refuses to open serials starting with BUSY, like a device claimed by another
    // program. libfreenect2 then frees the pipeline itself: the shim must neither free it again
    // (the live count would underflow) nor leak it.
    standin::reset("BUSY1", KINECT_INTERVAL_US, 0);
    let error = Freenect2Sensor::open(&OpenOptions::default()).unwrap_err();
    assert_eq!(
        error,
        Freenect2Error::OpenFailed {
            serial: "BUSY1".into()
        }
    );
    assert!(
        error.to_string().contains("in use by another program"),
        "{error}"
    );
    assert!(standin::events().contains(&"open_failed BUSY1".to_owned()));
    assert_nothing_alive();
}

#[test]
fn bad_depth_ranges_are_rejected_before_touching_the_device() {
    let _bus = exclusive();
    standin::reset("AAA", KINECT_INTERVAL_US, 0);
    for (min, max) in [
        (1.0, 1.0),
        (-0.1, 4.5),
        (0.5, f32::NAN),
        (0.5, f32::INFINITY),
    ] {
        let error = Freenect2Sensor::open(&OpenOptions {
            min_depth_m: min,
            max_depth_m: max,
            ..OpenOptions::default()
        })
        .unwrap_err();
        assert!(
            matches!(error, Freenect2Error::BadDepthRange { .. }),
            "{min}..{max}: {error}"
        );
    }
    assert_eq!(standin::counts().devices_opened, 0);
    assert_nothing_alive();
}

#[test]
fn libfreenect2_console_logging_is_cut_to_warnings_unless_the_user_chose_a_level() {
    let _bus = exclusive();
    standin::reset("", KINECT_INTERVAL_US, 0);
    drop(Freenect2::new().unwrap());
    // libfreenect2::Logger::Warning is 2; with LIBFREENECT2_LOGGER_LEVEL set the shim leaves
    // libfreenect2's own logger (which honours the variable) alone.
    let expected = if std::env::var_os("LIBFREENECT2_LOGGER_LEVEL").is_none() {
        2
    } else {
        -1
    };
    assert_eq!(standin::counts().logger_level, expected);
    assert_nothing_alive();
}
