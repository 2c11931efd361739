"""Camera faults: the API answers 503 with the reason, the service reopens the camera, the
process stays up, and controls survive the reopen. The faults are the virtual libcamera's,
each imitating what a Pi does (``hal/virtual/SOURCES.md``)."""

from __future__ import annotations

import pytest

from firmware.exc import CameraUnavailable
from firmware.service import CameraService
from hal.camera import Controls
from hal.select import make_camera
from tests.conftest import virtual_rig
from tests.test_api_controls import frame_after, frame_where
from tests.waiting import wait_until


def state(client) -> dict:
    return client.get("/api/status").json()


def test_disconnect_gives_503_with_reason_then_recovers(client, rig):
    frame_after(client, 0)
    client.patch("/api/controls", json={"exposure_time_us": 12_345})
    frame_where(client, exposure_time_us=12_345)
    rig.faults.disconnected = True
    wait_until(lambda: state(client)["state"] == "recovering")
    s = state(client)
    assert s["reason"].startswith(("camera timed out", "camera disconnected"))
    for method, path, body in [("PATCH", "/api/controls", {"ev": 1}), ("GET", "/api/stream.mjpg", None),
                               ("GET", "/api/snapshot.jpg", None)]:
        r = client.request(method, path, json=body)
        assert r.status_code == 503
        assert r.json()["detail"].startswith("camera recovering")
        assert r.headers["retry-after"]
    # Reopening a camera whose ribbon is out fails with "disconnected" until it is back.
    wait_until(lambda: "disconnected" in (state(client)["reason"] or ""))
    assert client.get("/api/camera").status_code == 200  # the static description still answers
    rig.faults.disconnected = False
    wait_until(lambda: state(client)["state"] == "running", timeout_s=30)
    assert state(client)["recoveries"] >= 1
    assert frame_where(client, exposure_time_us=12_345)  # the user's controls were re-applied


def test_a_frontend_timeout_recovers_by_itself(client, rig):
    frame_after(client, 0)
    rig.faults.frontend_timeout = True
    wait_until(lambda: state(client)["recoveries"] >= 1 and state(client)["state"] == "running",
               timeout_s=30)
    assert frame_after(client, 0)


def test_out_of_memory_at_reopen_is_retried(client, rig):
    frame_after(client, 0)
    rig.faults.enomem_on_configure = 3
    rig.faults.frontend_timeout = True  # forces a reopen, which then fails three times
    wait_until(lambda: "not enough memory" in (state(client)["reason"] or ""), timeout_s=30)
    wait_until(lambda: state(client)["state"] == "running", timeout_s=30)
    assert rig.faults.enomem_on_configure == 0


def test_busy_camera_at_start_is_retried(make_client):
    rig = virtual_rig(seed=3)
    rig.faults.busy_on_acquire = 2
    client = make_client(make_camera("virtual", rig=rig), ready=False)
    wait_until(lambda: state(client)["state"] == "running", timeout_s=30)
    assert state(client)["recoveries"] == 1


def test_stream_ends_cleanly_when_the_camera_faults(client, rig):
    frame_after(client, 0)
    received = 0
    with client.stream("GET", "/api/stream.mjpg") as r:
        for chunk in r.iter_bytes():
            received += chunk.count(b"--mrigframe")
            if received == 2:
                rig.faults.disconnected = True
    assert received >= 2  # the loop above ended: the server closed the stream
    assert client.app.state.stream_slots.active == 0
    rig.faults.disconnected = False


def test_a_still_that_never_comes_is_503_and_the_service_recovers(client, rig):
    frame_after(client, 0)
    service = client.app.state.service
    rig.faults.frontend_timeout = True
    with pytest.raises(CameraUnavailable):
        service.capture_still()
    wait_until(lambda: state(client)["state"] == "running", timeout_s=30)
    raw = service.capture_still()
    assert raw.data.shape == (3040, 4056)


def test_long_exposure_is_not_a_hang():
    """A 300 s exposure on simulated time completes; the timeout is exposure plus a margin."""
    camera = make_camera("virtual", rig=virtual_rig(seed=2))
    with CameraService(camera, (320, 240), backoff_s=(0.01, 0.05)) as service:
        wait_until(lambda: service.healthy, timeout_s=30)
        service.set_controls(Controls(ae_enable=False, exposure_time_us=300_000_000))
        raw = service.capture_still()
        assert raw.metadata.exposure_time_us == pytest.approx(300_000_000, rel=1e-4)
        assert service.status["state"] == "running"


def test_zero_shutter_lag_still_is_the_frame_being_exposed():
    """Live view in the full-resolution mode: the still is a live frame, exposed at the press
    or started within one frame after it, and the live view keeps running."""
    camera = make_camera("virtual", rig=virtual_rig(seed=5))
    with CameraService(camera, (320, 240), backoff_s=(0.01, 0.05), zero_shutter_lag=True) as service:
        wait_until(lambda: service.healthy and service.frames > 2, timeout_s=30)
        assert service.sensor_mode.size == (4056, 3040)
        frames_before = service.frames
        raw = service.capture_still()
        assert raw.data.shape == (3040, 4056)
        assert abs(raw.metadata.shutter_lag_ms) <= 60  # the frame nearest the press, at 10 fps
        wait_until(lambda: service.frames > frames_before)  # the live view went on


def test_switching_still_waits_for_the_mode_switch():
    camera = make_camera("virtual", rig=virtual_rig(seed=6))
    with CameraService(camera, (320, 240), backoff_s=(0.01, 0.05)) as service:
        wait_until(lambda: service.healthy, timeout_s=30)
        raw = service.capture_still()
        # libcamera's stop, configure and start before the still's exposure begins.
        assert raw.metadata.shutter_lag_ms >= 300


def test_missing_camera_at_boot_keeps_the_server_up_and_says_why(make_client):
    """`--camera picamera2` with no HQ camera (here: the virtual libcamera is loaded, or none):
    503 with the reason, retries, and the process stays up, so the phone can show what is wrong."""
    from firmware.app import _camera_source

    client = make_client(_camera_source("picamera2"), ready=False)
    wait_until(lambda: state(client)["state"] == "recovering")
    s = state(client)
    assert s["backend"] == "picamera2" and s["reason"].startswith("no camera found")
    r = client.patch("/api/controls", json={"ev": 1})
    assert r.status_code == 503 and "no camera found" in r.json()["detail"]
    assert client.get("/api/camera").json()["model"] == "imx477"


def test_the_camera_thread_survives_an_unexpected_error(client, camera, monkeypatch):
    """Anything the frame loop did not expect becomes a reported fault, not a dead thread."""
    frame_after(client, 0)
    calls = {"n": 0}
    real = type(camera).next_frame

    def flaky(self, timeout_s=2.0):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyError("a bug somewhere below")
        return real(self, timeout_s)

    monkeypatch.setattr(type(camera), "next_frame", flaky)
    wait_until(lambda: state(client)["recoveries"] >= 1 and state(client)["state"] == "running",
               timeout_s=30)
    assert client.app.state.service.loop_alive


def test_a_wake_up_while_a_viewer_was_busy_is_not_missed():
    """The MJPEG generator encodes and sends between its waits; a fault's wake-up in that gap
    used to leave it waiting out its 5 s timeout. It passes the wake-up count it saw."""
    import asyncio
    import time

    from firmware.latest import Latest

    latest: Latest = Latest()

    async def viewer() -> float:
        wakes = latest.wakes
        latest.wake_all()  # the fault, while the viewer is busy (not parked)
        start = time.monotonic()
        assert await latest.next_after(-1, timeout_s=5.0, wakes=wakes) is None
        return time.monotonic() - start

    assert asyncio.run(viewer()) < 1.0


def test_a_closed_app_lets_its_camera_go(settings):
    """Nothing global keeps an app (and its camera's 200 MB of buffers) once it has stopped:
    a route's endpoint holding the app once did, through FastAPI's caches."""
    import gc
    import weakref

    from fastapi.testclient import TestClient

    from firmware.app import create_app
    from hal.select import make_camera
    from tests.conftest import BASE_URL, virtual_rig

    app = create_app(settings, make_camera("virtual", rig=virtual_rig(seed=1)),
                     service_options={"backoff_s": (0.01, 0.05)})
    with TestClient(app, base_url=BASE_URL):
        service = weakref.ref(app.state.service)
    gone = weakref.ref(app)
    del app
    gc.collect()
    assert gone() is None and service() is None
