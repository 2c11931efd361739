"""The manual lens registry: ``/api/lenses`` (list, add, change, delete) and ``/api/lens``
(the mounted lens and the f-number its ring is set to, with the derived optics)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from firmware.api.deps import CaptureDep
from firmware.lenses import CurrentLens, Lens, LensSetting, LensSpec

router = APIRouter(tags=["lenses"])


@router.get("/lenses")
def list_lenses(capture: CaptureDep) -> list[Lens]:
    """Built-in presets (``preset: true``, read-only) and the user's lenses."""
    return capture.lenses.list()


@router.post("/lenses", status_code=201)
def add_lens(spec: LensSpec, capture: CaptureDep) -> Lens:
    """Add a lens: name, make, focal_length_mm, max_f_number, optional min_f_number and
    6-bit code. Answers with the lens and its ``id``."""
    return capture.lenses.add(spec)


@router.put("/lenses/{lens_id}")
def update_lens(lens_id: str, spec: LensSpec, capture: CaptureDep) -> Lens:
    return capture.lenses.update(lens_id, spec)


@router.delete("/lenses/{lens_id}", status_code=204)
def delete_lens(lens_id: str, capture: CaptureDep) -> Response:
    capture.lenses.delete(lens_id)
    return Response(status_code=204)


@router.get("/lens")
def get_lens(capture: CaptureDep) -> CurrentLens:
    """The mounted lens, its ring f-number, and optics (35 mm and 1-inch equivalents, field of
    view, hyperfocal distance)."""
    return capture.lenses.current()


@router.put("/lens")
def put_lens(setting: LensSetting, capture: CaptureDep) -> CurrentLens:
    """Mount a lens: ``{"id": …, "f_number": 2.8}`` (``id: null`` for none)."""
    return capture.lenses.set_current(setting)
