"""systemd readiness and watchdog (issue 7): a real datagram socket on ``$NOTIFY_SOCKET``."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace

import pytest

from firmware.exc import CameraUnavailable
from firmware.service import CameraService
from firmware.watchdog import MAX_FAILURES, Watchdog
from hal import exc
from hal.camera import Controls
from hal.picamera2_backend import Picamera2Camera
from tests.conftest import virtual_rig
from tests.waiting import wait_until


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    """A socket where systemd would listen, with the unit's ``WatchdogSec=0.1``."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


def receive_until(sock, predicate) -> list[str]:
    """Messages up to and including the first one ``predicate`` accepts (10 s at most)."""
    seen = []
    while True:
        message = sock.recv(4096).decode()
        seen.append(message)
        if predicate(message):
            return seen


def test_ready_then_pings_then_silence_while_the_camera_cannot_recover(
        notify_socket, make_client, camera, rig):
    client = make_client(camera)
    first = notify_socket.recv(4096).decode()
    assert first.startswith("READY=1\nSTATUS=serving")
    receive_until(notify_socket, lambda m: m == "WATCHDOG=1")
    receive_until(notify_socket, lambda m: m == "WATCHDOG=1")  # regularly

    rig.faults.disconnected = True  # every reopen fails
    seen = receive_until(notify_socket, lambda m: m.startswith("STATUS=camera failed"))
    assert "times in a row" in seen[-1]
    service = client.app.state.service
    assert service.consecutive_failures >= MAX_FAILURES
    # No ping while it stays broken: systemd's WatchdogSec runs out and it restarts mrig.
    notify_socket.settimeout(0.5)
    with pytest.raises(TimeoutError):
        while True:
            assert notify_socket.recv(4096).decode() != "WATCHDOG=1"
    notify_socket.settimeout(10)

    rig.faults.disconnected = False  # recovered before systemd acted: pings resume
    seen = receive_until(notify_socket, lambda m: m == "WATCHDOG=1")
    assert "STATUS=camera recovered" in seen
    client.__exit__(None, None, None)
    receive_until(notify_socket, lambda m: m == "STOPPING=1")


def test_no_watchdog_task_without_watchdog_usec(monkeypatch, tmp_path, make_client, camera):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
        client = make_client(camera)
        assert sock.recv(4096).decode().startswith("READY=1")
        client.__exit__(None, None, None)
        assert sock.recv(4096).decode() == "STOPPING=1"  # and never a WATCHDOG=1 before it


def fake_service(**state):
    defaults = dict(consecutive_failures=0, loop_alive=True, stalled=False,
                    status={"reason": "camera disconnected (unplugged)"})
    return SimpleNamespace(**(defaults | state))


def test_watchdog_decisions():
    sent: list[str] = []
    service = fake_service()
    dog = Watchdog(service, 1.0, max_failures=3, notify=lambda m: sent.append(m) or True)
    assert dog.tick() and sent == ["WATCHDOG=1"]
    service.consecutive_failures = 2  # still recovering: keep pinging
    assert dog.tick()
    service.consecutive_failures = 3
    assert not dog.tick() and not dog.tick()
    assert sent[2] == ("STATUS=camera failed 3 times in a row (camera disconnected (unplugged)); "
                       "waiting for the watchdog to restart the service")
    assert len(sent) == 3  # one STATUS, then silence
    service.consecutive_failures = 0
    assert dog.tick() and sent[3:] == ["STATUS=camera recovered", "WATCHDOG=1"]
    for problem, text in (({"loop_alive": False}, "camera thread died"),
                          ({"stalled": True}, "camera thread stuck")):
        dog = Watchdog(fake_service(**problem), 1.0, notify=lambda m: sent.append(m) or True)
        assert not dog.tick()
        assert sent[-1].startswith(f"STATUS={text}")


class HangingCamera(Picamera2Camera):
    """A driver that hangs inside a call and ignores its timeout (what the watchdog is for)."""

    def __init__(self) -> None:
        super().__init__(rig=virtual_rig(seed=3))
        self.hang = threading.Event()
        self.release = threading.Event()
        self.inside = threading.Event()

    def next_frame(self, timeout_s: float = 2.0):
        if self.hang.is_set():
            self.inside.set()
            self.release.wait()
        return super().next_frame(timeout_s)

    def capture_still(self, timeout_s: float | None = None, **override):
        self.inside.set()
        self.release.wait()
        raise exc.CameraTimeout("still abandoned by the test")  # (spares a full-size render)


def test_a_hung_camera_thread_counts_as_stalled_but_a_long_exposure_does_not():
    camera = HangingCamera()
    with CameraService(camera, (320, 240), frame_timeout_s=0.5, backoff_s=(0.01, 0.05)) as s:
        wait_until(lambda: s.healthy and s.frames > 0, timeout_s=30)
        assert s.loop_alive and not s.stalled
        camera.hang.set()
        assert camera.inside.wait(10)
        s._beat -= 5.6  # the loop has now been stuck for longer than 0.5 + 0.05 + 5 s
        assert s.stalled
        camera.hang.clear()
        camera.release.set()
        wait_until(lambda: not s.stalled)

        camera.release.clear()
        camera.inside.clear()
        s.set_controls(Controls(ae_enable=False, exposure_time_us=300_000_000))
        taker = threading.Thread(target=lambda: pytest.raises(CameraUnavailable, s.capture_still))
        taker.start()
        assert camera.inside.wait(10)
        wait_until(lambda: s._still_deadline > 0)
        s._beat -= 100  # live view blocked behind a 300 s exposure for 100 s: not a hang
        assert not s.stalled
        camera.release.set()
        taker.join(10)
    assert not s.loop_alive


def test_live_view_waits_a_manual_exposure_out():
    """With a 300 s shutter, a frame may take 300 s: the frame timeout grows with it."""
    seen = []

    class Recording(Picamera2Camera):
        def next_frame(self, timeout_s: float = 2.0):
            seen.append(timeout_s)
            return super().next_frame(timeout_s)

    camera = Recording(rig=virtual_rig(seed=4))
    with CameraService(camera, (320, 240), frame_timeout_s=2.0) as s:
        wait_until(lambda: s.frames > 0, timeout_s=30)
        s.set_controls(Controls(ae_enable=False, exposure_time_us=300_000_000))
        count = len(seen)
        wait_until(lambda: len(seen) > count + 1)
        assert seen[0] == 2.0 and seen[-1] == pytest.approx(302.0)
        assert s.status["state"] == "running"


def test_ready_waits_for_the_camera(notify_socket, make_client, rig):
    """READY=1 only once the camera streams: systemd's "started" means a working camera."""
    from hal.select import make_camera

    rig.faults.busy_on_acquire = 10**6  # another program holds the camera for now
    client = make_client(make_camera("virtual", rig=rig), ready=False)
    notify_socket.settimeout(3.0)
    with pytest.raises(TimeoutError):
        notify_socket.recv(4096)
    assert client.app.state.service.status["state"] == "recovering"
    rig.faults.busy_on_acquire = 0
    notify_socket.settimeout(30)
    first = notify_socket.recv(4096).decode()
    assert first == "READY=1\nSTATUS=serving, camera running"
    assert client.app.state.service.frames > 0
