"""Shared fixtures. Every API test gets its client from ``make_client`` / ``client``, so app-wide
rules (login, CSRF, Host allow-list) are met in one place for the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from firmware.app import create_app
from firmware.config import Settings
from hal.clock import SimulatedClock
from hal.mock.camera import MockCamera

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")

#: Tests talk to the app as a phone on the camera's own address would.
BASE_URL = "http://127.0.0.1:8000"


#: Real pause per simulated sleep: frames flow at about their real rate without spinning a core,
#: and long exposures cost no wall time.
PACE_S = 0.02


@pytest.fixture
def mock_camera() -> MockCamera:
    """A mock HQ camera on simulated time."""
    return MockCamera(clock=SimulatedClock(pace_s=PACE_S), seed=1234)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings().with_overrides(
        storage={"data_dir": tmp_path / "data"},
        camera={"preview_width": 320, "preview_height": 240},
        gpio={"enabled": False},
    )


@pytest.fixture
def make_client(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """``make_client(camera=..., settings=..., **service_options)`` -> a started TestClient."""
    clients: list[TestClient] = []

    def make(camera=None, settings_: Settings | None = None, **service_options) -> TestClient:
        app = create_app(
            settings_ or settings,
            camera if camera is not None else MockCamera(clock=SimulatedClock(pace_s=PACE_S), seed=1),
            service_options={"backoff_s": (0.01, 0.05), **service_options},
        )
        client = TestClient(app, base_url=BASE_URL)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client, mock_camera) -> TestClient:
    """A running app on the mock camera."""
    return make_client(mock_camera)
