//! The device's frames, lent by libfreenect2 until dropped: the context outlives its devices,
//! held frames go back, newer frames replace each other meanwhile, and a restarted stream never
//! returns a frame of the previous run.

use std::time::Duration;

use sk2_freenect2::Freenect2Error;
use sk2_testkit::wait_until;

use crate::{
    assert_nothing_alive, close_all, exclusive, held_color_frame, held_frame, open_device, standin,
    EXPECTED_SPECIAL_PIXELS, FRAME_WAIT,
};

#[test]
fn a_device_keeps_its_context_alive_after_the_context_handle_is_dropped() {
    let _bus = exclusive();
    standin::reset("AAA", 5_000, 0);
    let (freenect2, mut device) = open_device();
    // libfreenect2 deletes every open device when its context goes: dropping the context handle
    // first must not free it, or closing the device below would be a use after free.
    drop(freenect2);
    assert_eq!(standin::counts().contexts_live, 1);
    device.start().unwrap();
    let frame = held_frame(&mut device);
    assert_eq!(
        frame.to_depth_frame().depth_mm()[..18],
        EXPECTED_SPECIAL_PIXELS
    );
    drop(frame);
    drop(device);
    assert_nothing_alive();
}

#[test]
fn waiting_for_a_frame_before_start_is_an_error_and_held_frames_go_back_on_drop() {
    let _bus = exclusive();
    standin::reset("AAA", 1_000, 0);
    let (freenect2, mut device) = open_device();
    assert_eq!(
        device.wait_frame(Duration::from_millis(1)).unwrap_err(),
        Freenect2Error::NotStreaming {
            serial: "AAA".into()
        }
    );
    device.start().unwrap();
    for _ in 0..20 {
        let frame = held_frame(&mut device);
        assert_eq!(
            (frame.width(), frame.height(), frame.bytes().len()),
            (512, 424, 512 * 424 * 4)
        );
    }
    device.stop().unwrap();
    // At most the listener's one unread frame is alive while the device is open.
    assert!(
        standin::counts().frames_live <= 1,
        "{:?}",
        standin::counts()
    );
    close_all(device, freenect2);
}

#[test]
fn frames_arriving_while_one_is_held_replace_each_other_and_the_newest_comes_at_once() {
    let _bus = exclusive();
    // libfreenect2 v0.2.1 with C++11 threading (which the stand-in imitates): the timed wait
    // does not mark the frame as held, so the driver keeps handing frames over meanwhile; the
    // listener keeps the newest in its pending slot and deletes the one it replaces.
    standin::reset("AAA", 2_000, 0);
    let (freenect2, mut device) = open_device();
    device.start().unwrap();
    let held = held_frame(&mut device);
    let first = held.device_sequence();
    let before = standin::counts();
    // Hold it while the driver makes about 25 more.
    wait_until("the driver to make frames", FRAME_WAIT, || {
        standin::counts().depth_frames_made >= before.depth_frames_made + 5
    });
    std::thread::sleep(Duration::from_millis(40));
    drop(held);
    // The next wait returns at once (no timeout to wait through) with a newer frame.
    let next = device
        .wait_frame(Duration::ZERO)
        .unwrap()
        .expect("a frame pending");
    let second = next.device_sequence();
    drop(next);
    let after = standin::counts();
    device.stop().unwrap();
    assert!(second > first + 1, "{first} then {second}");
    assert_eq!(after.frames_refused, 0, "{after:?}");
    // Every frame between the two was taken by the listener and then replaced by the next one.
    assert!(
        after.frames_replaced - before.frames_replaced >= u64::from(second - first - 1),
        "{first} then {second}: {before:?} {after:?}"
    );
    close_all(device, freenect2);
}

#[test]
fn a_restarted_stream_never_returns_a_frame_left_over_from_the_previous_run() {
    let _bus = exclusive();
    // A frame every 200 ms, numbered from 0 in the first run and from 1000 in the second, so
    // that a frame left over from the first run cannot pass for a new one.
    standin::reset("AAA", 200_000, 0);
    let (freenect2, mut device) = open_device();
    device.start().unwrap();
    drop(held_frame(&mut device));
    let (_, mut color) = device.streams();
    drop(held_color_frame(&mut color));
    // Newer depth, IR and colour frames arrive and wait, unread, in the listeners; then the streams
    // stop.
    wait_until("second frames", FRAME_WAIT, || {
        let counts = standin::counts();
        counts.depth_frames_made >= 2 && counts.color_frames_made >= 2
    });
    device.stop().unwrap();
    assert_eq!(
        standin::counts().frames_live,
        3,
        "a depth, an IR and a colour frame left unread"
    );
    standin::set_first_sequence(1000);
    device.start().unwrap();
    let fresh = held_frame(&mut device);
    assert!(
        fresh.device_sequence() >= 1000,
        "the leftover depth frame {} was returned",
        fresh.device_sequence()
    );
    drop(fresh);
    let (_, mut color) = device.streams();
    let fresh_color = held_color_frame(&mut color);
    assert!(
        fresh_color.device_sequence() >= 1000,
        "the leftover colour frame {} was returned",
        fresh_color.device_sequence()
    );
    drop(fresh_color);
    close_all(device, freenect2);
}
