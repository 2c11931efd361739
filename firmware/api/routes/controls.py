"""Exposure and colour controls."""

from __future__ import annotations

from fastapi import APIRouter

from firmware.api.deps import ServiceDep
from firmware.api.models import ControlsPatch, ControlsState

router = APIRouter(tags=["controls"])


def _state(service) -> ControlsState:
    latest = service.broadcast.latest
    return ControlsState.of(service.controls, latest.frame.metadata if latest else None)


@router.get("/controls")
def get_controls(service: ServiceDep) -> ControlsState:
    return _state(service)


@router.patch("/controls")
def patch_controls(patch: ControlsPatch, service: ServiceDep) -> ControlsState:
    """Change some controls; they apply from the next frame or two."""
    service.require_healthy()
    service.set_controls(patch.apply_to(service.controls))
    return _state(service)
