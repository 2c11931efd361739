"""Service health, and the sensor's static description."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request

from firmware.api.deps import ServiceDep
from firmware.api.routes.mock import simulator
from hal.camera import preview_mode
from hal.health import Health

router = APIRouter(tags=["camera"])


@router.get("/status")
def get_status(service: ServiceDep, request: Request) -> dict:
    """Always 200: ``state`` is ``running`` or ``recovering`` (with ``reason``), and ``rig``:
    the Pi's power and heat (under-voltage, throttling, CPU temperature, battery) with its
    ``warnings`` in words (:mod:`hal.health`)."""
    return {**service.status, "rig": rig_health(request, service).as_dict()}


def rig_health(request: Request, service) -> Health:
    """The simulated rig's on the virtual camera, else the Pi's own (sysfs)."""
    rig = simulator(service.camera)
    if rig is not None:
        return rig.power.read()
    return request.app.state.health.read()


@router.get("/camera")
def get_camera(service: ServiceDep) -> dict:
    """Sensor model, size, modes (with Bayer order and bit depth) and the backend."""
    camera = service.camera
    s = camera.sensor
    return {
        "model": s.model,
        "pixel_size_um": s.pixel_size_um,
        "active_array": s.active_array,
        "sensor_size_mm": [round(v, 3) for v in s.sensor_size_mm],
        "exposure_time_us_range": s.exposure_time_us_range,
        "analogue_gain_range": s.analogue_gain_range,
        "modes": [
            dataclasses.asdict(m) | {"name": m.name, "black_level": s.black_level(m.bit_depth),
                                     "white_level": m.white_level}
            for m in s.modes
        ],
        "preview_mode": preview_mode(s).name,
        **camera.describe(),
    }
