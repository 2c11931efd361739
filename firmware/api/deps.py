"""Named dependencies for the routers; tests override them through ``app.dependency_overrides``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from firmware.config import Settings

if TYPE_CHECKING:
    from firmware.api.routes.stream import StreamSlots
from firmware.service import CameraService


def get_service(request: Request) -> CameraService:
    return request.app.state.service


def get_stream_slots(request: Request):
    return request.app.state.stream_slots


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


ServiceDep = Annotated[CameraService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StreamSlotsDep = Annotated["StreamSlots", Depends(get_stream_slots)]
