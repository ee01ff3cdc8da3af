"""Infrared, colour and calibration against a real kinect-server: exact infrared frames, colour
decoded and passed on byte for byte, the mock's calibration field for field, registration into
point clouds, and clear errors where a stream or a calibration is missing."""

import datetime
import io

import numpy as np
import pytest

import streamkinect2 as sk2

from conftest import COLOR_SHAPE, pillow_image, reference_frames, reference_ir, reference_jpegs

WAIT_S = 30.0

# The mock's calibration (sk2_proto's Calibration::KINECT_V2_TYPICAL, docs/protocol.md's example),
# as the float32 values the server sends.
MOCK_IR = dict(fx=368.147, fy=368.147, cx=264.317, cy=208.964, k1=0.0807732, k2=-0.27181,
               k3=0.103199, p1=0.0, p2=0.0)
MOCK_COLOR = dict(
    fx=1081.37, fy=1081.37, cx=959.5, cy=539.5, shift_d=863.0, shift_m=52.0,
    mx_x3y0=0.000433573, mx_x0y3=3.11985e-6, mx_x2y1=4.89289e-5, mx_x1y2=0.000329721,
    mx_x2y0=0.000753273, mx_x0y2=3.57279e-5, mx_x1y1=-0.000761282, mx_x1y0=0.633183,
    mx_x0y1=0.00562461, mx_x0y0=0.17028,
    my_x3y0=3.31803e-6, my_x0y3=0.000587018, my_x2y1=0.000425902, my_x1y2=1.76095e-5,
    my_x2y0=-0.0002469, my_x0y2=-0.000945311, my_x1y1=0.000648708, my_x1y0=-0.00578545,
    my_x0y1=0.632964, my_x0y0=-0.000370404,
)


def as_float32(fields):
    return {name: float(np.float32(value)) for name, value in fields.items()}


def test_infrared_frames_equal_the_replayed_amplitudes_in_sequence(start_server, streams_dir):
    server = start_server("--source", "replay", "--replay-dir", str(streams_dir), "--fps", "30")
    references = reference_ir()
    with sk2.Client(server.endpoint) as client, client.subscribe_ir() as frames:
        assert frames.endpoint == "ir_v2"
        last_sequence = None
        started = datetime.datetime.now(datetime.timezone.utc)
        for _ in range(8):
            frame = frames.next(timeout=WAIT_S)
            assert isinstance(frame, sk2.IrFrame)
            assert frame.ir.dtype == np.uint16 and frame.ir.shape == (424, 512)
            # The replay sends the IR file of the depth frame with the same sequence number.
            assert np.array_equal(frame.ir, references[frame.sequence % 3])
            assert frame.codec == "medhuf"
            assert frame.sensor_id == client.sensors[0].id
            if last_sequence is not None:
                assert frame.sequence > last_sequence
            last_sequence = frame.sequence
            assert abs(frame.capture_time - started) < datetime.timedelta(seconds=60)
            assert repr(frame) == (
                f"<IrFrame sensor={frame.sensor_id} codec=medhuf sequence={frame.sequence} "
                "shape=[424, 512]>"
            )
        assert frames.received >= 8 and frames.stats()["decode_errors"] == 0


def test_infrared_and_depth_of_one_exposure_share_a_sequence_number(start_server, streams_dir):
    server = start_server("--source", "replay", "--replay-dir", str(streams_dir), "--fps", "30")
    depth_references = reference_frames()
    with sk2.Client(server.endpoint) as client, client.subscribe_ir(queue=1) as ir:
        frame = ir.next(timeout=WAIT_S)
        with client.subscribe() as depth:
            depth_frame = depth.next(timeout=WAIT_S)
        assert np.array_equal(depth_frame.depth, depth_references[depth_frame.sequence % 3])
        assert np.array_equal(frame.ir, reference_ir()[frame.sequence % 3])


def test_colour_frames_decode_to_rgb_and_jpeg_bytes_pass_unchanged(start_server, streams_dir):
    image_module = pillow_image()
    server = start_server("--source", "replay", "--replay-dir", str(streams_dir), "--fps", "30")
    jpegs = reference_jpegs()
    with sk2.Client(server.endpoint) as client:
        with client.subscribe_color_jpeg() as files:
            assert files.endpoint == "color"
            for _ in range(4):
                frame = files.next(timeout=WAIT_S)
                assert isinstance(frame, sk2.JpegFrame)
                assert frame.jpeg[:2] == b"\xff\xd8"
                assert frame.jpeg == jpegs[frame.sequence % 3]
                assert (frame.height, frame.width) == COLOR_SHAPE
                assert repr(frame) == (
                    f"<JpegFrame sensor={frame.sensor_id} sequence={frame.sequence} "
                    f"{frame.width}x{frame.height} {len(frame.jpeg)} bytes>"
                )
        with client.subscribe_color() as colour:
            frame = colour.next(timeout=WAIT_S)
            assert isinstance(frame, sk2.ColorFrame)
            assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == COLOR_SHAPE + (3,)
            assert frame.rgb.flags["C_CONTIGUOUS"]
            # Pillow (libjpeg) decodes the same file; JPEG decoders may differ by rounding only.
            expected = np.asarray(image_module.open(io.BytesIO(jpegs[frame.sequence % 3])).convert("RGB"))
            difference = np.abs(frame.rgb.astype(np.int16) - expected.astype(np.int16))
            assert difference.mean() < 1.0 and difference.max() <= 8
            assert frame.sensor_id == client.sensors[0].id
            assert repr(frame) == (
                f"<ColorFrame sensor={frame.sensor_id} sequence={frame.sequence} "
                f"shape={list(frame.rgb.shape)}>"
            )


def test_the_mocks_colour_frames_are_full_hd_rgb(start_server):
    server = start_server("--fps", "30")
    with sk2.Client(server.endpoint) as client, client.subscribe_color() as colour:
        first = colour.next(timeout=WAIT_S)
        second = colour.next(timeout=WAIT_S)
    assert first.rgb.shape == (1080, 1920, 3) and first.rgb.dtype == np.uint8
    assert second.sequence > first.sequence
    assert first.rgb.std() > 10  # a picture, not a blank


def test_a_server_without_colour_raises_stream_unavailable(start_server):
    server = start_server("--no-color", "--ir-codec", "none")
    with sk2.Client(server.endpoint) as client:
        assert "color" not in client.sensors[0].endpoints
        with pytest.raises(sk2.StreamUnavailable, match="color"):
            client.subscribe_color()
        with pytest.raises(sk2.StreamUnavailable, match="color"):
            client.subscribe_color_jpeg()
        with pytest.raises(sk2.StreamUnavailable, match="ir_v2"):
            client.subscribe_ir()
        with client.subscribe() as depth:  # depth still works
            depth.next(timeout=WAIT_S)
    with pytest.raises(sk2.UnknownSensor):
        with sk2.Client(server.endpoint) as client:
            client.subscribe_color(sensor_id="no-such-sensor")


def test_calibration_equals_the_mocks_field_for_field(start_server):
    server = start_server("--sensors", "2")
    with sk2.Client(server.endpoint) as client:
        for sensor in client.sensors:
            calibration = client.calibration(sensor.id)
            assert isinstance(calibration, sk2.Calibration)
            assert calibration.ir.to_dict() == as_float32(MOCK_IR)
            assert calibration.color.to_dict() == as_float32(MOCK_COLOR)
            assert calibration.ir.fx == pytest.approx(368.147)
            assert calibration.color.my_x0y1 == pytest.approx(0.632964)
            assert calibration.to_dict() == {
                "ir": as_float32(MOCK_IR),
                "color": as_float32(MOCK_COLOR),
            }
        assert client.calibration() == client.calibration(client.sensors[0].id)
        with pytest.raises(sk2.UnknownSensor):
            client.calibration("no-such-sensor")


def test_a_server_without_calibration_gives_none(start_server, replay_dir):
    server = start_server("--source", "replay", "--replay-dir", str(replay_dir))
    with sk2.Client(server.endpoint) as client:
        assert client.calibration() is None


def test_registration_turns_a_wall_into_points_at_its_distance(start_server):
    server = start_server()
    with sk2.Client(server.endpoint) as client:
        calibration = client.calibration()
    registration = sk2.Registration(calibration)
    assert registration.shape == (512, 424)
    wall = np.full((424, 512), 2000, dtype=np.uint16)  # 2 m everywhere
    points = registration.point_cloud(wall)
    assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] == 3
    # At most one point per pixel (an undistorted pixel whose ray leaves the raw image has none).
    assert 200_000 < len(points) <= 512 * 424
    holed = wall.copy()
    holed[:40, :] = 0  # no depth in the top rows: holes, left out
    assert len(registration.point_cloud(holed)) < len(points) - 30 * 512
    assert np.all(points[:, 2] == 2.0)
    # x right, y down: the leftmost points are left of the axis, the top ones above it.
    assert points[:, 0].min() < -0.5 < 0.5 < points[:, 0].max()
    assert points[:, 1].min() < 0 < points[:, 1].max()

    rgb = np.zeros(COLOR_SHAPE + (3,), dtype=np.uint8)
    rgb[...] = (200, 30, 90)
    coloured, colors, has_color = registration.colored_point_cloud(wall, rgb)
    assert np.array_equal(coloured, points)
    assert colors.shape == points.shape and colors.dtype == np.uint8
    assert has_color.dtype == np.bool_ and has_color.shape == (len(points),)
    assert 0.5 < has_color.mean() < 1.0  # the colour camera sees most of the wall, not all
    assert np.all(colors[has_color] == (200, 30, 90))
    assert np.all(colors[~has_color] == 0)

    with pytest.raises(ValueError, match="512x424"):
        registration.point_cloud(np.zeros((48, 64), dtype=np.uint16))


def test_a_subscription_annotates_as_a_generic():
    assert sk2.Subscription[sk2.IrFrame].__origin__ is sk2.Subscription
