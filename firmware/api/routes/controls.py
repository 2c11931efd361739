"""Exposure and colour controls."""

from __future__ import annotations

from fastapi import APIRouter

from firmware.api.deps import ServiceDep
from firmware.api.models import ControlsPatch, ControlsState

router = APIRouter(tags=["controls"])


def _state(service) -> ControlsState:
    latest = service.broadcast.latest
    return ControlsState.of(service.controls, latest.frame.metadata if latest else None,
                            service.holds)


@router.get("/controls")
def get_controls(service: ServiceDep) -> ControlsState:
    return _state(service)


@router.patch("/controls")
def patch_controls(patch: ControlsPatch, service: ServiceDep) -> ControlsState:
    """Change some controls; they apply from the next frame or two."""
    service.require_healthy()
    with service.controls_lock:
        # Setting by hand what a lock holds ends the lock (CameraService.set_controls); a lock
        # asked for here applies to what the camera then chooses itself.
        controls = service.set_controls(patch.apply_to(service.controls))
        if patch.ae_lock is not None:
            service.set_hold("ae_lock", exposure=patch.ae_lock and controls.ae_enable)
        if patch.awb_lock is not None:
            service.set_hold("awb_lock", white_balance=patch.awb_lock and controls.awb_enable)
    return _state(service)
