"""The shot pipeline (issue 16): the press is answered once its DNG is on the card, the JPEG
develops afterwards in the develop process, nothing is lost to a full buffer, a full card, a
crash or a stop; bursts and brackets of consecutive frames; a long exposure cancelled mid-way.

The end-to-end tests go through the app on the virtual camera (the real picamera2 over the
virtual libcamera) in its default zero-shutter-lag live view, and the develop process is the
real one. The pipeline's own edge cases use a tiny raw and a store whose writes can be held.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rawpy

from firmware.capture.developer import DevelopFailed, DevelopProcess
from firmware.capture.pipeline import ShotPipeline, buffer_frames_for
from firmware.exc import BufferFull, ShuttingDown, StorageFull
from firmware.storage import PhotoStore
from hal.camera import FrameMetadata, RawFrame
from hal.clock import RealClock
from hal.select import make_camera
from hal.virtual import VirtualRig
from isp.tuning import default_tuning
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
EXIFTOOL = shutil.which("exiftool")


def _exif(path: Path) -> dict:
    out = subprocess.run([EXIFTOOL, "-j", "-n", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def _tiny_raw(n: int = 1) -> RawFrame:
    meta = FrameMetadata(n, n * 100_000_000, 10_000, 1.0, (2.0, 1.6), 5000, 100_000,
                         exposure_start_unix_ns=1_790_000_000_000_000_000 + n * 100_000_000)
    data = np.full((48, 64), 900 + n, np.uint16)
    return RawFrame(data, "BGGR", 256, 4095, 12, meta)


@pytest.fixture
def store(tmp_path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos", state_dir=tmp_path, reserve_bytes=0)


class HeldStore:
    """Wraps a store so the writer waits at each ``save_shot`` until ``release`` is set."""

    def __init__(self, store: PhotoStore) -> None:
        self.store = store
        self.release = threading.Event()
        save_shot = store.save_shot

        def held(*args, **kwargs):
            self.release.wait(30)
            return save_shot(*args, **kwargs)

        store.save_shot = held  # type: ignore[method-assign]


class FailingDeveloper:
    def start(self):
        pass

    def develop(self, dng):
        raise DevelopFailed("no develop in this test")

    def close(self, timeout_s=10.0):
        pass


class HeldDeveloper(FailingDeveloper):
    """Develops (a tiny JPEG) when ``release`` is set; ``started`` is set once it has the DNG;
    fails the first ``failures`` times."""

    def __init__(self, failures: int = 0) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.failures = failures
        self.calls = 0

    def develop(self, dng):
        self.calls += 1
        self.started.set()
        self.release.wait(30)
        if self.calls <= self.failures:
            raise DevelopFailed("the develop process ended (killed for memory)")
        import simplejpeg

        return simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8), colorspace="RGB")


# -- through the app, on the virtual camera ------------------------------------------------


def test_a_press_is_answered_when_its_dng_is_on_the_card_and_the_jpeg_develops_after(
        client, settings, tmp_path):
    answer = client.post("/api/capture", json={"format": "both"})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    dng_name, jpg_name = job["files"]
    assert job["frames_saved"] == 1
    photos = Path(settings.storage.data_dir) / "photos"
    with rawpy.imread(str(photos / dng_name)) as raw:  # on the card when the press is answered
        assert raw.raw_image_visible.shape == (3040, 4056)
    entry = client.get("/api/photos").json()["items"][0]
    assert entry["name"] == dng_name[:-4] and entry["developing"] is True
    assert entry["formats"] == ["dng"]
    assert client.get(f"/api/photos/{entry['name']}/thumbnail").status_code == 200

    capture = client.app.state.capture
    assert capture.pipeline.wait_idle(120)
    entry = client.get("/api/photos").json()["items"][0]
    assert entry["developing"] is False and entry["formats"] == ["dng", "jpg"]
    # The camera's JPEG is mrig develop's JPEG of the same DNG, byte for byte.
    again = tmp_path / "again.jpg"
    subprocess.run([sys.executable, "-m", "firmware.cli", "develop", str(photos / dng_name),
                    "-o", str(again)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    assert again.read_bytes() == (photos / jpg_name).read_bytes()
    if EXIFTOOL:
        dng_tags, jpg_tags = _exif(photos / dng_name), _exif(photos / jpg_name)
        for tag in ("Make", "Model", "ExposureTime", "ISO", "DateTimeOriginal",
                    "SubSecTimeOriginal", "OffsetTimeOriginal"):
            assert jpg_tags[tag] == dng_tags[tag], tag
        assert jpg_tags["ThumbnailLength"] > 0


def test_five_quick_presses_are_five_photos_or_clear_refusals(client):
    answers = []

    def press() -> None:
        answers.append(client.post("/api/capture", json={"format": "both"}))

    threads = []
    for _ in range(5):
        threads.append(threading.Thread(target=press))
        threads[-1].start()
        time.sleep(0.3)
    for t in threads:
        t.join(120)
    codes = sorted(a.status_code for a in answers)
    assert len(answers) == 5 and set(codes) <= {200, 503}, [a.text for a in answers]
    for a in answers:
        if a.status_code == 503:
            assert a.json()["detail"].startswith("buffer full")
    saved = [a.json()["files"][0] for a in answers if a.status_code == 200]
    assert client.app.state.capture.pipeline.wait_idle(300)
    listed = {i["name"] for i in client.get("/api/photos").json()["items"]}
    assert {name[:-4] for name in saved} == listed and len(saved) >= 1


def test_a_press_with_the_buffer_full_is_refused_with_503(client):
    capture = client.app.state.capture
    held = HeldStore(capture.store)
    capture.pipeline.buffer_frames = 1
    first = threading.Thread(target=lambda: client.post("/api/capture", json={"format": "dng"}))
    first.start()
    wait_until(lambda: capture.pipeline.status()["buffered"] == 1, timeout_s=30)
    refused = client.post("/api/capture", json={"format": "dng"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["detail"].startswith("buffer full: 1 shots are still being written")
    held.release.set()
    first.join(60)
    assert client.get("/api/photos").json()["total"] == 1


def test_a_burst_takes_consecutive_frames_at_the_sensors_rate(client, settings):
    job = client.post("/api/capture", json={"mode": "burst", "frames": 5, "format": "dng"})
    assert job.status_code == 202
    job_id = job.json()["id"]
    wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["state"] == "done",
               timeout_s=120)
    done = client.get(f"/api/jobs/{job_id}").json()
    assert done["frames_saved"] == 5 and len(done["files"]) == 5
    photos = Path(settings.storage.data_dir) / "photos"
    sidecars = [json.loads((photos / f"{f[:-4]}.json").read_text()) for f in done["files"]]
    times = [np.datetime64(s["captured_at"][:23]) for s in sidecars]
    gaps_ms = np.diff(times).astype("timedelta64[ms]").astype(float)
    period_ms = 1000 / 10  # the full-resolution mode's 10 fps
    assert gaps_ms.max() <= 1.2 * period_ms and gaps_ms.min() > 0, gaps_ms
    if EXIFTOOL:
        subsec = [_exif(photos / f)["SubSecTimeOriginal"] for f in done["files"]]
        assert len(set(subsec)) == 5


def test_a_bracket_takes_its_exposures_from_the_live_view(client, settings):
    service = client.app.state.service
    metered = service.broadcast.latest.frame.metadata.exposure_time_us
    job_id = client.post("/api/capture", json={"mode": "bracket", "frames": 3, "ev_step": 1,
                                               "format": "dng"}).json()["id"]
    wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["state"] == "done",
               timeout_s=120)
    files = client.get(f"/api/jobs/{job_id}").json()["files"]
    photos = Path(settings.storage.data_dir) / "photos"
    exposures = [json.loads((photos / f"{f[:-4]}.json").read_text())["exposure"]
                 ["exposure_time_us"] for f in files]
    base = exposures[0]
    assert base == pytest.approx(metered, rel=0.3)
    assert exposures[1] == pytest.approx(base / 2, rel=0.02)
    assert exposures[2] == pytest.approx(base * 2, rel=0.02)
    assert service.controls.ae_enable


def test_cancel_stops_a_long_exposure_in_the_middle(make_client):
    camera = make_camera("virtual", rig=VirtualRig(seed=3, clock=RealClock()))
    client = make_client(camera)
    job_id = client.post("/api/capture", json={"mode": "long", "exposure_time_s": 300,
                                               "format": "dng"}).json()["id"]
    wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["phase"] == "exposing",
               timeout_s=30)
    time.sleep(1.0)
    started = time.monotonic()
    assert client.delete(f"/api/jobs/{job_id}").status_code == 200
    wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["state"] == "cancelled",
               timeout_s=30)
    assert time.monotonic() - started < 15
    assert client.get("/api/photos").json()["total"] == 0  # the frame was discarded
    service = client.app.state.service
    frames = service.frames
    wait_until(lambda: service.frames > frames + 3, timeout_s=30)  # the live view is back
    assert service.broadcast.latest.frame.metadata.exposure_time_us < 1_000_000


# -- the pipeline's edges ----------------------------------------------------------------


def test_the_buffer_budget_for_a_1_and_a_4_gb_pi():
    mib = 1024 * 1024
    assert buffer_frames_for(910 * mib) == 7
    assert buffer_frames_for(3796 * mib) == 63
    assert buffer_frames_for(256 * mib) == 2 and buffer_frames_for(64 * 1024 * mib) == 64


def test_a_full_buffer_refuses_a_press_and_waits_in_a_drive_mode(store):
    held = HeldStore(store)
    pipeline = ShotPipeline(store, default_tuning(), FailingDeveloper(), buffer_frames=2)
    shots = [pipeline.submit(_tiny_raw(i), "dng", None) for i in range(2)]
    with pytest.raises(BufferFull, match="buffer full"):
        pipeline.submit(_tiny_raw(3), "dng", None)
    waiting = []
    waiter = threading.Thread(
        target=lambda: waiting.append(pipeline.submit(_tiny_raw(4), "dng", None,
                                                      wait_for_room=True)))
    waiter.start()
    time.sleep(0.3)
    assert not waiting  # a burst waits for room
    held.release.set()
    waiter.join(30)
    assert [len(s.wait_saved(30)) for s in [*shots, *waiting]] == [1, 1, 1]
    pipeline.close(5)
    assert store.list().total == 3


def test_a_full_card_mid_queue_keeps_what_was_written_and_refuses_the_rest(store):
    held = HeldStore(store)
    room = {"bytes": 10**9}
    store._free_bytes = lambda _: room["bytes"]
    pipeline = ShotPipeline(store, default_tuning(), FailingDeveloper(), buffer_frames=8)
    shots = [pipeline.submit(_tiny_raw(i), "both", None) for i in range(4)]
    original = store.save_shot

    def then_full(*args, **kwargs):
        files = original(*args, **kwargs)
        room["bytes"] = 1000  # the card is full after the first shot
        return files

    store.save_shot = then_full
    held.release.set()
    assert len(shots[0].wait_saved(30)) == 2
    for shot in shots[1:]:
        with pytest.raises(StorageFull):
            shot.wait_saved(30)
    pipeline.close(5)
    assert store.list().total == 1
    names = sorted(p.name for p in store.folder.iterdir() if not p.name.startswith("."))
    assert names == [f"{shots[0].stem}.dng", f"{shots[0].stem}.json"]  # nothing partial
    assert [p.name for p in store.spool.iterdir()] == [f"{shots[0].stem}.json"]


def test_shots_spooled_before_a_crash_develop_at_the_next_start(tmp_path, store):
    pipeline = ShotPipeline(store, default_tuning(), FailingDeveloper(), buffer_frames=4)
    jpeg_only = pipeline.submit(_tiny_raw(1), "jpeg", None)
    both = pipeline.submit(_tiny_raw(2), "both", None)
    assert jpeg_only.wait_saved(30) == [f"{jpeg_only.stem}.jpg"]
    both.wait_saved(30)
    pipeline.close(1)  # its develop failed: as after a crash, the shots stay spooled
    assert store.pending() == [jpeg_only.stem, both.stem]
    listing = {e.name: e for e in store.list().items}
    assert listing[jpeg_only.stem].developing and listing[jpeg_only.stem].formats == ()

    again = PhotoStore(tmp_path / "photos", state_dir=tmp_path, reserve_bytes=0)
    pipeline = ShotPipeline(again, default_tuning(), DevelopProcess(), buffer_frames=4)
    assert pipeline.wait_idle(120)
    pipeline.close(5)
    assert again.pending() == [] and list(again.spool.iterdir()) == []
    listing = {e.name: e for e in again.list().items}
    assert listing[jpeg_only.stem].formats == ("jpg",)
    assert listing[both.stem].formats == ("dng", "jpg")


def test_a_graceful_stop_writes_the_buffer_and_develops_the_queue(store):
    pipeline = ShotPipeline(store, default_tuning(), DevelopProcess(), buffer_frames=4)
    shots = [pipeline.submit(_tiny_raw(i), "jpeg", None) for i in range(3)]
    pipeline.close(120)
    assert all(s.saved.is_set() and s.error is None for s in shots)
    assert [e.formats for e in store.list().items] == [("jpg",)] * 3
    assert list(store.spool.iterdir()) == []
    with pytest.raises(ShuttingDown, match="shutting down"):
        pipeline.submit(_tiny_raw(9), "jpeg", None)


def test_deleting_a_shot_while_it_develops_cancels_its_jpeg(store):
    developer = HeldDeveloper()
    pipeline = ShotPipeline(store, default_tuning(), developer, buffer_frames=4)
    shot = pipeline.submit(_tiny_raw(1), "jpeg", None)
    shot.wait_saved(30)
    assert developer.started.wait(30)  # the develop process has its DNG
    assert store.delete(shot.stem) == [f"{shot.stem}.jpg"]
    developer.release.set()
    assert pipeline.wait_idle(30)
    pipeline.close(5)
    assert store.pending() == [] and store.list().total == 0
    assert sorted(p.name for p in store.folder.iterdir()) == [".spool", ".thumbs"]
    assert list(store.spool.iterdir()) == []


def test_deleting_only_the_dng_while_the_jpeg_develops_keeps_the_jpeg_coming(store):
    developer = HeldDeveloper()
    pipeline = ShotPipeline(store, default_tuning(), developer, buffer_frames=4)
    shot = pipeline.submit(_tiny_raw(1), "both", None)
    shot.wait_saved(30)
    assert store.delete(f"{shot.stem}.dng") == [f"{shot.stem}.dng"]
    entry = store.entry(shot.stem)
    assert entry.formats == () and entry.developing  # the DNG waits in the spool
    developer.release.set()
    assert pipeline.wait_idle(30)
    pipeline.close(5)
    entry = store.entry(shot.stem)
    assert entry.formats == ("jpg",) and not entry.developing
    assert entry.exposure["exposure_time_us"] == 10_000  # the sidecar stayed
    assert list(store.spool.iterdir()) == []


def test_a_failed_develop_is_tried_again(store, monkeypatch):
    monkeypatch.setattr("firmware.capture.pipeline.RETRY_S", (0.2, 1.0))
    developer = HeldDeveloper(failures=2)
    developer.release.set()
    pipeline = ShotPipeline(store, default_tuning(), developer, buffer_frames=4)
    shot = pipeline.submit(_tiny_raw(1), "jpeg", None)
    shot.wait_saved(30)
    wait_until(lambda: pipeline.status()["error"], timeout_s=10)
    assert "killed for memory" in pipeline.status()["error"]
    assert pipeline.status()["developing"] == 1
    wait_until(lambda: store.entry(shot.stem).formats == ("jpg",), timeout_s=30)
    wait_until(lambda: pipeline.status()["developing"] == 0, timeout_s=10)
    assert developer.calls == 3 and pipeline.status()["error"] is None
    pipeline.close(5)


def test_the_card_is_checked_for_the_jpeg_to_come(store):
    big = dataclasses.replace(_tiny_raw(1), data=np.full((480, 640), 900, np.uint16))
    dng_bytes = 640 * 480 * 2 + 300_000  # the raw, its preview and tags, the files' slack
    room = dng_bytes + 640 * 480 // 4  # the DNG fits, its JPEG (0.75 B a pixel) would not
    store._free_bytes = lambda _: room
    pipeline = ShotPipeline(store, default_tuning(), FailingDeveloper(), buffer_frames=4)
    assert len(pipeline.submit(big, "dng", None).wait_saved(30)) == 1
    room = dng_bytes + 640 * 480 // 4
    with pytest.raises(StorageFull):
        pipeline.submit(big, "both", None).wait_saved(30)
    pipeline.close(1)


@pytest.mark.parametrize("case", ["marker without dng", "dng without marker", "developed",
                                  "pending jpeg-only", "pending both"])
def test_recovery_keeps_what_is_pending_and_drops_the_rest(tmp_path, store, case):
    stem = "MRIG_20261204_120000_0001"
    folder, spool = store.folder, store.spool
    sidecar = folder / f"{stem}.json"
    sidecar.write_text("{}")
    files = {
        "marker without dng": [spool / f"{stem}.json"],
        "dng without marker": [spool / f"{stem}.dng"],
        "developed": [spool / f"{stem}.json", folder / f"{stem}.dng", folder / f"{stem}.jpg"],
        "pending jpeg-only": [spool / f"{stem}.json", spool / f"{stem}.dng"],
        "pending both": [spool / f"{stem}.json", folder / f"{stem}.dng"],
    }[case]
    for path in files:
        path.write_bytes(b"{}" if path.suffix == ".json" else b"x")
    again = PhotoStore(folder, state_dir=tmp_path, reserve_bytes=0)
    pending = case.startswith("pending")
    assert again.pending() == ([stem] if pending else [])
    assert sidecar.exists() == (pending or case == "developed")
    left = sorted(p.name for p in spool.iterdir())
    assert left == sorted(p.name for p in files if p.parent == spool and pending)


def test_a_long_burst_keeps_the_camera_running(client):
    service = client.app.state.service
    job_id = client.post("/api/capture", json={"mode": "burst", "frames": 30,
                                               "format": "dng"}).json()["id"]
    wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["state"] != "running",
               timeout_s=300)
    job = client.get(f"/api/jobs/{job_id}").json()
    assert (job["state"], job["frames_saved"]) == ("done", 30), job
    starts = np.array(job["shutter_lag_ms"])
    assert np.diff(starts).max() < 1.2 * 100  # consecutive frames, none lost to the live view
    assert service.status["recoveries"] == 0 and service.healthy
    frames = service.frames
    wait_until(lambda: service.frames > frames + 3, timeout_s=30)


def test_a_burst_cancelled_while_it_waits_for_the_card(client):
    capture, service = client.app.state.capture, client.app.state.service
    held = HeldStore(capture.store)
    capture.pipeline.buffer_frames = 2
    job_id = client.post("/api/capture", json={"mode": "burst", "frames": 12,
                                               "format": "dng"}).json()["id"]
    wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["frames_done"] >= 2,
               timeout_s=60)
    time.sleep(0.5)  # the burst waits for room in the buffer
    client.delete(f"/api/jobs/{job_id}")
    held.release.set()
    wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["state"] != "running",
               timeout_s=60)
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["state"] == "cancelled" and job["frames_saved"] == job["frames_done"] >= 2
    assert client.get("/api/photos").json()["total"] == job["frames_saved"]
    frames = service.frames
    wait_until(lambda: service.frames > frames + 3, timeout_s=30)  # the live view goes on
    assert service.status["recoveries"] == 0
    assert client.post("/api/capture", json={"format": "dng"}).status_code == 200


def test_the_capture_service_develops_from_any_working_folder(tmp_path, monkeypatch, store):
    """The server runs in its data folder under systemd: the develop process must find the
    tuning and the code wherever it starts."""
    from firmware.capture.service import CaptureService
    from firmware.lenses import LensRegistry

    monkeypatch.chdir(tmp_path)
    with CaptureService(None, store, LensRegistry(tmp_path / "lenses.json"),
                        buffer_frames=2) as capture:
        shot = capture.pipeline.submit(_tiny_raw(1), "jpeg", None)
        shot.wait_saved(30)
        assert capture.pipeline.wait_idle(120) and capture.pipeline.status()["error"] is None
    assert store.entry(shot.stem).formats == ("jpg",)
