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
    controls = service.set_controls(patch.apply_to(service.controls))
    # A lock lasts until unlocked, or until that setting is taken by hand (then it is moot).
    ae_lock = patch.ae_lock if patch.ae_lock is not None else "ae_lock" in service.holds
    awb_lock = patch.awb_lock if patch.awb_lock is not None else "awb_lock" in service.holds
    if (ae_lock and controls.ae_enable) != ("ae_lock" in service.holds):
        service.set_hold("ae_lock", exposure=ae_lock and controls.ae_enable)
    if (awb_lock and controls.awb_enable) != ("awb_lock" in service.holds):
        service.set_hold("awb_lock", white_balance=awb_lock and controls.awb_enable)
    return _state(service)
