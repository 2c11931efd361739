"""Camera faults: the API answers 503 with the reason, the service reopens the camera, the
process stays up, and controls survive the reopen."""

from __future__ import annotations

import pytest

from hal.clock import SimulatedClock
from hal.mock.camera import MockCamera
from tests.test_api_controls import frame_after
from tests.waiting import wait_until


def state(client) -> dict:
    return client.get("/api/status").json()


def test_disconnect_gives_503_with_reason_then_recovers(client, mock_camera):
    frame_after(client, 0)
    client.patch("/api/controls", json={"exposure_time_us": 12_345})
    mock_camera.faults.disconnected = True
    wait_until(lambda: state(client)["state"] == "recovering")
    s = state(client)
    assert s["reason"].startswith("camera disconnected")
    for method, path, body in [("PATCH", "/api/controls", {"ev": 1}), ("GET", "/api/stream.mjpg", None),
                               ("GET", "/api/snapshot.jpg", None)]:
        r = client.request(method, path, json=body)
        assert r.status_code == 503
        assert r.json()["detail"].startswith("camera recovering")
        assert "camera disconnected" in r.json()["detail"]
        assert r.headers["retry-after"]
    assert client.get("/api/camera").status_code == 200  # the static description still answers
    last_before = client.get("/api/controls").json()["actual"]["sequence"]
    mock_camera.faults.disconnected = False
    wait_until(lambda: state(client)["state"] == "running")
    assert state(client)["recoveries"] >= 1
    actual = frame_after(client, last_before)
    assert actual["exposure_time_us"] == 12_345  # the user's controls were re-applied


@pytest.mark.parametrize(
    "fault, value, reason",
    [("frame_timeouts", 2, "camera timed out"), ("oom_on_configure", 0, "not enough memory")],
)
def test_faults_recover_by_themselves(client, mock_camera, fault, value, reason):
    frame_after(client, 0)
    if fault == "oom_on_configure":
        mock_camera.faults.oom_on_configure = 3
        mock_camera.faults.frame_timeouts = 1  # forces a reopen, which then fails three times
    else:
        setattr(mock_camera.faults, fault, value)
    wait_until(lambda: state(client)["recoveries"] >= 1 and state(client)["state"] == "running")
    assert getattr(mock_camera.faults, fault) == 0
    assert frame_after(client, state(client)["frames"])


def test_busy_camera_at_start_is_retried(make_client):
    camera = MockCamera(clock=SimulatedClock(pace_s=0.02))
    camera.faults.busy_on_open = 2
    client = make_client(camera)
    wait_until(lambda: state(client)["state"] == "running")
    assert state(client)["recoveries"] == 1


def test_stream_ends_cleanly_when_the_camera_faults(client, mock_camera):
    frame_after(client, 0)
    received = 0
    with client.stream("GET", "/api/stream.mjpg") as r:
        for chunk in r.iter_bytes():
            received += chunk.count(b"--mrigframe")
            if received == 2:
                mock_camera.faults.disconnected = True
    assert received >= 2  # the loop above ended: the server closed the stream
    assert client.app.state.stream_slots.active == 0
    mock_camera.faults.disconnected = False


def test_still_timeout_is_503_and_the_service_recovers(client, mock_camera):
    frame_after(client, 0)
    service = client.app.state.service
    mock_camera.faults.still_timeouts = 1
    from firmware.exc import CameraUnavailable

    with pytest.raises(CameraUnavailable, match="did not complete"):
        service.capture_still()
    wait_until(lambda: state(client)["state"] == "running")
    raw = service.capture_still()
    assert raw.data.shape == (3040, 4056)


def test_long_exposure_is_not_a_hang():
    """A 300 s exposure on simulated time completes; the timeout is exposure plus a margin."""
    from firmware.service import CameraService
    from hal.camera import Controls

    camera = MockCamera(clock=SimulatedClock(pace_s=0.02), seed=2)
    with CameraService(camera, (320, 240), backoff_s=(0.01, 0.05)) as service:
        wait_until(lambda: service.healthy)
        service.set_controls(Controls(ae_enable=False, exposure_time_us=300_000_000))
        raw = service.capture_still()
        assert raw.metadata.exposure_time_us == 300_000_000
        assert service.status["state"] == "running"


def test_zero_shutter_lag_still_is_the_frame_being_exposed():
    """Live view in the full-resolution mode: the still shares the frame in progress, so its
    exposure starts no later than the shutter press, and the live view keeps running."""
    from firmware.service import CameraService

    clock = SimulatedClock(pace_s=0.02)
    camera = MockCamera(clock=clock, seed=5)
    with CameraService(camera, (320, 240), backoff_s=(0.01, 0.05), zero_shutter_lag=True) as service:
        wait_until(lambda: service.healthy and service.frames > 2)
        assert camera._mode.size == (4056, 3040)
        frames_before = service.frames
        pressed_ns = clock.monotonic_ns()
        raw = service.capture_still()
        assert raw.data.shape == (3040, 4056)
        assert raw.metadata.sensor_timestamp_ns <= pressed_ns + 50_000_000
        assert service.frames > frames_before  # the live view went on meanwhile


def test_switching_still_waits_for_the_mode_switch():
    from firmware.service import CameraService
    from hal.mock.camera import MODE_SWITCH_US

    clock = SimulatedClock(pace_s=0.02)
    camera = MockCamera(clock=clock, seed=6)
    with CameraService(camera, (320, 240), backoff_s=(0.01, 0.05)) as service:
        wait_until(lambda: service.healthy)
        pressed_ns = clock.monotonic_ns()
        raw = service.capture_still()
        assert raw.metadata.sensor_timestamp_ns - pressed_ns >= MODE_SWITCH_US * 1000


def test_missing_camera_at_boot_keeps_the_server_up_and_says_why(make_client):
    """`--camera picamera2` with no camera (here: no libcamera): 503 with the reason, retries,
    and the process stays up, so the phone can show what is wrong."""
    from firmware.app import _camera_source

    client = make_client(_camera_source("picamera2"))
    wait_until(lambda: state(client)["state"] == "recovering")
    s = state(client)
    assert s["backend"] == "picamera2" and s["reason"].startswith("no camera found")
    r = client.patch("/api/controls", json={"ev": 1})
    assert r.status_code == 503 and "no camera found" in r.json()["detail"]
    assert client.get("/api/camera").json()["model"] == "imx477"
