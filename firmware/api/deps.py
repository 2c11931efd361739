"""Named dependencies for the routers; tests override them through ``app.dependency_overrides``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from firmware.auth.middleware import SCOPE_KEY
from firmware.auth.passwords import HASHES_AT_ONCE
from firmware.auth.security import Security
from firmware.auth.sessions import Session
from firmware.capture.service import CaptureService
from firmware.config import Settings

if TYPE_CHECKING:
    from firmware.api.routes.stream import StreamSlots
from firmware.service import CameraService


def get_service(request: Request) -> CameraService:
    return request.app.state.service


def get_stream_slots(request: Request):
    return request.app.state.stream_slots


def get_capture(request: Request) -> CaptureService:
    return request.app.state.capture


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_security(conn: HTTPConnection) -> Security:
    return conn.app.state.security


def get_session(conn: HTTPConnection) -> Session:
    """The session :class:`~firmware.auth.middleware.SecurityMiddleware` found; 401 without one.

    Also the ``/api`` router's own dependency, so the API stays closed even if the middleware
    were ever left out."""
    session = conn.scope.get(SCOPE_KEY)
    if session is None:
        raise HTTPException(401, "not logged in")
    return session


async def password_hash_turn(request: Request) -> AsyncIterator[None]:
    """The routes that hash a password (login, setup, password change) wait their turn here,
    in the event loop, before FastAPI gives them a worker thread: at most
    :data:`~firmware.auth.passwords.HASHES_AT_ONCE` of them hold a thread at a time, so forty
    guesses at once queue as coroutines instead of taking the thread pool the other routes
    (the owner's) run in. A semaphore per event loop (a test client starts a loop of its own)."""
    loop = asyncio.get_running_loop()
    held = getattr(request.app.state, "hash_turn", None)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Semaphore(HASHES_AT_ONCE))
        request.app.state.hash_turn = held
    async with held[1]:
        yield


ServiceDep = Annotated[CameraService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CaptureDep = Annotated[CaptureService, Depends(get_capture)]
StreamSlotsDep = Annotated["StreamSlots", Depends(get_stream_slots)]
SecurityDep = Annotated[Security, Depends(get_security)]
SessionDep = Annotated[Session, Depends(get_session)]
