"""A small little-endian TIFF writer: the container of our DNG files and of the JPEG's EXIF.

An :class:`Ifd` is a set of tags, optionally one block of image data (its strip), child IFDs
reached through pointer tags (``SubIFDs``, ``ExifIFD``) and a following IFD in the chain
(IFD1, the EXIF thumbnail). :func:`encode_tiff` lays everything out in one pass: header,
the IFDs each followed by their out-of-line values, then the image data, with every offset
counted from the TIFF header (as both DNG and EXIF's APP1 want).

:func:`read_first_rgb` reads back the uncompressed 8-bit RGB image of IFD0, which is how our
DNGs carry their preview (the gallery's thumbnail source when there is no JPEG).

References
----------
Adobe, "TIFF Revision 6.0", 1992, section 2 (file structure) and section 8 (field types).
"""

from __future__ import annotations

import dataclasses
import struct
import unicodedata
from collections.abc import Sequence

import numpy as np

from isp.jpeg import rational

BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT, SLONG, SRATIONAL = range(1, 11)
DOUBLE = 12
IFD_TYPE = 13
_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SBYTE: 1, UNDEFINED: 1,
          SSHORT: 2, SLONG: 4, SRATIONAL: 8, DOUBLE: 8, IFD_TYPE: 4}
_FORMATS = {SHORT: "H", LONG: "I", SSHORT: "h", SLONG: "i", DOUBLE: "d", IFD_TYPE: "I"}

# Tags used by more than one module.
STRIP_OFFSETS = 273
STRIP_BYTE_COUNTS = 279
SUB_IFDS = 330
JPEG_IF_OFFSET = 513
JPEG_IF_LENGTH = 514
EXIF_IFD = 34665


def matrix_srationals(m: np.ndarray, denominator: int = 10_000) -> list[tuple[int, int]]:
    """A matrix as row-major SRATIONALs with a fixed denominator (DNG's usual 1/10000)."""
    return [(round(float(v) * denominator), denominator) for v in np.asarray(m).ravel()]


@dataclasses.dataclass
class Ifd:
    """One image file directory. ``data`` is the image's bytes, pointed at by ``data_tags``
    (offset tag, length tag): ``(273, 279)`` for a strip, ``(513, 514)`` for a JPEG thumbnail."""

    entries: dict[int, tuple[int, object]] = dataclasses.field(default_factory=dict)
    children: dict[int, list[Ifd]] = dataclasses.field(default_factory=dict)
    data: bytes | memoryview | None = None
    data_tags: tuple[int, int] = (STRIP_OFFSETS, STRIP_BYTE_COUNTS)
    next: Ifd | None = None

    def set(self, tag: int, kind: int, values: object) -> None:
        """Set a tag: ``values`` is a str (ASCII), bytes (BYTE/UNDEFINED), a number, a list of
        numbers, or for (S)RATIONAL a list of (num, den) pairs or of floats."""
        self.entries[tag] = (kind, values)


def _encode_values(kind: int, values: object) -> tuple[bytes, int]:
    if kind == ASCII:
        # TIFF ASCII is 7-bit: "Voigtländer" is written "Voigtlander".
        text = unicodedata.normalize("NFKD", str(values))
        raw = text.encode("ascii", "ignore") + b"\0"
        return raw, len(raw)
    if kind in (BYTE, UNDEFINED, SBYTE):
        raw = bytes(values) if not isinstance(values, int) else bytes([values])  # type: ignore[arg-type]
        return raw, len(raw)
    seq = list(values) if isinstance(values, Sequence) else [values]
    if kind in (RATIONAL, SRATIONAL):
        pairs = [v if isinstance(v, tuple) else rational(float(v)) for v in seq]  # type: ignore[arg-type]
        fmt = "<" + ("II" if kind == RATIONAL else "ii") * len(pairs)
        return struct.pack(fmt, *(x for p in pairs for x in p)), len(pairs)
    fmt = "<" + _FORMATS[kind] * len(seq)
    cast = float if kind == DOUBLE else int
    return struct.pack(fmt, *(cast(v) for v in seq)), len(seq)  # type: ignore[call-overload]


def _walk(ifd: Ifd) -> list[Ifd]:
    """Every IFD reachable from ``ifd``, parents before children, chain in order."""
    out = []
    node: Ifd | None = ifd
    while node is not None:
        out.append(node)
        for kids in node.children.values():
            for kid in kids:
                out.extend(_walk(kid))
        node = node.next
    return out


def _size(ifd: Ifd) -> int:
    n = len(ifd.entries) + len(ifd.children) + (2 if ifd.data is not None else 0)
    size = 2 + 12 * n + 4
    for kind, values in ifd.entries.values():
        raw, _ = _encode_values(kind, values)
        if len(raw) > 4:
            size += len(raw) + (len(raw) & 1)
    for kids in ifd.children.values():
        if len(kids) > 1:
            size += 4 * len(kids)
    return size


def encode_tiff(ifd0: Ifd) -> bytearray:
    """Serialise ``ifd0`` and everything it points to as a little-endian TIFF (the buffer it
    was built in: a DNG is 25 MB, and a copy into ``bytes`` would cost the press 10 ms)."""
    ifds = _walk(ifd0)
    offsets: dict[int, int] = {}
    pos = 8
    for ifd in ifds:
        offsets[id(ifd)] = pos
        pos += _size(ifd)
    data_at: dict[int, int] = {}
    for ifd in ifds:
        if ifd.data is not None:
            pos += pos & 1
            data_at[id(ifd)] = pos
            pos += len(ifd.data)
    out = bytearray(pos)
    out[:8] = struct.pack("<2sHI", b"II", 42, offsets[id(ifd0)])
    for ifd in ifds:
        entries = dict(ifd.entries)
        for tag, kids in ifd.children.items():
            entries[tag] = (LONG, [offsets[id(k)] for k in kids])
        if ifd.data is not None:
            offset_tag, length_tag = ifd.data_tags
            entries[offset_tag] = (LONG, [data_at[id(ifd)]])
            entries[length_tag] = (LONG, [len(ifd.data)])
        start = offsets[id(ifd)]
        extra = start + 2 + 12 * len(entries) + 4
        struct.pack_into("<H", out, start, len(entries))
        p = start + 2
        for tag in sorted(entries):
            kind, values = entries[tag]
            raw, count = _encode_values(kind, values)
            if len(raw) <= 4:
                struct.pack_into("<HHI4s", out, p, tag, kind, count, raw.ljust(4, b"\0"))
            else:
                struct.pack_into("<HHII", out, p, tag, kind, count, extra)
                out[extra : extra + len(raw)] = raw
                extra += len(raw) + (len(raw) & 1)
            p += 12
        nxt = offsets[id(ifd.next)] if ifd.next is not None else 0
        struct.pack_into("<I", out, p, nxt)
    for ifd in ifds:
        if ifd.data is not None:
            at = data_at[id(ifd)]
            out[at : at + len(ifd.data)] = ifd.data
    return out


def _read_entries(buf: bytes, at: int) -> dict[int, tuple[int, int, int]]:
    (n,) = struct.unpack_from("<H", buf, at)
    entries = {}
    for i in range(n):
        tag, kind, count, value = struct.unpack_from("<HHII", buf, at + 2 + 12 * i)
        entries[tag] = (kind, count, value)
    return entries


def _value(buf: bytes, at: int, entry: tuple[int, int, int]) -> list[int]:
    kind, count, value = entry
    if kind not in (SHORT, LONG):
        raise ValueError(f"expected SHORT or LONG, got type {kind}")
    size = _SIZES[kind] * count
    fmt = "<" + _FORMATS[kind] * count
    if size <= 4:
        return list(struct.unpack_from(fmt, struct.pack("<I", value)))
    return list(struct.unpack_from(fmt, buf, value))


def read_first_rgb(buf: bytes) -> np.ndarray:
    """IFD0's image as uint8 ``(h, w, 3)``: for the uncompressed, single-strip, 8-bit RGB
    previews :mod:`firmware.capture.dng` writes. Anything else raises :class:`ValueError`."""
    if len(buf) < 8 or buf[:4] != b"II*\0":
        raise ValueError("not a little-endian TIFF")
    (at,) = struct.unpack_from("<I", buf, 4)
    e = _read_entries(buf, at)
    try:
        width, height = _value(buf, at, e[256])[0], _value(buf, at, e[257])[0]
        bits = _value(buf, at, e[258])
        compression = _value(buf, at, e[259])[0]
        photometric = _value(buf, at, e[262])[0]
        offsets = _value(buf, at, e[STRIP_OFFSETS])
        counts = _value(buf, at, e[STRIP_BYTE_COUNTS])
    except KeyError as missing:
        raise ValueError(f"IFD0 lacks tag {missing}") from None
    if bits != [8, 8, 8] or compression != 1 or photometric != 2 or len(offsets) != 1:
        raise ValueError("IFD0 is not an uncompressed single-strip 8-bit RGB image")
    size = width * height * 3
    if counts[0] != size or offsets[0] + size > len(buf):
        raise ValueError("IFD0 strip is truncated")
    return np.frombuffer(buf, np.uint8, size, offsets[0]).reshape(height, width, 3).copy()
