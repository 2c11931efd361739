"""The controls, camera and live-stream API against the virtual camera."""

from __future__ import annotations

import numpy as np
import pytest
import simplejpeg

from hal.camera import Camera
from tests.waiting import wait_until


def frame_after(client, sequence: int) -> dict:
    return wait_until(lambda: _actual_after(client, sequence))


#: One line of the 2028×1520 mode (12740 px at 840 MHz): exposure is set in whole lines.
LINE_US = 12740 / 840


def frame_where(client, **wanted) -> dict:
    """The first frame that used ``wanted`` (exposure within a line, gains within 1 %): a
    control reaches the sensor a few frames after it is set, as on a Pi."""

    def matches() -> dict | None:
        actual = client.get("/api/controls").json()["actual"]
        if not actual:
            return None
        for key, value in wanted.items():
            got = actual[key]
            if key == "exposure_time_us":
                ok = abs(got - value) <= LINE_US
            elif isinstance(value, list):
                ok = all(abs(g - v) <= 0.01 * v for g, v in zip(got, value, strict=True))
            else:
                ok = abs(got - value) <= 0.01 * value
            if not ok:
                return None
        return actual

    return wait_until(matches, timeout_s=20)


def _actual_after(client, sequence):
    actual = client.get("/api/controls").json()["actual"]
    return actual if actual and actual["sequence"] > sequence else None


def test_status_and_camera_description(client):
    wait_until(lambda: client.get("/api/status").json()["frames"] > 0)
    status = client.get("/api/status").json()
    assert status["state"] == "running" and status["backend"] == "picamera2"
    camera = client.get("/api/camera").json()
    assert camera["model"] == "imx477"
    assert camera["active_array"] == [4056, 3040]
    modes = {m["name"]: m for m in camera["modes"]}
    assert set(modes) == {"1332x990", "2028x1080", "2028x1520", "4056x3040"}
    assert modes["4056x3040"]["bayer_order"] == "BGGR"
    assert modes["1332x990"]["bit_depth"] == 10 and modes["1332x990"]["black_level"] == 64
    assert modes["2028x1520"]["black_level"] == 256 and modes["2028x1520"]["white_level"] == 4095


def test_patch_controls_changes_the_next_frames(client):
    seq = frame_after(client, 0)["sequence"]
    r = client.patch("/api/controls", json={"exposure_time_us": 8000, "analogue_gain": 2.0})
    assert r.status_code == 200
    body = r.json()
    assert body["ae_enable"] is False  # turning the shutter dial means manual exposure
    assert (body["exposure_time_us"], body["analogue_gain"]) == (8000, 2.0)
    actual = frame_where(client, exposure_time_us=8000, analogue_gain=2.0)
    assert actual["sequence"] > seq and actual["iso"] == 200
    assert actual["sensor_sequence"] >= 0  # the frame's own number, as libcamera counts it


def test_manual_white_balance(client):
    r = client.patch("/api/controls", json={"colour_gains": [2.5, 1.5]})
    assert r.json()["awb_enable"] is False
    assert frame_where(client, colour_gains=[2.5, 1.5])
    r = client.patch("/api/controls", json={"awb_enable": True, "awb_mode": "daylight"})
    assert r.json()["awb_enable"] is True and r.json()["awb_mode"] == "daylight"


@pytest.mark.parametrize(
    "body, field, allowed",
    [
        ({"exposure_time_us": 100}, "exposure_time_us", (114, 653_950_000)),
        ({"exposure_time_us": 700_000_000}, "exposure_time_us", (114, 653_950_000)),
        ({"analogue_gain": 0.5}, "analogue_gain", (1.0, 22.26)),
        ({"analogue_gain": 30}, "analogue_gain", (1.0, 22.26)),
        ({"ev": 9}, "ev", (-8.0, 8.0)),
        ({"colour_gains": [9, 1]}, "colour_gains", (0.25, 8.0)),
    ],
)
def test_out_of_range_is_422_naming_field_and_range(client, camera, body, field, allowed):
    before = camera.controls
    r = client.patch("/api/controls", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"][:2] == ["body", field]
    assert detail["allowed"] == {"min": allowed[0], "max": allowed[1]}
    assert field in detail["msg"] and str(allowed[0]) in detail["msg"] and str(allowed[1]) in detail["msg"]
    assert camera.controls == before  # never reached the camera


@pytest.mark.parametrize(
    "body",
    [{"shutter": 1000}, {"awb_mode": "sunset"}, {"metering": "average"}, {"ae_enable": "maybe"},
     {"colour_gains": [1.0]}, {"exposure_time_us": "fast"}],
)
def test_unknown_or_malformed_controls_are_422(client, camera, body):
    before = camera.controls
    r = client.patch("/api/controls", json=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "body"
    assert camera.controls == before


def mean_brightness(jpeg: bytes) -> float:
    return float(simplejpeg.decode_jpeg(jpeg).mean())


def snapshot_where(client, **wanted) -> bytes:
    seq = frame_where(client, **wanted)["sequence"]
    frame_after(client, seq)  # the snapshot is of a frame that used them
    return client.get("/api/snapshot.jpg").content


def test_four_times_longer_exposure_visibly_brightens_the_view(client):
    r = client.patch("/api/controls", json={"exposure_time_us": 4000, "analogue_gain": 1.0,
                                              "awb_enable": False, "colour_gains": [2.4, 1.6]})
    dark = mean_brightness(snapshot_where(client, exposure_time_us=4000, analogue_gain=1.0))
    r = client.patch("/api/controls", json={"exposure_time_us": 16000})
    assert r.status_code == 200
    bright = mean_brightness(snapshot_where(client, exposure_time_us=16000))
    assert bright > dark * 1.5


def read_mjpeg_frames(client, count: int) -> list[bytes]:
    frames, buffer = [], b""
    with client.stream("GET", "/api/stream.mjpg") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
        for chunk in r.iter_bytes():
            buffer += chunk
            while True:
                start = buffer.find(b"\xff\xd8")
                end = buffer.find(b"\xff\xd9", start + 2)
                if start < 0 or end < 0:
                    break
                frames.append(buffer[start : end + 2])
                buffer = buffer[end + 2 :]
            if len(frames) >= count:
                return frames
    return frames


def test_stream_delivers_decodable_live_frames(client, settings):
    frames = read_mjpeg_frames(client, 3)
    assert len(frames) == 3
    images = [simplejpeg.decode_jpeg(f) for f in frames]
    assert images[0].shape == (settings.camera.preview_height, settings.camera.preview_width, 3)
    # live, not a still picture: sensor noise differs frame to frame
    assert np.abs(images[0].astype(int) - images[-1].astype(int)).mean() > 0


def test_stream_cap_answers_503(make_client, settings):
    capped = settings.with_overrides(server={"max_streams": 1})
    client = make_client(settings_=capped)
    client.app.state.stream_slots.acquire()  # someone is already watching
    r = client.get("/api/stream.mjpg")
    assert r.status_code == 503 and "at most 1" in r.json()["detail"]
    client.app.state.stream_slots.release()
    assert len(read_mjpeg_frames(client, 1)) == 1
    assert client.app.state.stream_slots.active == 0


def test_mock_lens_rings(client):
    assert client.get("/api/mock/lens").json()["focus_distance_m"] == 2.0
    r = client.patch("/api/mock/lens", json={"focus_distance_m": 0.9, "f_number": 8})
    assert r.status_code == 200 and r.json()["f_number"] == 8
    r = client.patch("/api/mock/lens", json={"f_number": 1.4})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "f_number"]
    assert "2.0" in r.json()["detail"][0]["msg"] and "16.0" in r.json()["detail"][0]["msg"]
    r = client.patch("/api/mock/lens", json={"focus_distance_m": 0.1})
    assert r.status_code == 422
    r = client.patch("/api/mock/scene", json={"lux": 20000, "colour_temperature": 3200})
    assert r.json() == {"lux": 20000.0, "colour_temperature": 3200.0}


class DelegatingCamera(Camera):
    """A backend with no simulated rig (it only forwards to one), like a real camera."""

    backend = "delegating"

    def __init__(self, inner: Camera) -> None:
        self._inner = inner

    sensor = property(lambda self: self._inner.sensor)
    controls = property(lambda self: self._inner.controls)

    def open(self): self._inner.open()  # noqa: E704
    def close(self): self._inner.close()  # noqa: E704
    def configure(self, mode, size): self._inner.configure(mode, size)  # noqa: E704
    def start(self): self._inner.start()  # noqa: E704
    def stop(self): self._inner.stop()  # noqa: E704
    def set_controls(self, c): self._inner.set_controls(c)  # noqa: E704
    def next_frame(self, timeout_s=2.0): return self._inner.next_frame(timeout_s)  # noqa: E704
    def capture_still(self, timeout_s=None): return self._inner.capture_still(timeout_s)  # noqa: E704


def test_mock_routes_are_404_with_another_backend(make_client, camera):
    client = make_client(DelegatingCamera(camera))
    frame_after(client, 0)
    assert client.get("/api/status").json()["backend"] == "delegating"
    for method, path in (("GET", "/api/mock/lens"), ("PATCH", "/api/mock/lens"),
                         ("GET", "/api/mock/scene")):
        r = client.request(method, path, json={} if method == "PATCH" else None)
        assert r.status_code == 404
        assert "virtual camera" in r.json()["detail"]


def test_openapi_documents_the_routes(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/status", "/api/camera", "/api/controls", "/api/stream.mjpg", "/api/mock/lens"):
        assert path in spec["paths"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "start, patch, expected",
    [
        ({}, {"exposure_time_us": 4000}, {"ae_enable": False}),  # the dial on a P camera: manual
        ({}, {"exposure_priority": "shutter", "exposure_time_us": 4000},
         {"ae_enable": True, "exposure_priority": "shutter", "exposure_time_us": 4000}),
        ({"exposure_priority": "shutter"}, {"exposure_time_us": 2000},
         {"ae_enable": True, "exposure_time_us": 2000}),  # S: turning the dial keeps S
        ({"exposure_priority": "shutter"}, {"analogue_gain": 4.0}, {"ae_enable": False}),
        ({"exposure_priority": "iso"}, {"analogue_gain": 4.0}, {"ae_enable": True}),
        ({"ae_enable": False}, {"exposure_priority": "auto"}, {"ae_enable": True}),
    ],
)
def test_exposure_priority_semantics(client, start, patch, expected):
    if start:
        assert client.patch("/api/controls", json=start).status_code == 200
    body = client.patch("/api/controls", json=patch).json()
    for key, value in expected.items():
        assert body[key] == value


def test_shutter_priority_holds_the_shutter_through_the_api(client):
    client.patch("/api/controls", json={"exposure_priority": "shutter", "exposure_time_us": 3000})
    assert frame_where(client, exposure_time_us=3000)


def test_mounting_a_lens_puts_it_on_the_mock(client, camera):
    r = client.put("/api/lens", json={"id": "preset-leica-summicron-m-50-f-2", "f_number": 5.6})
    assert r.status_code == 200
    lens = client.get("/api/mock/lens").json()
    assert (lens["focal_length_mm"], lens["f_number"]) == (50.0, 5.6)
    assert (lens["widest_f_number"], lens["smallest_f_number"]) == (2.0, 16.0)
    assert "Summicron-M 50" in lens["name"]


def test_the_virtual_rig_is_kept_across_reopens():
    """Lens rings and light set on the simulated rig must survive the service reopening the
    camera: each reopen makes a new camera object over the same rig."""
    from firmware.app import _camera_source

    source = _camera_source("virtual")
    first, second = source(), source()
    assert first is not second and first.rig is second.rig
    first.rig.set_lens(f_number=5.6)
    assert second.rig.lens.f_number == 5.6
    assert _camera_source("auto")().rig is not None  # no HQ camera here: the virtual one


def _exposure(actual: dict) -> float:
    return actual["exposure_time_us"] * actual["analogue_gain"]


def _frames_later(client, count: int) -> dict:
    """The controls' ``actual`` once ``count`` more frames have come."""
    start = client.get("/api/controls").json()["actual"]["sequence"]
    return wait_until(lambda: _actual_after(client, start + count - 1), timeout_s=30)


def test_ae_lock_holds_the_exposure_through_a_change_of_light(client):
    frame_after(client, 5)
    scene = client.get("/api/mock/scene").json()
    state = client.patch("/api/controls", json={"ae_lock": True}).json()
    assert state["ae_lock"] and state["ae_enable"] and state["held"] == ["ae_lock"]
    locked = _frames_later(client, 6)  # past the frames already in flight
    client.patch("/api/mock/scene", json={"lux": scene["lux"] * 4})
    later = _frames_later(client, 12)  # AE would have moved well within this
    # Within a line of the full-resolution mode the zero-shutter-lag live view runs in.
    assert later["exposure_time_us"] == pytest.approx(locked["exposure_time_us"], rel=0.01)
    assert later["analogue_gain"] == pytest.approx(locked["analogue_gain"], rel=0.01)
    assert later["colour_gains"] != [0, 0]

    # Unlocked, AE follows the brighter light: about two stops less.
    state = client.patch("/api/controls", json={"ae_lock": False}).json()
    assert not state["ae_lock"] and state["held"] == []
    wait_until(lambda: _exposure(client.get("/api/controls").json()["actual"])
               < 0.4 * _exposure(locked), timeout_s=30)

    # Locked again, then exposure set by hand: the lock is moot and goes.
    client.patch("/api/controls", json={"ae_lock": True})
    state = client.patch("/api/controls", json={"exposure_time_us": 4000}).json()
    assert not state["ae_enable"] and not state["ae_lock"] and state["held"] == []
    # Locked in P, then shutter priority: the shutter asked for is the one the frames get.
    client.patch("/api/controls", json={"ae_enable": True, "exposure_priority": "auto"})
    client.patch("/api/controls", json={"ae_lock": True})
    state = client.patch("/api/controls", json={"exposure_time_us": 2000,
                                                "exposure_priority": "shutter"}).json()
    assert state["ae_enable"] and not state["ae_lock"]
    frame_where(client, exposure_time_us=2000)


def test_awb_lock_holds_the_colour_gains_through_a_change_of_light(client):
    frame_after(client, 5)
    state = client.patch("/api/controls", json={"awb_lock": True}).json()
    assert state["awb_lock"] and state["awb_enable"]
    locked = _frames_later(client, 6)
    client.patch("/api/mock/scene", json={"colour_temperature": 3000})
    later = _frames_later(client, 12)
    assert later["colour_gains"] == pytest.approx(locked["colour_gains"], rel=0.01)
    client.patch("/api/controls", json={"awb_lock": False})
    wait_until(lambda: client.get("/api/controls").json()["actual"]["colour_gains"][1]
               > 1.2 * locked["colour_gains"][1], timeout_s=30)  # tungsten: much more blue gain


def test_magnify_never_re_meters(client):
    """Punched in 5x, exposure and white balance stay as metered on the whole frame, even
    when the light changes meanwhile (so the photo taken there matches what was framed);
    back at 1x, AE and AWB run again."""
    frame_after(client, 5)
    scene = client.get("/api/mock/scene").json()
    r = client.put("/api/magnify", json={"factor": 5, "x": 0.5, "y": 0.3})
    assert r.status_code == 200
    state = client.get("/api/controls").json()
    assert state["held"] == ["magnify"] and state["ae_enable"] and not state["ae_lock"]
    whole = _frames_later(client, 6)
    client.patch("/api/mock/scene", json={"lux": scene["lux"] * 4, "colour_temperature": 3000})
    punched = _frames_later(client, 12)
    assert punched["exposure_time_us"] == pytest.approx(whole["exposure_time_us"], rel=0.01)
    assert punched["analogue_gain"] == pytest.approx(whole["analogue_gain"], rel=0.01)
    assert punched["colour_gains"] == pytest.approx(whole["colour_gains"], rel=0.01)
    client.delete("/api/magnify")
    assert client.get("/api/controls").json()["held"] == []
    wait_until(lambda: _exposure(client.get("/api/controls").json()["actual"])
               < 0.4 * _exposure(whole), timeout_s=30)


def test_spot_metering_meters_where_the_photographer_tapped(client):
    """Spot metering in P on the chart's white patch, then on its black one: the camera's
    exposure follows the tapped spot (libcamera's own spot is only the centre), so the tapped
    spot meters about 0 each time and the white patch gets the shorter exposure."""
    frame_after(client, 5)
    client.patch("/api/controls", json={"metering": "spot", "ev": 0})
    exposures = {}
    for name, x, y in (("white", 0.33, 0.93), ("black", 0.66, 0.93)):
        client.patch("/api/live/options", json={"focus_x": x, "focus_y": y})

        def settled(x=x, y=y):
            body = client.get("/api/live").json()
            spot = body["meter"]["ev"]["spot"]
            return body if body["meter"]["spot"] == [x, y] and abs(spot) < 0.25 else None

        body = wait_until(settled, timeout_s=60)
        exposures[name] = body["exposure_time_us"] * body["analogue_gain"]
    assert exposures["white"] < exposures["black"] / 4
    # Centre-weighted again: the shift goes.
    client.patch("/api/controls", json={"metering": "centre"})
    wait_until(lambda: client.app.state.service.spot_offset_ev == 0.0, timeout_s=10)


def test_a_drive_mode_takes_the_view_back_to_the_whole_field(client):
    """Punched in, a drive mode (here a short burst) goes back to 1x and lets AE run again: an
    interval must not keep the exposure metered before a punch-in through changing light."""
    frame_after(client, 5)
    client.put("/api/magnify", json={"factor": 5, "x": 0.5, "y": 0.5})
    assert client.get("/api/controls").json()["held"] == ["magnify"]
    r = client.post("/api/capture", json={"mode": "burst", "frames": 2, "format": "dng"})
    assert r.status_code == 202
    assert client.get("/api/magnify").json()["factor"] == 1
    assert client.get("/api/controls").json()["held"] == []
    wait_until(lambda: client.get(f"/api/jobs/{r.json()['id']}").json()["state"] == "done",
               timeout_s=60)
