"""JPEG writing: libjpeg-turbo through simplejpeg, with an Exif (APP1) hook.

Examples
--------
>>> import numpy as np
>>> jpg = encode_jpeg(np.zeros((8, 8, 3), np.uint8), exif=build_exif(make="Raspberry Pi"))
>>> jpg[:2] == b"\\xff\\xd8" and jpg[6:12] == b"Exif\\0\\0"
True
"""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np
import simplejpeg

EXIF_HEADER = b"Exif\0\0"


def insert_app1(jpeg: bytes, exif: bytes) -> bytes:
    """Put ``exif`` (TIFF bytes, with or without the ``Exif\\0\\0`` header) in an APP1 segment
    right after SOI, dropping a JFIF APP0 segment as the Exif standard asks."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream (no SOI marker)")
    payload = exif if exif.startswith(EXIF_HEADER) else EXIF_HEADER + exif
    if len(payload) + 2 > 0xFFFF:
        raise ValueError(f"Exif data too large for one APP1 segment ({len(payload)} bytes)")
    rest = jpeg[2:]
    if rest[:2] == b"\xff\xe0":
        (length,) = struct.unpack(">H", rest[2:4])
        rest = rest[2 + length :]
    return b"\xff\xd8\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + rest


def encode_jpeg(rgb: np.ndarray, quality: int = 92, exif: bytes | None = None) -> bytes:
    """Encode uint8 (H, W, 3) RGB as a baseline JPEG; ``exif`` goes into APP1 when given."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, got {quality}")
    data = simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=quality, colorspace="RGB")
    return insert_app1(data, exif) if exif else data


def _rational(x: float) -> tuple[int, int]:
    f = Fraction(x).limit_denominator(1_000_000)
    return f.numerator, f.denominator


def build_exif(
    *,
    make: str | None = None,
    model: str | None = None,
    software: str | None = "mrig",
    datetime_original: str | None = None,
    exposure_time_s: float | None = None,
    iso: int | None = None,
    f_number: float | None = None,
    focal_length_mm: float | None = None,
) -> bytes:
    """A small little-endian Exif block (``Exif\\0\\0`` + TIFF) with IFD0 and an Exif IFD.

    ``datetime_original`` is ``"YYYY:MM:DD HH:MM:SS"`` as Exif wants it.
    """
    ifd0: list[tuple[int, int, object]] = []
    for tag, value in ((271, make), (272, model), (305, software)):
        if value:
            ifd0.append((tag, 2, value))
    sub: list[tuple[int, int, object]] = []
    if exposure_time_s:
        sub.append((33434, 5, _rational(exposure_time_s)))
    if f_number:
        sub.append((33437, 5, _rational(f_number)))
    if iso:
        sub.append((34855, 3, int(iso)))
    if datetime_original:
        sub.append((36867, 2, datetime_original))
    if focal_length_mm:
        sub.append((37386, 5, _rational(focal_length_mm)))

    def encode(entries: list[tuple[int, int, object]], start: int, next_ifd: int = 0) -> bytes:
        entries = sorted(entries, key=lambda e: e[0])
        head = struct.pack("<H", len(entries))
        data = b""
        data_at = start + 2 + 12 * len(entries) + 4
        for tag, typ, value in entries:
            if typ == 2:
                raw = str(value).encode("ascii", "replace") + b"\0"
                count = len(raw)
            elif typ == 5:
                raw, count = struct.pack("<II", *value), 1  # type: ignore[misc]
            elif typ == 3:
                raw, count = struct.pack("<H", value), 1
            else:  # LONG
                raw, count = struct.pack("<I", value), 1
            if len(raw) <= 4:
                head += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\0")
            else:
                head += struct.pack("<HHII", tag, typ, count, data_at + len(data))
                data += raw + b"\0" * (len(raw) % 2)
        return head + struct.pack("<I", next_ifd) + data

    if sub:
        ifd0.append((34665, 4, 0))  # patched below once the IFD0 size is known
    first = encode(ifd0, 8)
    if sub:
        ifd0[-1] = (34665, 4, 8 + len(first))
        first = encode(ifd0, 8)
        return EXIF_HEADER + b"II*\0" + struct.pack("<I", 8) + first + encode(sub, 8 + len(first))
    return EXIF_HEADER + b"II*\0" + struct.pack("<I", 8) + first
