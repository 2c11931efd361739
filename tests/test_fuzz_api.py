"""Schemathesis against the app's own OpenAPI, logged in (issue 7: proof).

Every operation gets a bounded number of generated requests (``FUZZ_EXAMPLES``, derandomized so
CI is repeatable): no 5xx, and every response matches its schema. Invalid requests (schemathesis'
negative mode) must be refused with 4xx, and none of them may reach the camera: the virtual camera records
every control, lens and still request it gets.

Left out: the endless live streams (MJPEG, server-sent events), logout (it would end the test's
own session) and the positive cases of ``POST /api/capture`` (each is a full-size capture; the
capture tests cover them). Its invalid requests are fuzzed like all others. ``GET /api/live``
is fuzzed without ``after`` (a sequence far ahead is waited for 5 s, then 503, by design).
"""

from __future__ import annotations

import dataclasses
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import InvalidSchema
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from firmware.app import create_app
from firmware.config import Settings
from hal.picamera2_backend import Picamera2Camera
from hal.virtual import VirtualRig
from tests.conftest import virtual_rig

# The generated requests carry their own cookies and raw bodies, which Starlette's test client
# takes per request with a DeprecationWarning each: on purpose here, so not worth a warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Setting per-request cookies:DeprecationWarning",
    "ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning",
)

FUZZ_EXAMPLES = int(os.environ.get("MRIG_FUZZ_EXAMPLES", "8"))
SKIP_PATHS = ("/api/stream.mjpg", "/api/live/events", "/api/logout")
EXPENSIVE = {("POST", "/api/capture")}


def _schema():
    raw = create_app(Settings()).openapi()  # built, never started: no camera, no files
    return schemathesis.openapi.from_dict(raw)


schema = _schema()


class RecordingRig(VirtualRig):
    """The simulated rig, writing down every turn of a ring and change of light."""

    def __init__(self, reached: list) -> None:
        template = virtual_rig(seed=7)
        super().__init__(clock=template.clock, seed=7)
        self.reached = reached

    def set_lens(self, **rings):
        self.reached.append(("lens", rings))
        return super().set_lens(**rings)

    def set_light(self, **light):
        self.reached.append(("scene", light))
        return super().set_light(**light)

    set_scene = set_light


class RecordingCamera(Picamera2Camera):
    """The virtual HQ camera, writing down every request that would reach the sensor."""

    def __init__(self) -> None:
        self.reached: list[tuple[str, object]] = []
        super().__init__(rig=RecordingRig(self.reached))

    @property
    def lens(self):
        return self.rig.lens

    def set_controls(self, controls):
        self.reached.append(("controls", controls))
        return super().set_controls(controls)

    def capture_still(self, timeout_s=None, **override):
        self.reached.append(("still", timeout_s))
        return super().capture_still(timeout_s, **override)


@pytest.fixture
def fuzz_client(make_client):
    camera = RecordingCamera()
    client = make_client(camera)
    return client, camera


def _send(client, case):
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    kwargs.pop("base_url", None)
    method, url = kwargs.pop("method"), kwargs.pop("url")
    headers = {k: v for k, v in (kwargs.pop("headers", None) or {}).items()
               if k.lower() not in ("host", "x-csrf-token", "cookie", "origin")}
    allowed = {k: kwargs[k] for k in ("params", "json", "data", "content", "files", "cookies")
               if k in kwargs and kwargs[k] is not None}
    return client.request(method, url, headers=headers, **allowed)


def _limits_ok(controls) -> bool:
    from hal import imx477

    lo, hi = imx477.EXPOSURE_TIME_US_RANGE
    glo, ghi = imx477.ANALOGUE_GAIN_RANGE
    return lo <= controls.exposure_time_us <= hi and glo <= controls.analogue_gain <= ghi


@schema.include(path_regex=r"^/api/").exclude(path=list(SKIP_PATHS)).parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_fails(case, fuzz_client):
    client, camera = fuzz_client
    if (case.method.upper(), case.path) in EXPENSIVE and case.meta is not None \
            and case.meta.generation.mode == GenerationMode.POSITIVE:
        return
    if case.path == "/api/live" and case.query:
        case.query.pop("after", None)  # waits up to 5 s for that frame, then 503 by design
    # A capture an earlier example started (a 202 job, e.g. a 10 × 10 s interval) may still be
    # running: stop it and let its thread end, so that what reaches the camera now is this
    # request's doing.
    drive = client.app.state.capture.drive
    if drive.active is not None:
        drive.cancel(drive.active.id)
    drive.wait(timeout_s=60)
    before = len(camera.reached)
    response = _send(client, case)
    negative = case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE
    # Not `negative_data_rejection`: pydantic's lax mode takes 0/1 for booleans and "5" for 5,
    # which that check counts as accepting invalid data. What matters here is below: nothing
    # out of range ever reaches the camera.
    try:
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance,
                                                  content_type_conformance])
    except InvalidSchema:
        # schemathesis 4.32 rejects the tuple (``prefixItems``) in /api/magnify's response
        # model although it is valid OpenAPI 3.1; check everything but that schema there.
        assert case.path == "/api/magnify", case.path
        case.validate_response(response, checks=[not_a_server_error, content_type_conformance])
    if negative and 400 <= response.status_code < 500:
        assert camera.reached[before:] == [], (case.method, case.path, case.body)
    for kind, value in camera.reached[before:]:
        if kind == "controls":
            assert _limits_ok(value), value
        if kind == "lens":
            assert camera.lens.widest_f_number <= camera.lens.f_number <= 64, value
    assert client.get("/api/status").status_code == 200  # still logged in, still serving


def test_out_of_range_controls_are_422_and_never_reach_the_camera(fuzz_client):
    client, camera = fuzz_client
    before = len(camera.reached)
    for body in ({"exposure_time_us": 0}, {"exposure_time_us": 10**12}, {"analogue_gain": 0.1},
                 {"analogue_gain": 1e9}, {"ev": 99}, {"colour_gains": [0, 1]},
                 {"colour_gains": [1, 2, 3]}, {"metering": "everything"}, {"bogus": 1},
                 {"exposure_time_us": "1/125"}, {"exposure_time_us": float("nan")}):
        try:
            r = client.patch("/api/controls", json=body)
        except ValueError:  # NaN is not JSON: httpx refuses to send it at all
            continue
        assert r.status_code == 422, body
    assert camera.reached[before:] == []
    assert dataclasses.asdict(camera.controls) == dataclasses.asdict(
        client.app.state.service.controls.replace())
