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
from collections.abc import Sequence

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


#: Rows of one 4:4:4 MCU (8×8 pixels per block, no chroma subsampling).
MCU_ROWS = 8


def _scan_start(jpeg: bytes) -> tuple[int, int]:
    """(offset of the SOS marker, offset of the first entropy-coded byte) of a baseline JPEG."""
    i = 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        (length,) = struct.unpack(">H", jpeg[i + 2 : i + 4])
        if jpeg[i + 1] == 0xDA:
            return i, i + 2 + length
        i += 2 + length
    raise ValueError("no start-of-scan segment in JPEG stream")


def band_encodable(width: int, band_rows: int) -> bool:
    """Whether bands of ``band_rows`` rows of an image ``width`` pixels wide can be encoded on
    their own and joined by :func:`join_bands` (whole MCU rows, restart interval < 65536)."""
    return band_rows % MCU_ROWS == 0 and -(-width // 8) * (band_rows // MCU_ROWS) < 1 << 16


def encode_band(rgb: np.ndarray, quality: int = 92) -> bytes:
    """One band of rows encoded like :func:`encode_jpeg` (4:4:4, standard Huffman tables) for
    :func:`join_bands`. libjpeg-turbo runs without the GIL, so bands encode alongside other work."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, got {quality}")
    return simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=quality, colorspace="RGB",
                                  colorsubsampling="444")


def join_bands(bands: Sequence[bytes | memoryview], height: int, band_rows: int, exif: bytes | None = None) -> bytes:
    """One baseline JPEG of ``height`` rows from the JPEGs of its bands (top to bottom, each
    ``band_rows`` rows but the last, from :func:`encode_band`).

    A band's entropy-coded data starts with fresh DC predictions and ends padded to a byte,
    which is exactly what a restart marker does in one stream (ITU-T T.81, B.2.4.4 and F.1.2.3):
    the bands' scans are joined with RSTm markers under a DRI of one band's MCU count, and the
    image decodes to the same pixels as encoding it whole.

    References
    ----------
    ITU-T T.81 | ISO/IEC 10918-1, "Digital compression and coding of continuous-tone still
    images": DRI (B.2.4.4), restart markers RST0-RST7 (B.1.1.3, F.1.2.3).
    """
    if not bands:
        raise ValueError("no bands to join")
    sos, data = _scan_start(bands[0])
    header = bytearray(bands[0][:sos])
    sof = header.find(b"\xff\xc0")
    if sof < 0:
        raise ValueError("band is not a baseline JPEG (no SOF0 segment)")
    width = struct.unpack(">H", header[sof + 7 : sof + 9])[0]
    if not band_encodable(width, band_rows):
        raise ValueError(f"bands of {band_rows} rows of a {width}-pixel-wide image cannot be joined")
    header[sof + 5 : sof + 7] = struct.pack(">H", height)
    interval = -(-width // 8) * (band_rows // MCU_ROWS)
    # Exif goes into the (small) header; the scans are referenced, not copied, until the one join.
    head = insert_app1(bytes(header), exif) if exif else bytes(header)
    parts = [head, b"\xff\xdd\x00\x04" + struct.pack(">H", interval), bands[0][sos:data]]
    for n, band in enumerate(bands):
        b_sos, b_data = _scan_start(band)
        same = (
            b_sos == sos and band[:sof + 5] == bands[0][:sof + 5]  # tables, quality, SOF up to height
            and band[sof + 7 : b_data] == bands[0][sof + 7 : data]  # width on, scan header
            and band[-2:] == b"\xff\xd9"
        )
        if not same:
            raise ValueError(f"band {n} was not encoded like the first one")
        if n:
            parts.append(bytes((0xFF, 0xD0 + (n - 1) % 8)))
        parts.append(memoryview(band)[b_data:-2])
    parts.append(b"\xff\xd9")
    return b"".join(parts)


def rational(x: float, max_denominator: int = 1_000_000) -> tuple[int, int]:
    """The fraction nearest to ``x`` >= 0 with a denominator up to ``max_denominator``, as
    (numerator, denominator): the best rational approximation, from the continued fraction of
    ``x`` (its last convergent or semiconvergent within the bound). Written out rather than
    taken from :mod:`fractions`, whose import (with :mod:`decimal`) costs ``mrig develop`` some
    7 ms of start-up.

    >>> rational(1 / 125), rational(2.8), rational(0.0)
    ((1, 125), (14, 5), (0, 1))
    """
    if not x >= 0 or max_denominator < 1:
        raise ValueError(f"cannot write {x} as a fraction with a denominator up to {max_denominator}")
    n, d = x.as_integer_ratio()
    p0, q0, p1, q1 = 0, 1, 1, 0  # the convergents before and at the current term
    while d:
        a = n // d
        if q0 + a * q1 > max_denominator:
            break
        p0, q0, p1, q1 = p1, q1, p0 + a * p1, q0 + a * q1
        n, d = d, n - a * d
    if not d:
        return p1, q1  # exact within the bound
    k = (max_denominator - q0) // q1  # the largest semiconvergent still within the bound
    ps, qs = p0 + k * p1, q0 + k * q1
    # The nearer of the two to x, compared exactly: |ps/qs - x| vs |p1/q1 - x|, x = num/den.
    num, den = x.as_integer_ratio()
    if abs(p1 * den - num * q1) * qs <= abs(ps * den - num * qs) * q1:
        return p1, q1
    return ps, qs


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
        sub.append((33434, 5, rational(exposure_time_s)))
    if f_number:
        sub.append((33437, 5, rational(f_number)))
    if iso:
        sub.append((34855, 3, int(iso)))
    if datetime_original:
        sub.append((36867, 2, datetime_original))
    if focal_length_mm:
        sub.append((37386, 5, rational(focal_length_mm)))

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
