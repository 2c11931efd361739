"""A DNG file to a JPEG: the one develop both ``mrig develop`` and the camera's queue run.

The camera writes every shot as a DNG first; its JPEG is made from that file, later, by
:func:`jpeg_from_dng`, the function ``mrig develop`` calls too. So the JPEG the camera saves
is the JPEG ``mrig develop`` makes of the same DNG, byte for byte, and developing it again
later with other settings starts from exactly what the camera started from.

The JPEG's EXIF is the DNG's own: the IFD0 tags a JPEG carries (camera, software, time,
orientation) and the whole Exif IFD (exposure, lens, sub-second time and time-zone offset),
copied value for value, so a file from another camera keeps its tags too; its thumbnail is
the DNG's preview (when the DNG has an uncompressed RGB one, as ours do).

References
----------
CIPA DC-008-2019 (Exif 2.32), section 4.6 (IFD0 and Exif IFD tags a JPEG may carry);
Adobe DNG Specification 1.6, chapter 3 (IFD0 holds the preview and the camera tags).
"""

from __future__ import annotations

import dataclasses
import mmap
import struct
from collections.abc import Callable
from pathlib import Path

from firmware.capture.exif import MAX_APP1_PAYLOAD, thumbnail_ifd
from firmware.capture.tiff import (
    ASCII,
    BYTE,
    EXIF_IFD,
    LONG,
    RATIONAL,
    SBYTE,
    SHORT,
    SLONG,
    SRATIONAL,
    SSHORT,
    UNDEFINED,
    Ifd,
    encode_tiff,
    read_first_rgb,
)

#: IFD0 tags a JPEG's EXIF carries: Make, Model, Orientation, Software, DateTime, Artist,
#: Copyright. (The DNG's other IFD0 tags describe its raw and preview images.)
IFD0_TAGS = (271, 272, 274, 305, 306, 315, 33432)
#: Exif IFD tags not copied: pointers into the DNG (Interoperability IFD), the maker note
#: (offsets inside it would point into the DNG).
SKIPPED_EXIF_TAGS = (40965, 37500)
_X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT = 282, 283, 296
_IFD = 13  # TIFF's IFD type, used for pointers such as ExifIFD (treated as LONG)
_FORMATS = {BYTE: "B", SBYTE: "b", SHORT: "H", SSHORT: "h", LONG: "I", SLONG: "i",
            RATIONAL: "I", SRATIONAL: "i", _IFD: "I"}
_SIZES = {BYTE: 1, ASCII: 1, SBYTE: 1, UNDEFINED: 1, SHORT: 2, SSHORT: 2, LONG: 4, SLONG: 4,
          RATIONAL: 8, SRATIONAL: 8, _IFD: 4}


@dataclasses.dataclass(frozen=True)
class DevelopOptions:
    """How a DNG becomes a JPEG (``mrig develop``'s options; the camera uses the defaults)."""

    quality: int = 92
    white_balance: str | float = "frame"
    tone: str = "srgb"
    tuning: Path | None = None
    """A tuning file; ``None``: the IMX477's for ``tuning_target`` (:func:`isp.tuning.default_tuning`)."""
    tuning_target: str = "vc4"
    lens_shading: bool = True
    sharpening: bool = True
    exposure_ev: float = 0.0
    noise_reduction: str = "normal"
    """off, low, normal or high (:mod:`isp.denoise`)."""


def _entries(buf: bytes, order: str, at: int) -> dict[int, object]:
    """An IFD's tags with their values as :meth:`Ifd.set` takes them (types we copy only)."""
    if at <= 0 or at + 2 > len(buf):
        return {}
    (n,) = struct.unpack_from(order + "H", buf, at)
    out: dict[int, object] = {}
    for i in range(n):
        entry = at + 2 + 12 * i
        if entry + 12 > len(buf):
            break
        tag, kind, count = struct.unpack_from(order + "HHI", buf, entry)
        if kind not in _SIZES or count > 65536:
            continue
        size = _SIZES[kind] * count
        start = entry + 8 if size <= 4 else struct.unpack_from(order + "I", buf, entry + 8)[0]
        if start + size > len(buf):
            continue
        raw = bytes(buf[start : start + size])
        if kind == ASCII:  # often UTF-8 in practice; the writer folds it to ASCII
            text = raw.split(b"\0", 1)[0]
            try:
                out[tag] = (kind, text.decode("utf-8"))
            except UnicodeDecodeError:
                out[tag] = (kind, text.decode("latin-1"))
        elif kind in (UNDEFINED, SBYTE):
            out[tag] = (kind, raw)
        elif kind in (RATIONAL, SRATIONAL):
            ints = struct.unpack(order + _FORMATS[kind] * (2 * count), raw)
            out[tag] = (kind, list(zip(ints[::2], ints[1::2], strict=True)))
        else:
            values = list(struct.unpack(order + _FORMATS[kind] * count, raw))
            out[tag] = (LONG if kind == _IFD else kind, bytes(values) if kind == BYTE else values)
    return out


def exif_from_dng(buf: bytes, *, thumbnail_quality: int = 80) -> bytes | None:
    """The EXIF APP1 payload (``Exif\\0\\0`` + TIFF) for a JPEG developed from the DNG in
    ``buf``: its camera tags, Exif IFD and preview as thumbnail; ``None`` if it has none."""


    if len(buf) < 8 or bytes(buf[:2]) not in (b"II", b"MM"):
        return None
    order = "<" if bytes(buf[:2]) == b"II" else ">"
    (first,) = struct.unpack_from(order + "I", buf, 4)
    top = _entries(buf, order, first)
    ifd0 = Ifd()
    for tag in IFD0_TAGS:
        if tag in top:
            ifd0.set(tag, *top[tag])
    exif_at = top.get(EXIF_IFD)
    if exif_at is not None:
        exif = Ifd()
        for tag, value in _entries(buf, order, int(exif_at[1][0])).items():
            if tag not in SKIPPED_EXIF_TAGS:
                exif.set(tag, *value)
        ifd0.children[EXIF_IFD] = [exif]
    if not ifd0.entries and not ifd0.children:
        return None
    ifd0.set(_X_RESOLUTION, RATIONAL, [(72, 1)])
    ifd0.set(_Y_RESOLUTION, RATIONAL, [(72, 1)])
    ifd0.set(_RESOLUTION_UNIT, SHORT, 2)
    try:
        preview = read_first_rgb(buf)
    except ValueError:
        preview = None
    if preview is not None:
        ifd0.next = thumbnail_ifd(preview, thumbnail_quality)
    payload = b"Exif\0\0" + encode_tiff(ifd0)
    if len(payload) > MAX_APP1_PAYLOAD:
        ifd0.next = None  # drop the thumbnail rather than the tags
        payload = b"Exif\0\0" + encode_tiff(ifd0)
    return payload if len(payload) <= MAX_APP1_PAYLOAD else None


def jpeg_from_dng(path: Path, options: DevelopOptions | None = None,
                  report: Callable[[str], None] | None = None) -> bytes:
    """Develop the DNG at ``path`` to JPEG bytes; raises :class:`isp.exc.IspError` (or
    :class:`OSError`) on a file it cannot use. The bands develop on forked processes where
    this process has no other thread (``mrig develop``, the camera's develop process).

    The colour comes from the IMX477 tuning for an IMX477's file and from the file's own tags
    for any other camera's (:mod:`isp.dng_develop`); ``report`` gets one line saying which,
    then one line per tag that was missing or out of range and the default taken."""
    from isp.dng import read_dng
    from isp.dng_develop import colour_for
    from isp.render import develop_jpeg
    from isp.tuning import default_tuning, load_tuning

    options = options or DevelopOptions()
    tuning = load_tuning(options.tuning) if options.tuning else default_tuning(options.tuning_target)
    dng = read_dng(path)
    colour = colour_for(dng, white_balance=options.white_balance, tuning=tuning,
                        tuning_given=options.tuning is not None,
                        lens_shading=options.lens_shading, exposure_ev=options.exposure_ev,
                        noise_reduction=options.noise_reduction)
    if report is not None:
        for line in (colour.source, *colour.notes):
            report(line)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            exif = exif_from_dng(buf)
        except (ValueError, struct.error):
            exif = None
    return develop_jpeg(
        dng.raw,
        quality=options.quality,
        exif=exif,
        tuning=tuning,
        tone=options.tone,
        sharpening=options.sharpening,
        processes=True,
        **colour.develop_options(options.noise_reduction),
    )
