"""The camera path as it runs on a Pi: the real picamera2 over the virtual libcamera.

Every test goes through ``hal.picamera2_backend.Picamera2Camera`` -> picamera2 (the PyPI
release Raspberry Pi OS ships) -> ``hal/virtual/site/libcamera`` -> the virtual pipeline, on a
simulated clock, so a 30 s exposure takes no wall time. What the virtual pipeline imitates,
and the source line each behaviour follows, is in ``hal/virtual/SOURCES.md``.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

from hal import exc
from hal.camera import Controls, SensorInfo, SensorMode, preview_mode
from hal.clock import RealClock, SimulatedClock
from hal.picamera2_backend import ANALYSIS_RAW_WIDTH, Picamera2Camera, detect
from hal.select import make_camera
from hal.virtual import ExtraCamera, VirtualRig, driver

PREVIEW = (640, 480)


def make_rig(**options) -> VirtualRig:
    return VirtualRig(seed=5, clock=SimulatedClock(pace_s=0.004), **options)


@pytest.fixture
def rig() -> VirtualRig:
    return make_rig()


@pytest.fixture
def cam(rig):
    camera = make_camera("virtual", rig=rig)
    camera.open()
    yield camera
    camera.close()


def running(cam, mode: SensorMode | None = None):
    cam.configure(mode or preview_mode(cam.sensor), PREVIEW)
    cam.start()
    cam.next_frame(timeout_s=5)
    return cam


def test_the_sensor_is_read_through_picamera2(cam):
    s = cam.sensor
    assert s.model == "imx477"
    assert [m.name for m in s.modes] == ["1332x990", "2028x1080", "2028x1520", "4056x3040"]
    assert [m.bit_depth for m in s.modes] == [10, 12, 12, 12]
    assert s.modes[0].crop == (696, 528, 2664, 1980)
    assert s.full_resolution_mode.max_fps == pytest.approx(10.0, abs=0.01)
    assert s.exposure_time_us_range[1] == 653_950_000
    assert s.analogue_gain_range[1] == pytest.approx(1024 / 46)
    assert cam.describe()["libcamera"] == "virtual"


def test_detect_picks_the_hq_camera_among_others():
    webcam = ExtraCamera("uvcvideo", "/base/scb/pcie@7d500000/pci@0,0/usb@0,0-1:1.0-046d:0825")
    from hal import virtual

    virtual.install(make_rig(extra_cameras=(webcam,)))
    found = detect()
    assert found.index is not None
    assert "imx477" in found.found[found.index]
    virtual.install(make_rig(hq_camera=False, extra_cameras=(webcam,)))
    found = detect()
    assert found.index is None and "uvcvideo" in found.reason
    camera = Picamera2Camera(rig=virtual.installed())
    with pytest.raises(exc.CameraNotFound, match="uvcvideo"):
        camera.open()


def test_full_resolution_mode_prefers_the_deeper_mode_of_one_size(cam):
    ten = SensorMode((4056, 3040), 10, "BGGR", 15.0, (0, 0, 4056, 3040))
    info = SensorInfo("x", 1.55, (4056, 3040), (ten, *cam.sensor.modes), 4096, (1, 2), (1.0, 2.0))
    assert info.full_resolution_mode.bit_depth == 12


def test_live_frames_carry_what_the_frame_used(cam):
    running(cam)
    a, b = cam.next_frame(), cam.next_frame()
    assert a.rgb.shape == (PREVIEW[1], PREVIEW[0], 3)
    assert b.metadata.sequence == a.metadata.sequence + 1
    assert b.metadata.sensor_sequence > a.metadata.sensor_sequence >= driver.STARTUP_FRAMES
    assert b.metadata.sensor_timestamp_ns > a.metadata.sensor_timestamp_ns
    mode = driver.mode_for((2028, 1520), 12)
    lines = round(b.metadata.exposure_time_us * 1000 / mode.line_time_ns)
    # Exposure in whole lines of 15.2 µs (metadata carries whole microseconds).
    assert abs(b.metadata.exposure_time_us - lines * mode.line_time_ns / 1000) < 1
    gain = b.metadata.analogue_gain
    assert gain == pytest.approx(driver.gain_of_code(driver.gain_code(gain)))  # a register code
    assert b.raw.bayer_order == "BGGR" and b.raw.bit_depth == 12
    assert b.raw.data.shape[1] <= ANALYSIS_RAW_WIDTH  # bounded, not the whole raw
    # Copies, never views of the camera's buffers (picamera2 could not unmap them).
    assert b.rgb.flags.owndata and b.raw.data.flags.owndata


def test_scaler_crop_crops_the_picture_and_the_analysis_not_the_raw_stream(cam):
    mode = running(cam).sensor.modes[2]  # 2028x1520, binned 2x2
    crop = (1600, 1200, 812, 608)  # 5× punch-in, full-array pixels
    cam.set_controls(cam.controls.replace(scaler_crop=crop))
    for _ in range(8):
        frame = cam.next_frame()
        if frame.metadata.scaler_crop == crop:
            break
    assert frame.metadata.scaler_crop == crop
    # The analysis sees the sites under the crop: 812/2 × 608/2 binned sites.
    assert frame.raw.data.shape == (608 // mode.binning, 812 // mode.binning)
    assert cam.describe()["raw_format"] == "SBGGR12"


def test_zero_shutter_lag_takes_the_frame_exposing_at_the_press(cam):
    running(cam, cam.sensor.full_resolution_mode)
    assert cam.zero_shutter_lag
    live = cam.next_frame()
    still = cam.capture_still()
    assert still.data.shape == (3040, 4056)
    lag = still.metadata.shutter_lag_ms
    exposure_ms = live.metadata.exposure_time_us / 1000
    # The frame whose exposure is nearest the press: its middle within half a frame period
    # (50 ms at 10 fps) of it, before or after.
    assert abs(lag + exposure_ms / 2) <= 51
    assert cam.next_frame().rgb.shape == (PREVIEW[1], PREVIEW[0], 3)  # live view goes on


def test_a_still_from_the_binned_view_switches_modes_and_comes_back(cam):
    running(cam)
    before = cam.controls.replace(ev=1.0)
    cam.set_controls(before)
    still = cam.capture_still()
    assert still.data.shape == (3040, 4056) and still.bayer_order == "BGGR"
    assert still.metadata.shutter_lag_ms >= driver.START_LATENCY_S * 1000 * 0.9
    assert cam.controls == before
    frame = cam.next_frame()
    assert frame.raw.data.shape[1] <= ANALYSIS_RAW_WIDTH and cam.describe()["mode"] == "2028x1520"


def test_an_exposure_override_is_for_the_still_only(cam):
    running(cam, cam.sensor.full_resolution_mode)
    user = cam.controls
    still = cam.capture_still(exposure_time_us=40_000, analogue_gain=2.0)
    assert still.metadata.exposure_time_us == pytest.approx(40_000, abs=30)
    assert still.metadata.analogue_gain == pytest.approx(2.0, rel=0.01)
    assert cam.controls == user and cam.controls.ae_enable


def test_controls_reach_the_sensor_frames_later(cam):
    running(cam)
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=7000, analogue_gain=3.0))
    seen = [cam.next_frame().metadata for _ in range(8)]
    first = next(i for i, m in enumerate(seen) if abs(m.exposure_time_us - 7000) < 20)
    assert first >= 1  # not the next frame: libcamera's control delay
    assert seen[first].analogue_gain == pytest.approx(3.0, rel=0.01)


def test_a_long_exposure_runs_on_the_camera_clock_and_back_to_auto(cam, rig):
    running(cam, cam.sensor.full_resolution_mode)
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=30_000_000, analogue_gain=1.0))
    start = time.monotonic()
    for _ in range(8):
        m = cam.next_frame(timeout_s=2).metadata
        if m.exposure_time_us > 29_000_000:
            break
    assert m.exposure_time_us == pytest.approx(30_000_000, rel=1e-3)
    assert m.frame_duration_us >= m.exposure_time_us
    # Back to auto while 30 s frames are still in flight: no timeout, no reopen.
    # New controls ride on the next request picamera2 queues, behind the ones already queued
    # (4 buffers), then take libcamera's 3 frames: several 30 s frames, as on a Pi.
    cam.set_controls(Controls())
    for _ in range(12):
        m = cam.next_frame(timeout_s=2).metadata
        if m.exposure_time_us < 1_000_000:
            break
    assert m.exposure_time_us < 1_000_000
    assert time.monotonic() - start < 60


def _stopped_during(cam, call, within_s: float) -> BaseException | None:
    """Run ``call`` on another thread, stop the camera 0.3 s in, and return what ``call``
    raised; fails if it did not end within ``within_s`` of the stop."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - returned for the assertion
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)
    cam.stop()
    thread.join(timeout=within_s)
    assert not thread.is_alive()
    return errors[0] if errors else None


def test_stop_interrupts_a_frame_wait(cam, rig):
    running(cam)
    rig.faults.frontend_timeout = True
    with contextlib.suppress(exc.CameraTimeout):
        cam.next_frame(timeout_s=0.5)  # picamera2 may hold a completed request
    assert isinstance(_stopped_during(cam, lambda: cam.next_frame(timeout_s=600), 5),
                      exc.CameraNotRunning)


def test_frontend_timeout_is_a_camera_timeout(cam, rig):
    running(cam)
    rig.faults.frontend_timeout = True
    with pytest.raises(exc.CameraTimeout):
        for _ in range(3):  # the frames completed before it
            cam.next_frame(timeout_s=1)
    cam.stop()
    cam.start()  # a restart clears the frontend's error
    assert cam.next_frame(timeout_s=2).rgb.shape == (PREVIEW[1], PREVIEW[0], 3)


def test_out_of_memory_at_configure_and_over_the_cma_budget(rig):
    camera = make_camera("virtual", rig=rig)
    camera.open()
    rig.faults.enomem_on_configure = 1
    try:
        with pytest.raises(exc.CameraOutOfMemory):
            camera.configure(preview_mode(camera.sensor), PREVIEW)
        camera.configure(preview_mode(camera.sensor), PREVIEW)  # the next one succeeds
    finally:
        camera.close()
    small = make_rig(cma_bytes=96 * 1024 * 1024)  # probing the modes takes 75 MiB
    camera = make_camera("virtual", rig=small)
    camera.open()
    try:
        with pytest.raises(exc.CameraOutOfMemory):
            camera.configure(camera.sensor.full_resolution_mode, PREVIEW)
    finally:
        camera.close()


def test_busy_and_disconnected_cameras(rig):
    rig.faults.busy_on_acquire = 1
    with pytest.raises(exc.CameraBusy):
        make_camera("virtual", rig=rig).open()
    rig.faults.disconnected = True
    with pytest.raises((exc.CameraDisconnected, exc.CameraNotFound)):
        make_camera("virtual", rig=rig).open()


@pytest.mark.parametrize("size", [(1023, 768), (32, 32)])
def test_preview_sizes_are_checked(cam, size):
    with pytest.raises(ValueError, match="even and at least 64"):
        cam.configure(preview_mode(cam.sensor), size)


def test_pi5_unpacked_raw_is_shifted_down_to_sensor_dn():
    camera = make_camera("virtual", rig=make_rig(platform="pisp"))
    camera.open()
    try:
        running(camera)
        frame = camera.next_frame()
        assert camera.describe()["raw_format"] == "SBGGR16"
        assert frame.raw.data.max() <= 4095 and frame.raw.black_level == 256
    finally:
        camera.close()


@pytest.mark.parametrize("platform, packed_name", [("vc4", "SBGGR12_CSI2P"), ("pisp", "BGGR_PISP_COMP1")])
def test_picamera2s_own_configurations_run_packed_raw_and_lores(platform, packed_name):
    """picamera2 used directly, as rpicam-style code would: a lores YUV420 stream and the
    packed raw each platform delivers (CSI-2 packed on a Pi 4, PiSP-compressed on a Pi 5)."""
    from hal import virtual
    from hal.virtual.formats import pisp_decompress

    virtual.install(make_rig(platform=platform))
    import picamera2

    picam2 = picamera2.Picamera2(0)
    try:
        config = picam2.create_video_configuration(
            main={"format": "XBGR8888", "size": (640, 480)},
            lores={"format": "YUV420", "size": (320, 240)},
            raw={"format": "SRGGB12_CSI2P", "size": (2028, 1520)})
        picam2.configure(config)
        raw_config = picam2.camera_configuration()["raw"]
        assert raw_config["format"] == packed_name and raw_config["size"] == (2028, 1520)
        picam2.start()
        with picam2.captured_request(wait=10) as request:
            lores = request.make_array("lores")
            main = request.make_array("main")
            packed = request.make_array("raw")
        assert lores.shape[0] == 240 * 3 // 2 and main.shape == (480, 640, 4)
        if platform == "pisp":
            samples = pisp_decompress(packed, 2032)[:, :2028] >> 4  # 12-bit values again
        else:
            triples = packed[:, : 2028 * 3 // 2].reshape(1520, -1, 3).astype(np.uint16)
            samples = np.stack([(triples[..., 0] << 4) | (triples[..., 2] & 15),
                                (triples[..., 1] << 4) | (triples[..., 2] >> 4)], -1).reshape(1520, -1)
        centre = samples[700:820, 900:1100]
        assert 256 < centre.mean() < 4095  # black level 256 at 12 bits, exposed, not clipped
    finally:
        picam2.close()


@pytest.mark.parametrize("mode_name", ["1332x990", "2028x1080", "2028x1520", "4056x3040"])
def test_a_still_from_every_live_mode_is_the_full_12_bit_frame(cam, mode_name):
    running(cam, cam.sensor.mode(mode_name))
    still = cam.capture_still()
    assert still.data.shape == (3040, 4056) and still.bit_depth == 12
    assert still.black_level == 256 and 256 < still.data.mean() < 4095
    frame = cam.next_frame()  # the live view is back in its own mode
    assert cam.describe()["mode"] == mode_name and frame.raw.bit_depth == cam.sensor.mode(mode_name).bit_depth


def test_frame_duration_limits_cut_a_manual_exposure_as_libcamera_does(cam):
    """libcamera clips a manual exposure to the longest frame allowed, less 22 lines. The
    backend widens the limits for the user's exposures; a narrow limit set on purpose holds."""
    running(cam)
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=500_000,
                              frame_duration_limits_us=(25_000, 100_000)))
    for _ in range(10):
        m = cam.next_frame().metadata
    line_us = 12740 / 840
    assert m.frame_duration_us == pytest.approx(100_000, abs=line_us)
    assert m.exposure_time_us == pytest.approx(100_000 - 22 * line_us, abs=line_us)
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=500_000))  # limits widened
    for _ in range(10):
        m = cam.next_frame(timeout_s=2).metadata
    assert m.exposure_time_us == pytest.approx(500_000, abs=line_us)


def test_picamera2s_own_preview_limits_clip_long_exposures():
    """Without the backend's wide FrameDurationLimits, picamera2's preview configuration
    (83 ms at most) would cut a 1 s exposure: what the backend guards against."""
    from hal import virtual

    virtual.install(make_rig())
    import picamera2

    picam2 = picamera2.Picamera2(0)
    try:
        picam2.configure(picam2.create_preview_configuration(
            raw={"format": "SBGGR12", "size": (2028, 1520)}))
        picam2.start()
        picam2.set_controls({"ExposureTime": 1_000_000, "AnalogueGain": 1.0})
        for _ in range(10):
            metadata = picam2.capture_metadata(wait=10)
        assert metadata["ExposureTime"] <= 83_334 and metadata["FrameDuration"] <= 83_334
    finally:
        picam2.close()


def test_stop_during_a_mode_switch_still_leaves_the_camera_stopped(cam):
    running(cam)
    error = _stopped_during(cam, lambda: cam.capture_still(exposure_time_us=20_000_000), 30)
    assert isinstance(error, exc.CameraNotRunning)
    cam.configure(preview_mode(cam.sensor), PREVIEW)  # picamera2 is stopped: this works
    cam.start()
    assert cam.next_frame(timeout_s=5).rgb.shape == (PREVIEW[1], PREVIEW[0], 3)


def test_every_cpu_access_to_a_buffer_is_bracketed_by_dma_sync(cam):
    from hal.virtual import dma

    running(cam)
    ioctl = dma._ioctl
    starts, ends = ioctl.starts, ioctl.ends  # the counts are the process's
    for _ in range(5):
        cam.next_frame()
    cam.capture_still()
    assert ioctl.starts > starts
    cam.close()  # every request released
    assert ioctl.starts - starts == ioctl.ends - ends


def test_the_isp_corrects_the_hot_pixels_of_a_dark_long_exposure(cam):
    """The virtual sensor's hot pixels grow with exposure; the ISP's defective-pixel stage
    must take them out of the developed picture (what it is for, now exercised for real)."""
    import dataclasses

    from scipy import ndimage

    from isp.render import develop

    cam.rig.set_light(lux=0.0001)
    running(cam, cam.sensor.full_resolution_mode)
    still = cam.capture_still(exposure_time_us=8_000_000, analogue_gain=8.0)
    window = np.ascontiguousarray(still.data[1000:2024, 1000:2024])  # even corner: still BGGR
    raw = dataclasses.replace(still, data=window)
    hot = int((window > raw.black_level + 400).sum())
    assert hot >= 20  # 0.01 % of the sites, saturated after 8 s at gain 8
    out = develop(raw, white_balance=(2.0, 1.6), lens_shading=False, sharpening=False).astype(float)
    luma = out.mean(axis=2)
    spikes = int((luma - ndimage.median_filter(luma, 5) > 40).sum())
    assert spikes < hot / 5


def test_a_still_carries_the_isps_picture_of_the_same_frame(cam):
    running(cam, cam.sensor.full_resolution_mode)
    still = cam.capture_still()
    assert still.picture is not None and still.picture.shape == (PREVIEW[1], PREVIEW[0], 3)
    assert still.picture.dtype == np.uint8 and still.picture.std() > 5  # a picture, not black


def test_a_burst_takes_consecutive_frames_at_the_sensors_rate(cam):
    running(cam, cam.sensor.full_resolution_mode)
    frames = []
    assert cam.capture_burst(6, frames.append) == 6
    sequences = [f.metadata.sensor_sequence for f in frames]
    assert sequences == list(range(sequences[0], sequences[0] + 6))  # none skipped
    stamps = np.array([f.metadata.sensor_timestamp_ns for f in frames])
    period_ns = frames[0].metadata.frame_duration_us * 1000
    assert np.diff(stamps) == pytest.approx(period_ns, rel=0.01)
    assert abs(frames[0].metadata.shutter_lag_ms) <= period_ns / 1e6  # the first is the press's
    assert cam.next_frame().rgb.shape == (PREVIEW[1], PREVIEW[0], 3)  # live view goes on


def test_a_bracket_sets_one_exposure_per_frame_and_matches_them(cam):
    running(cam, cam.sensor.full_resolution_mode)
    user = cam.controls
    wanted = [(8000, 2.0), (4000, 2.0), (16000, 2.0), (2000, 2.0), (32000, 2.0)]
    frames = []
    assert cam.capture_burst(len(wanted), frames.append, exposures=wanted) == 5
    for frame, (us, gain) in zip(frames, wanted, strict=True):
        assert frame.metadata.exposure_time_us == pytest.approx(us, abs=30)
        assert frame.metadata.analogue_gain == pytest.approx(gain, rel=0.01)
    # Pipelined: about the control delay plus one frame each, not the delay for every frame.
    span = frames[-1].metadata.sensor_sequence - frames[0].metadata.sensor_sequence
    assert span <= len(wanted) + 2
    assert cam.controls == user


@pytest.fixture
def real_time_cam():
    """A camera on the machine's clock: a 300 s exposure would take 300 s."""
    camera = make_camera("virtual", rig=VirtualRig(seed=5, clock=RealClock()))
    camera.open()
    yield camera
    camera.close()


@pytest.mark.parametrize("zero_shutter_lag", [True, False])
def test_cancel_ends_a_long_exposure_at_once_and_the_live_view_comes_back(
        real_time_cam, zero_shutter_lag):
    cam = real_time_cam
    live_mode = cam.sensor.full_resolution_mode if zero_shutter_lag else preview_mode(cam.sensor)
    running(cam, live_mode)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(exc.StillCancelled):
        cam.capture_still(exposure_time_us=300_000_000, analogue_gain=1.0, cancel=cancel)
    assert time.monotonic() - start < 10  # not the 300 s exposure
    frame = cam.next_frame(timeout_s=10)
    assert frame.metadata.exposure_time_us < 1_000_000 and cam.controls.ae_enable
    assert cam.describe()["mode"] == live_mode.name
