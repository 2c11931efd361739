"""The picamera2 backend against a fake picamera2 (tests/fake_picamera2), on any machine."""

from __future__ import annotations

import errno
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hal import exc
from hal.camera import Controls as C
from hal.camera import FrameMetadata, PreviewFrame, RawFrame, bayer_slices, preview_mode
from hal.picamera2_backend import Picamera2Camera, RawFormat

FAKE_DIR = Path(__file__).parent / "fake_picamera2"
PREVIEW = (64, 48)


def _ours(name: str) -> bool:
    return name.split(".")[0] in ("picamera2", "libcamera")


@pytest.fixture
def fake(monkeypatch):
    """The fake picamera2 and libcamera, importable as the real names for this test only."""
    saved = {n: m for n, m in sys.modules.items() if _ours(n)}
    for n in saved:
        del sys.modules[n]
    monkeypatch.syspath_prepend(str(FAKE_DIR))
    module = importlib.import_module("picamera2")
    assert Path(module.__file__).is_relative_to(FAKE_DIR)
    yield module
    for n in [n for n in sys.modules if _ours(n)]:
        del sys.modules[n]
    sys.modules.update(saved)


@pytest.fixture
def enums(fake):
    return importlib.import_module("libcamera.controls")


@pytest.fixture
def cam(fake):
    camera = Picamera2Camera()
    camera.open()
    yield camera
    camera.close()


def _running(cam, mode_name="2028x1520"):
    cam.configure(cam.sensor.mode(mode_name), PREVIEW)
    cam.start()
    return cam


def _site_values(fake, bit_depth: int, black: int) -> dict[str, int]:
    return {k: (v >> (12 - bit_depth)) + black for k, v in fake.SITE_VALUES_12BIT.items()}


# -- importing and opening ---------------------------------------------------------------


def test_module_imports_without_picamera2_or_libcamera():
    code = (
        "import sys, hal.picamera2_backend\n"
        "assert 'picamera2' not in sys.modules and 'libcamera' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_open_without_libcamera_is_camera_not_found(monkeypatch):
    for n in [n for n in sys.modules if _ours(n)]:
        monkeypatch.delitem(sys.modules, n)
    monkeypatch.setitem(sys.modules, "libcamera", None)  # import libcamera -> ImportError
    camera = Picamera2Camera()
    with pytest.raises(exc.CameraNotFound, match="picamera2 is not usable"):
        camera.open()
    camera.close()
    assert camera.describe() == {"backend": "picamera2"}


def test_sensor_is_read_from_sensor_modes_and_properties(fake, cam):
    s = cam.sensor
    assert [m.size for m in s.modes] == [(1332, 990), (2028, 1080), (2028, 1520), (4056, 3040)]
    assert [m.bit_depth for m in s.modes] == [10, 12, 12, 12]
    assert [m.binning for m in s.modes] == [2, 2, 2, 1]
    assert s.mode("1332x990").crop == (696, 528, 2664, 1980)
    assert s.mode("2028x1080").max_fps == pytest.approx(50.03)
    assert s.model == "imx477" and s.active_array == (4056, 3040)
    assert s.pixel_size_um == pytest.approx(1.55)
    assert s.analogue_gain_range == (1.0, 22.26)
    assert s.exposure_time_us_range == (114, 694_434_742)
    assert preview_mode(s).size == (2028, 1520)


def test_bayer_order_comes_from_the_configured_raw_stream(fake):
    fake.scenario.listed_order = "RGGB"  # what sensor_modes lists before the transform
    fake.scenario.bayer_order = "GBRG"  # what libcamera actually configures
    with Picamera2Camera() as cam:
        assert {m.bayer_order for m in cam.sensor.modes} == {"RGGB"}
        _running(cam)
        assert {m.bayer_order for m in cam.sensor.modes} == {"GBRG"}
        frame = cam.next_frame()
        assert frame.raw.bayer_order == "GBRG"
        values = _site_values(fake, 12, 256)
        for site in ("R", "G1", "G2", "B"):
            assert np.all(frame.raw.channel(site) == values[site]), site
        still = cam.capture_still()
        assert still.bayer_order == "GBRG"
        assert np.all(still.channel("R") == values["R"])


def test_raw_format_names():
    assert RawFormat.parse("SBGGR12") == RawFormat("BGGR", 12, None)
    assert RawFormat.parse("SRGGB10_CSI2P").unpacked == "SRGGB10"
    assert RawFormat.parse("GRBG_PISP_COMP1") == RawFormat("GRBG", 16, "PISP_COMP1")
    for name in ("R12", "YUV420", "RGB888", "MONO_PISP_COMP1"):
        with pytest.raises(exc.CameraError):
            RawFormat.parse(name)


# -- configuration ------------------------------------------------------------------------


def test_configure_asks_for_rgb888_preview_and_unpacked_raw_streams(fake, cam):
    _running(cam)
    picam2 = fake.instances[-1]
    preview = picam2.requested[0]
    assert preview["main"]["format"] == "RGB888" and preview["main"]["size"] == PREVIEW
    assert preview["raw"] == {"format": "SBGGR12", "size": (2028, 1520)}
    assert preview["sensor"] == {"output_size": (2028, 1520), "bit_depth": 12}
    cam.capture_still()
    still = picam2.requested[1]
    assert still["use_case"] == "still"
    assert still["raw"] == {"format": "SBGGR12", "size": (4056, 3040)}
    assert still["sensor"] == {"output_size": (4056, 3040), "bit_depth": 12}
    assert "_" not in picam2.camera_configuration()["raw"]["format"]
    back = picam2.requested[2]  # switched back to the live view's (configured) configuration
    assert back["use_case"] == "preview" and back["raw"]["size"] == (2028, 1520)


def test_configure_while_running_restarts(fake, cam):
    _running(cam)
    cam.configure(cam.sensor.mode("1332x990"), PREVIEW)
    assert fake.instances[-1].started
    frame = cam.next_frame()
    assert frame.raw.data.shape == (990, 1332) and frame.raw.bit_depth == 10


def test_frames_before_configure_or_start_are_refused(fake, cam):
    with pytest.raises(exc.CameraNotRunning):
        cam.start()
    cam.configure(cam.sensor.mode("2028x1520"), PREVIEW)
    with pytest.raises(exc.CameraNotRunning):
        cam.next_frame()
    with pytest.raises(exc.CameraNotRunning):
        cam.capture_still()


# -- frames -------------------------------------------------------------------------------


def test_preview_is_rgb_from_bgr_memory(fake, cam):
    frame = _running(cam).next_frame()
    assert isinstance(frame, PreviewFrame)
    rgb = frame.rgb
    assert rgb.shape == (PREVIEW[1], PREVIEW[0], 3) and rgb.dtype == np.uint8
    assert rgb.flags.c_contiguous
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255  # red rises left to right
    assert np.all(rgb[..., 1] == 128)
    assert rgb[0, 0, 2] == 0 and rgb[-1, 0, 2] == 255  # blue rises top to bottom


@pytest.mark.parametrize(
    "mode_name, bits, black", [("2028x1520", 12, 256), ("1332x990", 10, 64), ("2028x1080", 12, 256)]
)
@pytest.mark.parametrize("platform", ["vc4", "pisp"])
def test_raw_is_unpacked_uint16_at_sensor_bit_depth(fake, cam, mode_name, bits, black, platform):
    fake.scenario.platform = platform
    frame = _running(cam, mode_name).next_frame()
    raw = frame.raw
    w, h = cam.sensor.mode(mode_name).size
    stream = fake.instances[-1].camera_configuration()["raw"]
    assert stream["stride"] > 2 * w  # rows are padded, and the padding must not leak in
    assert stream["format"] == ("SBGGR16" if platform == "pisp" else f"SBGGR{bits}")
    assert raw.data.dtype == np.uint16 and raw.data.shape == (h, w)
    assert (raw.bit_depth, raw.black_level, raw.white_level) == (bits, black, (1 << bits) - 1)
    assert raw.data.max() <= raw.white_level
    values = _site_values(fake, bits, black)
    for site in ("R", "G1", "G2", "B"):
        assert np.all(raw.data[bayer_slices("BGGR", site)] == values[site]), site


@pytest.mark.parametrize(
    "levels, mode_name, expected",
    [((4000, 4000, 4100, 4100), "2028x1520", 4050 >> 4), ((4000, 4000, 4100, 4100), "1332x990", 4050 >> 6),
     ((3200,) * 4, "2028x1520", 200)],
)
def test_black_level_from_metadata_shifted_to_bit_depth(fake, cam, levels, mode_name, expected):
    fake.scenario.black_levels_16bit = levels
    raw = _running(cam, mode_name).next_frame().raw
    assert raw.black_level == expected


def test_metadata_is_mapped(fake, cam):
    _running(cam)
    cam.set_controls(C(ae_enable=False, exposure_time_us=20_000, analogue_gain=4.0,
                       awb_enable=False, colour_gains=(2.25, 1.5)))
    a, b = cam.next_frame(), cam.next_frame()
    m = b.metadata
    assert isinstance(m, FrameMetadata) and a.raw.metadata is a.metadata
    assert b.metadata.sequence == a.metadata.sequence + 1
    assert m.sensor_timestamp_ns - a.metadata.sensor_timestamp_ns == m.frame_duration_us * 1000
    assert (m.exposure_time_us, m.analogue_gain, m.colour_gains) == (20_000, 4.0, (2.25, 1.5))
    assert m.iso == 400 and m.colour_temperature == 4800 and m.frame_duration_us == round(1e6 / 40.01)
    assert (m.lux, m.sensor_temperature_c) == (400.5, 38.0)
    cam.set_controls(C(ae_enable=False, exposure_time_us=100_000, analogue_gain=1.0))
    assert cam.next_frame().metadata.frame_duration_us == 102_000  # follows a long exposure
    assert m.scaler_crop == (0, 0, 4056, 3040)


def test_still_is_full_resolution_and_live_view_resumes(fake, cam):
    _running(cam)
    manual = C(ae_enable=False, exposure_time_us=250_000, analogue_gain=1.0)
    cam.set_controls(manual)
    still = cam.capture_still()
    assert isinstance(still, RawFrame)
    assert still.data.shape == (3040, 4056) and still.data.dtype == np.uint16
    assert (still.bayer_order, still.bit_depth, still.black_level) == ("BGGR", 12, 256)
    assert still.metadata.exposure_time_us == 250_000
    picam2 = fake.instances[-1]
    still_controls = picam2.requested[1]["controls"]
    assert still_controls["ExposureTime"] == 250_000 and still_controls["AeEnable"] is False
    assert "NoiseReductionMode" in still_controls  # picamera2's still defaults are kept
    # Back in preview mode picamera2 reset its controls; the backend applied ours again.
    assert picam2.applied["ExposureTime"] == 250_000 and picam2.applied["AeEnable"] is False
    frame = cam.next_frame()
    assert frame.raw.data.shape == (1520, 2028) and frame.rgb.shape[:2] == (PREVIEW[1], PREVIEW[0])
    assert frame.metadata.exposure_time_us == 250_000


# -- controls -----------------------------------------------------------------------------


def test_manual_controls_map_to_libcamera_names_and_values(fake, enums, cam):
    _running(cam)
    controls = C(ae_enable=False, exposure_time_us=20_000, analogue_gain=4.0, ev=0.5,
                 metering="spot", awb_enable=False, colour_gains=(2.1, 1.5),
                 scaler_crop=(100, 80, 2000, 1500), frame_duration_limits_us=(30_000, 40_000))
    cam.set_controls(controls)
    sent = fake.instances[-1].control_log[-1]
    assert sent == {
        "AeEnable": False,
        "ExposureTime": 20_000,
        "AnalogueGain": 4.0,
        "ExposureValue": 0.5,
        "AeMeteringMode": enums.AeMeteringModeEnum.Spot,
        "AwbEnable": False,
        "ColourGains": (2.1, 1.5),
        "ScalerCrop": (100, 80, 2000, 1500),
        "FrameDurationLimits": (30_000, 40_000),
    }
    assert isinstance(sent["ColourGains"], tuple) and isinstance(sent["ExposureTime"], int)
    assert cam.controls is controls


@pytest.mark.parametrize(
    "awb_mode, member",
    [("auto", "Auto"), ("incandescent", "Incandescent"), ("tungsten", "Tungsten"),
     ("fluorescent", "Fluorescent"), ("indoor", "Indoor"), ("daylight", "Daylight"),
     ("cloudy", "Cloudy")],
)
def test_awb_mode_maps_to_the_libcamera_enum(fake, enums, cam, awb_mode, member):
    _running(cam)
    cam.set_controls(C(awb_mode=awb_mode))
    sent = fake.instances[-1].control_log[-1]
    assert sent["AwbEnable"] is True and "ColourGains" not in sent
    assert sent["AwbMode"] is getattr(enums.AwbModeEnum, member)


@pytest.mark.parametrize(
    "metering, member", [("centre", "CentreWeighted"), ("spot", "Spot"), ("matrix", "Matrix")]
)
def test_auto_exposure_and_metering(fake, enums, cam, metering, member):
    _running(cam)
    cam.set_controls(C(ae_enable=True, ev=-1.0, metering=metering, exposure_time_us=5_000))
    sent = fake.instances[-1].control_log[-1]
    assert sent["AeEnable"] is True and sent["ExposureValue"] == -1.0
    assert sent["ExposureTime"] == 0 and sent["AnalogueGain"] == 0  # picamera2: 0 means auto
    assert sent["AeMeteringMode"] is getattr(enums.AeMeteringModeEnum, member)


@pytest.mark.parametrize(
    "priority, exposure_time, gain",
    [("shutter", 5_000, 0.0), ("iso", 0, 4.0), ("auto", 0, 0.0)],
)
def test_exposure_priority_sends_only_the_held_value(fake, cam, priority, exposure_time, gain):
    _running(cam)
    cam.set_controls(C(ae_enable=True, exposure_priority=priority, exposure_time_us=5_000,
                       analogue_gain=4.0))
    sent = fake.instances[-1].control_log[-1]
    assert sent["AeEnable"] is True
    assert (sent["ExposureTime"], sent["AnalogueGain"]) == (exposure_time, gain)


def test_default_frame_durations_and_crop_reset(fake, cam):
    _running(cam)
    cam.set_controls(C(scaler_crop=(8, 8, 1000, 750)))
    cam.set_controls(C())
    sent = fake.instances[-1].control_log[-1]
    assert sent["ScalerCrop"] == (0, 0, 4056, 3040)  # back to the mode's whole field
    assert sent["FrameDurationLimits"] == (round(1e6 / 40.01), 694_434_742)
    cam.set_controls(C())
    assert "ScalerCrop" not in fake.instances[-1].control_log[-1]  # picamera2's crop stays


def test_controls_set_before_configure_go_into_the_configuration(fake, cam):
    cam.set_controls(C(ae_enable=False, exposure_time_us=1_000_000, analogue_gain=2.0))
    _running(cam)
    picam2 = fake.instances[-1]
    assert picam2.requested[0]["controls"]["ExposureTime"] == 1_000_000
    assert picam2.requested[0]["controls"]["FrameDurationLimits"] == (24_994, 694_434_742)
    assert cam.next_frame().metadata.exposure_time_us == 1_000_000


def test_controls_the_camera_lacks_are_left_out(fake, cam):
    fake.scenario.missing_controls = ("ExposureValue", "AeMeteringMode")
    _running(cam)
    cam.set_controls(C(ev=1.0))  # the fake, like picamera2, raises on unadvertised controls
    assert not {"ExposureValue", "AeMeteringMode"} & set(fake.instances[-1].control_log[-1])


# -- errors and lifetimes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "error, expected",
    [
        (RuntimeError("Failed to acquire camera: Device or resource busy"), exc.CameraBusy),
        (OSError(errno.EBUSY, "Device or resource busy"), exc.CameraBusy),
        (RuntimeError("Camera(s) not found (Do not forget to disable legacy camera)"), exc.CameraNotFound),
        (RuntimeError("No camera number 0 found - use rpicam-hello --list-cameras"), exc.CameraNotFound),
    ],
)
def test_open_errors(fake, error, expected):
    fake.scenario.open_error = error
    camera = Picamera2Camera()
    with pytest.raises(expected):
        camera.open()
    camera.close()


@pytest.mark.parametrize(
    "error",
    [RuntimeError("failed to allocate capture buffers for stream 1"),
     OSError(errno.ENOMEM, "Cannot allocate memory"), MemoryError()],
)
def test_out_of_memory_on_configure(fake, cam, error):
    fake.scenario.configure_error = error
    with pytest.raises(exc.CameraOutOfMemory) as info:
        cam.configure(cam.sensor.mode("2028x1520"), PREVIEW)
    assert isinstance(info.value, MemoryError) and info.value.__cause__ is error


def test_failed_open_releases_the_camera(fake, monkeypatch):
    def broken(self):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fake.Picamera2, "sensor_modes", property(broken))
    camera = Picamera2Camera()
    with pytest.raises(exc.CameraDisconnected):
        camera.open()
    assert not fake.instances[-1].is_open
    assert camera.describe() == {"backend": "picamera2"}


def test_configuration_rejected_is_a_plain_camera_error(fake, cam):
    _running(cam)
    fake.scenario.configure_error = RuntimeError("format not found in raw stream")
    with pytest.raises(exc.CameraError) as info:
        cam.configure(cam.sensor.mode("1332x990"), PREVIEW)
    assert type(info.value) is exc.CameraError
    with pytest.raises(exc.CameraNotRunning):  # not half-configured
        cam.start()


@pytest.mark.parametrize("capture", ["next_frame", "capture_still"])
@pytest.mark.parametrize(
    "error, expected",
    [
        (TimeoutError(), exc.CameraTimeout),
        (OSError(errno.ENODEV, "No such device"), exc.CameraDisconnected),
        (RuntimeError("Device disconnected"), exc.CameraDisconnected),
        (ValueError("something else"), exc.CameraError),
    ],
)
def test_capture_errors(fake, cam, capture, error, expected):
    _running(cam)
    fake.scenario.capture_error = error
    with pytest.raises(expected):
        getattr(cam, capture)(timeout_s=0.5)
    picam2 = fake.instances[-1]
    assert picam2.cancelled == (1 if expected is exc.CameraTimeout else 0)  # stale job dropped
    fake.scenario.capture_error = None
    assert cam.next_frame().raw.data.shape == (1520, 2028)


def test_requests_are_released(fake, cam):
    _running(cam)
    for _ in range(3):
        cam.next_frame()
    cam.capture_still()
    picam2 = fake.instances[-1]
    assert picam2.outstanding == [] and picam2.released == picam2.frames == 4


@pytest.mark.parametrize("has_context_manager", [True, False])
def test_requests_are_released_when_copying_fails(fake, cam, monkeypatch, has_context_manager):
    if not has_context_manager:  # older picamera2: capture_request() + release()
        monkeypatch.delattr(fake.Picamera2, "captured_request")
    _running(cam)
    fake.scenario.make_array_error = RuntimeError("mmap failed")
    with pytest.raises(exc.CameraError, match="mmap failed"):
        cam.next_frame()
    with pytest.raises(exc.CameraError, match="mmap failed"):
        cam.capture_still()
    picam2 = fake.instances[-1]
    assert picam2.frames == 2 and picam2.outstanding == [] and picam2.released == 2
    fake.scenario.make_array_error = None
    cam.next_frame()
    assert picam2.outstanding == []


def test_unpacked_raw_refused_when_libcamera_compresses_it(fake, cam):
    fake.scenario.platform = "pisp"
    _running(cam)
    picam2 = fake.instances[-1]
    picam2.camera_config["raw"]["format"] = "BGGR_PISP_COMP1"  # as if libcamera overrode us
    with pytest.raises(exc.CameraError, match="not an unpacked format"):
        cam.next_frame()
    assert picam2.outstanding == []


def test_close_is_safe_twice_and_after_failure(fake):
    camera = Picamera2Camera()
    camera.close()
    camera.open()
    _running(camera)
    picam2 = fake.instances[-1]
    fake.scenario.close_error = RuntimeError("Failed to release camera")
    camera.close()
    camera.close()
    assert not picam2.is_open
    with pytest.raises(exc.CameraNotRunning):
        camera.next_frame()
    fake.scenario.close_error = None
    with camera:  # and it opens again
        assert len(fake.instances) == 2


def test_describe_adds_camera_properties(fake, cam):
    _running(cam)
    info = cam.describe()
    assert info["backend"] == "picamera2" and info["model"] == "imx477"
    assert info["pixel_array_size"] == [4056, 3040]
    assert info["raw_format"] == "SBGGR12" and info["mode"] == "2028x1520"
    assert info["properties"]["UnitCellSize"] == [1550, 1550]
    json.dumps(info)
