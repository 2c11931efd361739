"""EXIF for the developed JPEG: an APP1 segment with the shot's tags and a thumbnail.

:func:`exif_app1` returns the complete APP1 segment (marker, length, ``Exif\\0\\0`` and a
little-endian TIFF structure): IFD0 (camera, time, orientation) pointing to the Exif IFD
(exposure, lens; the same tags as the DNG, built by :mod:`firmware.capture.shot`), then IFD1,
a 160 × 120 JPEG thumbnail. An encoder writes it right after SOI (or after a JFIF APP0);
:func:`insert_app1` does that for a JPEG already encoded.

References
----------
CIPA DC-008-2019, "Exchangeable image file format for digital still cameras: Exif 2.32",
section 4.5 (APP1 structure, IFD1 thumbnail).
"""

from __future__ import annotations

import struct

import numpy as np
import simplejpeg

from firmware.capture.preview import fit_within
from firmware.capture.shot import ShotInfo, exif_ifd, ifd0_tags
from firmware.capture.tiff import (
    EXIF_IFD,
    JPEG_IF_LENGTH,
    JPEG_IF_OFFSET,
    RATIONAL,
    SHORT,
    Ifd,
    encode_tiff,
)

THUMBNAIL_SIZE = (160, 120)
#: An APP1 segment's length field counts itself: 65535 − 2 bytes of content at most.
MAX_APP1_PAYLOAD = 65533
_X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT, _COMPRESSION = 282, 283, 296, 259


def _thumbnail_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    small = fit_within(rgb, *THUMBNAIL_SIZE)
    return simplejpeg.encode_jpeg(small, quality=quality, colorspace="RGB", colorsubsampling="420")


def thumbnail_ifd(rgb: np.ndarray, quality: int) -> Ifd:
    """IFD1: a 160 × 120 JPEG thumbnail of ``rgb`` (uint8 RGB), as Exif 2.32 4.5.8 wants it."""
    ifd1 = Ifd(data=_thumbnail_jpeg(rgb, quality), data_tags=(JPEG_IF_OFFSET, JPEG_IF_LENGTH))
    ifd1.set(_COMPRESSION, SHORT, 6)
    ifd1.set(_X_RESOLUTION, RATIONAL, [(72, 1)])
    ifd1.set(_Y_RESOLUTION, RATIONAL, [(72, 1)])
    ifd1.set(_RESOLUTION_UNIT, SHORT, 2)
    return ifd1


def exif_payload(shot: ShotInfo, thumbnail_rgb: np.ndarray | None = None) -> bytes:
    """``Exif\\0\\0`` followed by the TIFF structure (the APP1 segment's content)."""
    qualities = (80, 60, 40) if thumbnail_rgb is not None else (None,)
    for quality in qualities:
        ifd0 = Ifd()
        ifd0_tags(ifd0, shot)
        ifd0.set(_X_RESOLUTION, RATIONAL, [(72, 1)])
        ifd0.set(_Y_RESOLUTION, RATIONAL, [(72, 1)])
        ifd0.set(_RESOLUTION_UNIT, SHORT, 2)
        ifd0.children[EXIF_IFD] = [exif_ifd(shot)]
        if quality is not None and thumbnail_rgb is not None:
            ifd0.next = thumbnail_ifd(thumbnail_rgb, quality)
        payload = b"Exif\0\0" + encode_tiff(ifd0)
        if len(payload) <= MAX_APP1_PAYLOAD:
            return payload
    raise ValueError("EXIF does not fit in one APP1 segment")  # pragma: no cover - tags are small


def exif_app1(shot: ShotInfo, thumbnail_rgb: np.ndarray | None = None) -> bytes:
    """The APP1 segment (``FF E1``, length, payload), ready to go after SOI."""
    payload = exif_payload(shot, thumbnail_rgb)
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def insert_app1(jpeg: bytes, app1: bytes) -> bytes:
    """``jpeg`` with ``app1`` inserted after SOI, or after the JFIF APP0 segment when the file
    starts with one (JFIF requires APP0 first). An existing EXIF APP1 is replaced."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    pos = 2
    if jpeg[pos : pos + 2] == b"\xff\xe0":
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
    rest = jpeg[pos:]
    if rest[:2] == b"\xff\xe1" and rest[4:10] == b"Exif\0\0":
        rest = rest[2 + struct.unpack(">H", rest[2:4])[0] :]
    return jpeg[:pos] + app1 + rest
