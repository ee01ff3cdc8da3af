//! Packet pipelines: missing from the library, ending the process while being built (OpenGL
//! without a display), or silently dropping every frame (OpenCL without a platform).

use std::time::{Duration, Instant};

use sk2_freenect2::{
    Freenect2, Freenect2Error, Freenect2Sensor, OpenOptions, Pipeline, FIRST_FRAME_TIMEOUT,
};
use sk2_proto::{Sensor, SensorError};

use crate::{
    assert_nothing_alive, channel_sink, exclusive, open_sensor, standin, start_streaming,
    with_pipeline, KINECT_INTERVAL_US,
};

#[test]
fn pipelines_missing_from_the_library_are_errors_and_present_ones_are_used() {
    let _bus = exclusive();
    standin::reset("AAA", KINECT_INTERVAL_US, 0);
    // The stand-in's config.h declares OpenGL and OpenCL support, not CUDA.
    assert!(Freenect2::pipeline_available(Pipeline::Cpu));
    assert!(Freenect2::pipeline_available(Pipeline::OpenGl));
    assert!(Freenect2::pipeline_available(Pipeline::OpenCl));
    assert!(!Freenect2::pipeline_available(Pipeline::Cuda));
    let error = Freenect2Sensor::open(&with_pipeline(Pipeline::Cuda)).unwrap_err();
    assert_eq!(error, Freenect2Error::PipelineUnavailable(Pipeline::Cuda));
    for (pipeline, event) in [
        (Pipeline::OpenGl, "open AAA opengl color=raw"),
        (Pipeline::OpenCl, "open AAA opencl color=raw"),
    ] {
        let mut sensor = open_sensor(&with_pipeline(pipeline));
        assert!(
            standin::events().contains(&event.to_owned()),
            "{:?}",
            standin::events()
        );
        let _frames = start_streaming(&mut sensor, 4);
        drop(sensor);
    }
    assert_nothing_alive();
}

#[test]
fn an_opengl_pipeline_that_would_end_the_process_is_an_error_instead() {
    let _bus = exclusive();
    // libfreenect2's OpenGL pipeline calls exit(-1) from its constructor without a display or
    // OpenGL 3.1; the stand-in does the same. Reaching this test's end at all shows that the
    // binding built it in a child process first.
    standin::reset("AAA", KINECT_INTERVAL_US, 0);
    standin::set_gpu(true, false);
    let error = Freenect2Sensor::open(&with_pipeline(Pipeline::OpenGl)).unwrap_err();
    let Freenect2Error::PipelineFailed {
        pipeline,
        ref outcome,
        ref log,
    } = error
    else {
        panic!("expected PipelineFailed, got {error:?}");
    };
    assert_eq!(pipeline, Pipeline::OpenGl);
    assert!(outcome.contains("exit status 255"), "{outcome}");
    assert!(
        log.as_deref()
            .is_some_and(|line| line.ends_with("Failed to create opengl window.")),
        "{log:?}"
    );
    assert_eq!(
        error.to_string(),
        "the opengl packet pipeline cannot start on this machine: libfreenect2 ended the process \
         while building it (exit status 255): [standin] Failed to create opengl window. (try \
         --pipeline cpu; docs/freenect2.md)"
    );
    // The probe happens before the device is touched; the CPU pipeline still works.
    assert_eq!(standin::counts().devices_opened, 0);
    let mut sensor = open_sensor(&OpenOptions::default());
    let _frames = start_streaming(&mut sensor, 4);
    drop(sensor);
    assert_nothing_alive();
}

#[test]
fn a_pipeline_that_silently_drops_every_frame_fails_start_naming_the_pipeline() {
    let _bus = exclusive();
    // libfreenect2's OpenCL pipeline without an OpenCL platform: the device opens and streams,
    // the pipeline logs once and then drops every packet.
    standin::reset("AAA", 2_000, 0);
    standin::set_gpu(false, true);
    let mut sensor = Freenect2Sensor::open(&with_pipeline(Pipeline::OpenCl)).unwrap();
    let timeout = Duration::from_millis(600);
    sensor.set_first_frame_timeout(timeout);
    let (sink, frames) = channel_sink(4);
    let started = Instant::now();
    let error = sensor.start(sink).unwrap_err();
    assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
    let SensorError::Unavailable(message) = error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert_eq!(
        message,
        "no depth frame from Kinect v2 AAA within 0.6 s of starting on the opencl packet \
         pipeline: libfreenect2's opencl pipeline drops every frame when it finds no working \
         OpenCL platform or device (its log above says why); try --pipeline cpu"
    );
    assert!(frames.try_recv().is_err());
    // The failed start stopped the stream and kept the device: it can be started again.
    let events = standin::events();
    assert_eq!(
        events.last().map(String::as_str),
        Some("stop"),
        "{events:?}"
    );
    assert!(matches!(
        sensor.start(channel_sink(1).0),
        Err(SensorError::Unavailable(_))
    ));
    assert_eq!(sensor.stats(), Default::default());
    drop(sensor);
    assert_nothing_alive();
    assert!(
        FIRST_FRAME_TIMEOUT >= Duration::from_secs(2),
        "a few seconds"
    );
}
