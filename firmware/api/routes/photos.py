"""The gallery: list, download, thumbnail and delete photos.

Names are checked by :func:`firmware.storage.validate_name` before any file is touched:
paths, encodings, backslashes and NUL are 400; missing files and symlinks leading out of the
photo folder are 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from firmware.api.deps import CaptureDep

router = APIRouter(tags=["photos"])
MEDIA_TYPES = {"dng": "image/x-adobe-dng", "jpg": "image/jpeg"}


@router.get("/photos")
def list_photos(
    capture: CaptureDep,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=500),
) -> dict:
    """Captures newest first: name, time, size, formats, files, lens, exposure; with the
    free space (``free_bytes``, ``reserve_bytes``) and about how many ``shots_left``."""
    page = capture.store.list(offset=offset, limit=limit)
    return {
        "items": [entry.as_dict() for entry in page.items],
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        **capture.store.usage(),
    }


@router.get("/photos/{name}/thumbnail")
def get_thumbnail(name: str, capture: CaptureDep) -> FileResponse:
    """A JPEG at most 320 pixels a side, made once and cached."""
    path = capture.store.thumbnail(name)
    return FileResponse(path, media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=86400"})


@router.get("/photos/{name}")
def get_photo(name: str, capture: CaptureDep) -> FileResponse:
    """Download a photo file (``MRIG_…_NNNN.dng`` or ``.jpg``)."""
    path = capture.store.resolve(name)
    return FileResponse(path, media_type=MEDIA_TYPES[name.rsplit(".", 1)[1]], filename=name)


@router.delete("/photos/{name}")
def delete_photo(name: str, capture: CaptureDep) -> dict:
    """Delete one file, or with the bare name (no extension) the whole capture."""
    return {"deleted": capture.store.delete(name)}
