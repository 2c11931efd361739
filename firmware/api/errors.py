"""HTTP status codes for the app's errors, mapped in one place."""

from __future__ import annotations

import math
import typing

import annotated_types
from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from firmware.auth import exc as auth_exc
from firmware.exc import (
    ApertureOutOfRange,
    BufferFull,
    CameraUnavailable,
    CardTimeout,
    DarkFrameUnusable,
    DriveBusy,
    InvalidPhotoName,
    LensIsPreset,
    MrigError,
    NotFound,
    ShuttingDown,
    StorageFull,
)
from hal.exc import CameraError

#: Most specific first; the first match decides the status.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int, str], ...] = (
    (auth_exc.NotAuthenticated, 401, "not logged in"),
    (auth_exc.WrongPassword, 403, "refused"),
    (auth_exc.SetupRejected, 403, "setup refused"),
    (auth_exc.CsrfRejected, 403, "refused"),
    (auth_exc.PasswordNotSet, 409, "not set up"),
    (auth_exc.PasswordAlreadySet, 409, "already set up"),
    (auth_exc.SetupBusy, 409, "busy"),
    (auth_exc.TooManyAttempts, 429, "slow down"),
    (BufferFull, 503, "buffer full"),
    (ShuttingDown, 503, "shutting down"),
    (CardTimeout, 503, "card not responding"),
    (CameraUnavailable, 503, "camera recovering"),
    (CameraError, 503, "camera recovering"),
    (StorageFull, 507, "storage full"),
    (NotFound, 404, "not found"),
    (InvalidPhotoName, 400, "bad photo name"),
    (LensIsPreset, 409, "preset"),
    (DriveBusy, 409, "busy"),
    (ApertureOutOfRange, 422, "aperture out of range"),
    (DarkFrameUnusable, 422, "dark frame"),
    (MrigError, 400, "bad request"),
)


def field_error(field: str, message: str, value: object = None) -> JSONResponse:
    """A 422 shaped like FastAPI's own validation errors, for checks pydantic cannot express."""
    return JSONResponse(
        status_code=422,
        content={"detail": [{"loc": ["body", field], "msg": message, "type": "value_error",
                             "input": value}]},
    )


def field_range(model: type[BaseModel], field: str) -> tuple[object, object] | None:
    """The ``(min, max)`` a model allows for ``field``, from its ``Field(ge=…, le=…)``."""
    info = model.model_fields.get(field)
    if info is None:
        return None
    metadata = list(info.metadata) + _nested_metadata(info.annotation)
    lo = hi = None
    for m in metadata:
        if isinstance(m, annotated_types.Ge | annotated_types.Gt):
            lo = getattr(m, "ge", getattr(m, "gt", None))
        if isinstance(m, annotated_types.Le | annotated_types.Lt):
            hi = getattr(m, "le", getattr(m, "lt", None))
    return (lo, hi) if lo is not None or hi is not None else None


def _nested_metadata(annotation: object) -> list:
    """Constraints inside e.g. ``tuple[Annotated[float, Field(ge=…)], …] | None``."""
    found: list = []
    for arg in typing.get_args(annotation):
        found += getattr(arg, "metadata", []) + _nested_metadata(arg)
    return found


def _body_models(request: Request) -> dict[str | None, type[BaseModel]]:
    """The route's body model (key ``None``), or for a tagged union (the drive modes) each
    member model by its tag, as pydantic puts it in an error's ``loc``."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    body = getattr(getattr(field, "field_info", None), "annotation", None)
    if isinstance(body, type) and issubclass(body, BaseModel):
        return {None: body}
    return dict(_tagged_models(body))


def _tagged_models(annotation: object) -> list[tuple[str, type[BaseModel]]]:
    found: list[tuple[str, type[BaseModel]]] = []
    for arg in typing.get_args(annotation):
        model = typing.get_args(arg)[0] if typing.get_origin(arg) is typing.Annotated else arg
        tags = [m.tag for m in getattr(arg, "__metadata__", ()) if hasattr(m, "tag")]
        if tags and isinstance(model, type) and issubclass(model, BaseModel):
            found.append((tags[0], model))
        else:
            found += _tagged_models(arg)
    return found


def _field_bounds(models: dict[str | None, type[BaseModel]], loc: tuple) -> tuple | None:
    """``(field, (min, max))`` for an error at ``loc`` in the body, if the field has a range."""
    if len(loc) < 2 or loc[0] != "body":
        return None
    if None in models:
        model, field = models[None], str(loc[1])
    elif len(loc) >= 3 and loc[1] in models:
        model, field = models[loc[1]], str(loc[2])
    else:
        return None
    bounds = field_range(model, field)
    return (field, bounds) if bounds else None


#: Fields whose values a 422 never echoes.
SECRET_FIELDS = ("password", "password2", "current_password", "new_password", "setup_code",
                 "button_claim", "claim")
#: The longest rendering of a rejected value a 422 echoes.
ECHO_CHARS = 64


def safe_input(loc: tuple, value: object) -> object:
    """What a 422 may echo of a rejected value: nothing of a secret, a number as it is (NaN
    and infinities as words: JSON has no such numbers), other values as at most
    :data:`ECHO_CHARS` characters of text (a 16 MiB body is not sent back)."""
    if any(str(part) in SECRET_FIELDS for part in loc):
        return "(not shown)"
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else type(value).__name__
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…"


def _safe_context(loc: tuple, value: object) -> object:
    """A 422's ``ctx`` value: a length or bound from the schema (a finite number) as it is,
    even for a secret field ("at least 8 characters" tells nothing of the password); text
    and anything else as :func:`safe_input` renders it."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return safe_input(loc, value if isinstance(value, int | float | str) else str(value))


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with every out-of-range message stating the whole allowed range, and
    the rejected input echoed only safely (:func:`safe_input`)."""
    models = _body_models(request)
    details = []
    for item in error.errors():
        item = dict(item)
        loc = tuple(item.get("loc", ()))
        if "input" in item:
            item["input"] = safe_input(loc, item["input"])
        if isinstance(item.get("ctx"), dict):
            item["ctx"] = {k: _safe_context(loc, v) for k, v in item["ctx"].items()}
        found = _field_bounds(models, tuple(item.get("loc", ())))
        if found and item.get("type", "").startswith(("greater", "less")):
            field, (lo, hi) = found
            item["msg"] = f"{field} must be between {lo} and {hi}; got {item.get('input')}"
            item["allowed"] = {"min": lo, "max": hi}
        details.append(item)
    return await request_validation_exception_handler(request, RequestValidationError(details))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)

    async def handle(request: Request, error: Exception) -> JSONResponse:
        for kind, status, summary in STATUS_BY_ERROR:
            if isinstance(error, kind):
                headers = {"Retry-After": "2"} if status == 503 else None
                headers = getattr(error, "headers", None) or headers
                message = str(error)
                detail = message if message.startswith(summary) else f"{summary}: {message}"
                return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)
        raise error

    for kind, _, _ in STATUS_BY_ERROR:
        app.add_exception_handler(kind, handle)
