"""Capture, lens and gallery routes, on an app holding just these routers.

Two cameras: the virtual HQ camera (picamera2 over the virtual libcamera) on simulated time for
the end-to-end captures (a full-resolution
still, developed quickly, checked with rawpy and exiftool), and a tiny fake camera for the
many requests that do not need real pixels (lenses, names, a full card, drive modes).
"""

import json
import shutil
import subprocess
import time
import types

import numpy as np
import pytest
import rawpy
import simplejpeg
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from firmware.api import errors
from firmware.api.routes import capture, lenses, photos
from firmware.capture.service import CaptureService
from firmware.lenses import LensRegistry
from firmware.service import CameraService
from firmware.storage import PhotoStore
from hal.camera import Controls, FrameMetadata, RawFrame
from hal.clock import SimulatedClock
from hal.select import make_camera
from tests.conftest import virtual_rig

SUMMICRON_50 = "preset-leica-summicron-m-50-f-2"


def _app(capture_service: CaptureService) -> FastAPI:
    app = FastAPI()
    errors.install(app)
    api = APIRouter(prefix="/api")
    for area in (capture, lenses, photos):
        api.include_router(area.router)
    app.include_router(api)
    app.state.capture = capture_service
    return app


class TinyCamera:
    """Just what the Capturer uses of CameraService, with a 64×48 raw frame."""

    can_burst = False  # frame by frame, as without zero shutter lag

    def __init__(self):
        self.controls = Controls()
        self.broadcast = types.SimpleNamespace(latest=None)
        self.stills = []

    def set_controls(self, controls):
        self.controls = controls

    def capture_still(self, *, exposure_time_us=None, analogue_gain=None, cancel=None):
        c = self.controls
        if exposure_time_us is not None or analogue_gain is not None:  # for this still only
            c = c.replace(ae_enable=False, exposure_time_us=exposure_time_us,
                          analogue_gain=analogue_gain)
        self.stills.append((c.ae_enable, c.exposure_time_us, c.analogue_gain))
        meta = FrameMetadata(len(self.stills), 0, c.exposure_time_us, c.analogue_gain,
                             (2.0, 1.6), 5000, c.exposure_time_us)
        return RawFrame(np.full((48, 64), 900, np.uint16), "BGGR", 256, 4095, 12, meta)


@pytest.fixture
def tiny(tmp_path):
    camera = TinyCamera()
    store = PhotoStore(tmp_path / "photos", state_dir=tmp_path, reserve_bytes=0)
    service = CaptureService(camera, store, LensRegistry(tmp_path / "lenses.json"),
                             clock=SimulatedClock())
    with service, TestClient(_app(service)) as client:
        yield client, service, camera


@pytest.fixture
def mock(tmp_path):
    rig = virtual_rig(seed=7)
    clock = rig.clock
    with CameraService(make_camera("virtual", rig=rig), (320, 240)) as camera_service:
        store = PhotoStore(tmp_path / "photos", state_dir=tmp_path, reserve_bytes=0)
        service = CaptureService(camera_service, store, LensRegistry(tmp_path / "lenses.json"),
                                 clock=clock)
        with service, TestClient(_app(service)) as client:
            deadline = time.monotonic() + 30
            while not camera_service.healthy and time.monotonic() < deadline:
                time.sleep(0.05)
            yield client, service


def _wait_job(client, job_id, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "cancelled", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


# -- end to end on the virtual camera-----------------------------------------------------


def test_capture_both_formats_carry_lens_and_exposure(mock, tmp_path):
    client, service = mock
    assert client.put("/api/lens", json={"id": SUMMICRON_50, "f_number": 4}).status_code == 200
    answer = client.post("/api/capture", json={"format": "both"})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["state"] == "done" and job["progress"] == 1.0
    # From the binned live view (this service runs without zero shutter lag): the mode switch,
    # libcamera's start, then the exposure.
    (lag,) = job["shutter_lag_ms"]
    assert lag >= 300
    dng_name, jpg_name = job["files"]
    assert dng_name.endswith(".dng") and jpg_name.endswith(".jpg")
    assert dng_name[:-4] == jpg_name[:-4]

    assert job["frames_saved"] == 1 and service.pipeline.wait_idle(120)  # the JPEG develops
    dng = tmp_path / "dl.dng"
    dng.write_bytes(client.get(f"/api/photos/{dng_name}").content)
    jpg = tmp_path / "dl.jpg"
    download = client.get(f"/api/photos/{jpg_name}")
    assert download.headers["content-type"] == "image/jpeg"
    jpg.write_bytes(download.content)

    with rawpy.imread(str(dng)) as rp:
        assert rp.sizes.raw_width == 4056 and rp.sizes.raw_height == 3040
        assert "".join(rp.color_desc.decode()[i] for i in rp.raw_pattern.ravel()) == "BGGR"
        assert rp.black_level_per_channel == [256] * 4 and rp.white_level == 4095
        rgb = rp.postprocess(use_camera_wb=True, half_size=True)
        assert rgb.shape == (1520, 2028, 3) and 10 < rgb.mean() < 245
    assert simplejpeg.decode_jpeg(jpg.read_bytes()).shape == (3040, 4056, 3)

    entry = client.get("/api/photos").json()["items"][0]
    assert entry["formats"] == ["dng", "jpg"] and entry["lens"]["f_number"] == 4
    exposure = entry["exposure"]
    if shutil.which("exiftool"):
        for path in (dng, jpg):
            tags = json.loads(subprocess.run(["exiftool", "-j", "-n", str(path)],
                                             capture_output=True, text=True, check=True).stdout)[0]
            assert tags["LensModel"] == "Summicron-M 50 f/2" and tags["FNumber"] == 4
            assert tags["FocalLength"] == 50 and tags["Make"] == "Raspberry Pi"
            # A shutter speed as photographers write it (1/84 s for 11 914 µs: within 1 %).
            assert tags["ExposureTime"] == pytest.approx(exposure["exposure_time_us"] / 1e6, rel=0.01)
            assert tags["ISO"] == exposure["iso"]
    thumb = client.get(f"/api/photos/{entry['name']}/thumbnail")
    assert thumb.status_code == 200 and simplejpeg.decode_jpeg(thumb.content).shape[1] == 320


def test_long_exposure_with_self_timer_on_simulated_time(mock):
    client, service = mock
    answer = client.post("/api/capture", json={"mode": "long", "exposure_time_s": 30,
                                               "analogue_gain": 2.0, "self_timer_s": 2,
                                               "format": "dng"})
    assert answer.status_code == 202, answer.text
    job = _wait_job(client, answer.json()["id"])
    assert job["state"] == "done" and job["kind"] == "long" and len(job["files"]) == 1
    entry = client.get("/api/photos").json()["items"][0]
    # In whole lines, and past 65500 lines in the sensor's long-exposure steps (2^shift lines).
    assert entry["exposure"]["exposure_time_us"] == pytest.approx(30_000_000, rel=1e-4)
    assert entry["exposure"]["analogue_gain"] == pytest.approx(2.0)
    assert service.capturer.camera.controls.ae_enable, "the user's auto exposure is restored"


# -- drive modes over HTTP (tiny camera) --------------------------------------------------


def test_bracket_and_burst_through_the_api(tiny):
    client, service, camera = tiny
    camera.controls = camera.controls.replace(exposure_time_us=8000, analogue_gain=2.0)
    job = _wait_job(client, client.post("/api/capture", json={
        "mode": "bracket", "frames": 3, "ev_step": 1, "format": "dng"}).json()["id"])
    assert job["state"] == "done" and len(job["files"]) == 3
    assert camera.stills == [(False, 8000, 2.0), (False, 4000, 2.0), (False, 16000, 2.0)]
    assert camera.controls.ae_enable and camera.controls.exposure_time_us == 8000
    job = _wait_job(client, client.post("/api/capture", json={
        "mode": "burst", "frames": 4, "format": "jpeg"}).json()["id"])
    assert job["frames_done"] == 4 and len(job["files"]) == 4
    listing = client.get("/api/photos", params={"limit": 5}).json()
    assert listing["total"] == 7 and len(listing["items"]) == 5
    assert listing["free_bytes"] > 0 and listing["reserve_bytes"] == 0
    assert listing["shots_left"] >= 1
    assert [j["kind"] for j in client.get("/api/jobs").json()] == ["burst", "bracket"]


def test_interval_cancel_and_errors(tiny):
    client, service, camera = tiny
    service.drive._poll_s = 0.5
    job = client.post("/api/capture", json={"mode": "interval", "interval_s": 3600,
                                            "count": 1000, "format": "jpeg"}).json()
    busy = client.post("/api/capture", json={})
    assert busy.status_code == 409 and busy.json()["detail"].startswith("busy")
    cancelled = client.delete(f"/api/jobs/{job['id']}").json()
    assert cancelled["id"] == job["id"]
    assert _wait_job(client, job["id"])["state"] == "cancelled"
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.post("/api/jobs/nope/cancel").status_code == 404
    bad = client.post("/api/capture", json={"mode": "long", "exposure_time_s": 700})
    assert bad.status_code == 422
    no_dark = client.post("/api/capture", json={"mode": "long", "exposure_time_s": 1,
                                                "subtract_dark": True})
    assert no_dark.status_code == 422 and "lens cap" in no_dark.json()["detail"]
    assert client.get("/api/capture/dark").json() == {"present": False}
    dark = _wait_job(client, client.post("/api/capture", json={
        "mode": "dark", "exposure_time_s": 1}).json()["id"])
    assert dark["state"] == "done" and dark["files"] == []
    assert client.get("/api/capture/dark").json()["exposure_time_us"] == 1_000_000


def test_full_card_is_507_and_nothing_is_left(tiny):
    client, service, camera = tiny
    service.store._free_bytes = lambda _: 1000
    answer = client.post("/api/capture", json={"format": "both"})
    assert answer.status_code == 507
    assert answer.json()["detail"].startswith("storage full: ")
    assert answer.json()["detail"].count("storage full") == 1
    assert client.get("/api/photos").json()["total"] == 0
    service.store._free_bytes = lambda _: 1 << 40
    assert client.post("/api/capture", json={"format": "jpeg"}).status_code == 200


# -- lenses -------------------------------------------------------------------------------


def test_lens_routes(tiny):
    client, _, _ = tiny
    listed = client.get("/api/lenses").json()
    assert any(lens["id"] == SUMMICRON_50 and lens["preset"] for lens in listed)
    new = client.post("/api/lenses", json={"name": "Jupiter-8 50 f/2", "make": "KMZ",
                                           "focal_length_mm": 50, "max_f_number": 2,
                                           "min_f_number": 22, "code": 12})
    assert new.status_code == 201
    lens_id = new.json()["id"]
    bad = client.post("/api/lenses", json={"name": "x", "focal_length_mm": 50,
                                           "max_f_number": 2, "code": 99})
    assert bad.status_code == 422
    put = client.put(f"/api/lenses/{lens_id}", json={"name": "Jupiter-8", "make": "KMZ",
                                                     "focal_length_mm": 52, "max_f_number": 2})
    assert put.json()["focal_length_mm"] == 52
    assert client.put(f"/api/lenses/{SUMMICRON_50}", json=put.json() | {"id": None}
                      ).status_code == 422
    assert client.delete(f"/api/lenses/{SUMMICRON_50}").status_code == 409
    assert client.get("/api/lens").json()["id"] is None
    mounted = client.put("/api/lens", json={"id": lens_id, "f_number": 8}).json()
    assert mounted["optics"]["equivalent_focal_length_mm"] == pytest.approx(52 * 5.507, abs=0.01)
    out_of_range = client.put("/api/lens", json={"id": lens_id, "f_number": 1.4})
    assert out_of_range.status_code == 422 and "f/1.4" in out_of_range.json()["detail"]
    assert client.put("/api/lens", json={"id": "nope"}).status_code == 404
    assert client.delete(f"/api/lenses/{lens_id}").status_code == 204
    assert client.get("/api/lens").json()["lens"] is None
    assert client.delete(f"/api/lenses/{lens_id}").status_code == 404


# -- gallery names ------------------------------------------------------------------------

ATTACKS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "..%5C..%5Cwindows%5Cwin.ini",
    "MRIG_19700101_000000_0000.jpg%00.png",
    "%2Fetc%2Fpasswd",
    "..",
    ".thumbs",
    "MRIG_19700101_000000_0000.jpg%5C..",
]


@pytest.mark.parametrize("name", ATTACKS)
def test_gallery_refuses_traversal(tiny, tmp_path, name):
    client, service, _ = tiny
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    service.store.save({"jpg": b"\xff\xd8 not really"})
    for method in ("get", "delete"):
        for url in (f"/api/photos/{name}", f"/api/photos/{name}/thumbnail"):
            if method == "delete" and url.endswith("thumbnail"):
                continue
            answer = getattr(client, method)(url)
            assert answer.status_code in (400, 404, 405), (method, url, answer.status_code)
            assert b"do not serve" not in answer.content
    assert secret.exists() and client.get("/api/photos").json()["total"] == 1


def test_gallery_symlink_out_is_404_and_kept(tiny, tmp_path):
    client, service, _ = tiny
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"private")
    (service.store.folder / "MRIG_19700101_000000_0077.jpg").symlink_to(secret)
    assert client.get("/api/photos/MRIG_19700101_000000_0077.jpg").status_code == 404
    assert client.delete("/api/photos/MRIG_19700101_000000_0077.jpg").status_code == 404
    assert client.get("/api/photos/MRIG_19700101_000000_0077/thumbnail").status_code == 404
    assert secret.read_bytes() == b"private"
    malformed = client.get("/api/photos/MRIG_19700101_000000_0077.png")
    assert malformed.status_code == 400 and malformed.json()["detail"].startswith("bad photo name")


def test_delete_and_paging(tiny):
    client, service, _ = tiny
    names = [client.post("/api/capture", json={"format": "jpeg"}).json()["files"][0]
             for _ in range(3)]
    assert service.pipeline.wait_idle(60)
    assert client.get("/api/photos", params={"offset": 1, "limit": 1}).json()["items"][0][
        "files"] == [names[1]]
    assert client.get("/api/photos", params={"limit": 0}).status_code == 422
    assert client.delete(f"/api/photos/{names[0]}").json() == {"deleted": [names[0]]}
    assert client.get(f"/api/photos/{names[0]}").status_code == 404
    assert client.get("/api/photos").json()["total"] == 2


def test_a_drive_mode_stops_at_the_first_frame_the_full_card_refuses(tiny):
    client, service, camera = tiny
    service.store._free_bytes = lambda _: 1000
    job = _wait_job(client, client.post("/api/capture", json={
        "mode": "interval", "interval_s": 1, "count": 20, "format": "dng"}).json()["id"])
    assert job["state"] == "failed" and job["error"].startswith("storage full")
    assert job["frames_done"] == 1 and len(camera.stills) == 1  # not all 20 exposed
    assert client.get("/api/photos").json()["total"] == 0
