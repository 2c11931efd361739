"""Shared fixtures. Every API test gets its client from ``make_client`` / ``client``, so app-wide
rules (login, CSRF, Host allow-list) are met in one place for the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from firmware.app import create_app
from firmware.auth.passwords import PasswordStore, ScryptCost
from firmware.config import Settings
from hal.camera import Camera
from hal.clock import SimulatedClock
from hal.select import make_camera
from hal.virtual import VirtualRig
from tests.waiting import wait_until

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")

#: Tests talk to the app as a phone on the camera's own address would.
BASE_URL = "http://127.0.0.1:8000"
#: The password ``make_client`` sets in each test's data folder and logs in with.
TEST_PASSWORD = "test password 1234"  # noqa: S105 - a fixture's password, not a secret
#: Cheap scrypt for tests (verification uses the cost stored with the hash).
TEST_COST = ScryptCost(n=2**10, r=8, p=1)


#: Real pause per simulated sleep: frames flow at about their real rate without spinning a core,
#: and long exposures cost no wall time.
PACE_S = 0.02


def virtual_rig(seed: int = 1234, **options) -> VirtualRig:
    """A simulated rig on simulated time: the lens, light and faults behind a virtual camera."""
    return VirtualRig(seed=seed, clock=SimulatedClock(pace_s=PACE_S), **options)


@pytest.fixture
def rig() -> VirtualRig:
    return virtual_rig()


@pytest.fixture
def camera(rig) -> Camera:
    """The HQ camera as the app gets it: picamera2 over the virtual libcamera, on ``rig``."""
    return make_camera("virtual", rig=rig)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings().with_overrides(
        storage={"data_dir": tmp_path / "data"},
        camera={"preview_width": 320, "preview_height": 240},
        gpio={"enabled": False},
    )


@pytest.fixture
def make_client(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """``make_client(camera=..., settings=..., **service_options)`` -> a started TestClient,
    logged in (session cookie set) and sending the session's ``X-CSRF-Token`` by default.

    ``login=False`` gives an anonymous client (with no password set when ``password=False``)."""
    clients: list[TestClient] = []

    def make(camera=None, settings_: Settings | None = None, *, login: bool = True,
             password: bool = True, ready: bool = True, **service_options) -> TestClient:
        used = settings_ or settings
        if password:
            store = PasswordStore(Path(used.storage.data_dir) / "auth", cost=TEST_COST)
            if not store.verify(TEST_PASSWORD):
                store.set(TEST_PASSWORD)
        if camera is None:
            camera = make_camera("virtual", rig=virtual_rig(seed=1))
        app = create_app(
            used, camera, service_options={"backoff_s": (0.01, 0.05), **service_options},
        )
        client = TestClient(app, base_url=BASE_URL)
        _websockets_to_base_url(client)
        client.__enter__()
        clients.append(client)
        if login and password:
            answer = client.post("/api/login", json={"password": TEST_PASSWORD})
            assert answer.status_code == 200, answer.text
            client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        if ready:  # the camera streams before the test acts, as the phone shows the live view first
            service = client.app.state.service
            wait_until(lambda: service.healthy and service.frames > 0, timeout_s=60)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client, camera) -> TestClient:
    """A running app on the virtual camera (``rig`` is its simulated rig)."""
    return make_client(camera)


@pytest.fixture
def anon_client(make_client, camera) -> TestClient:
    """A running app with a password set, and a client that has not logged in."""
    return make_client(camera, login=False)


def _websockets_to_base_url(client: TestClient) -> None:
    """Starlette's ``websocket_connect("/path")`` talks to host ``testserver``, which the Host
    allow-list refuses (and the session cookie is not sent there); aim it at ``BASE_URL``."""
    plain = client.websocket_connect
    ws_base = "ws" + BASE_URL.removeprefix("http")

    def websocket_connect(url: str, *args, **kwargs):
        return plain(ws_base + url if url.startswith("/") else url, *args, **kwargs)

    client.websocket_connect = websocket_connect  # type: ignore[method-assign]
