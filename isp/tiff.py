"""A small TIFF reader: the image file directories (IFDs) and uncompressed pixel data.

DNG is TIFF with extra tags, so :mod:`isp.dng` builds on this. Only what raw files and simple
uncompressed TIFFs need is read: classic (not Big) TIFF, either byte order, SubIFDs and the
Exif IFD followed, strips or tiles, compression 1 (none) or 32773 (PackBits). Every error is an
:class:`isp.exc.RawFormatError` whose message names the file and the problem.

References
----------
Adobe, "TIFF Revision 6.0", 1992, sections 2 (structure) and 15 (tiles).
Adobe, "Digital Negative (DNG) Specification", version 1.4.0.0, 2012.

Examples
--------
>>> import numpy as np
>>> data = write_minimal_tiff(np.arange(6, dtype=np.uint8).reshape(2, 3))
>>> ifd = read_ifds(data, "<mem>")[0]
>>> read_pixels(data, ifd, "<mem>").tolist()
[[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

from isp.exc import RawFormatError

# Tag numbers used here and in isp.dng.
NEW_SUBFILE_TYPE = 254
IMAGE_WIDTH = 256
IMAGE_LENGTH = 257
BITS_PER_SAMPLE = 258
COMPRESSION = 259
PHOTOMETRIC = 262
STRIP_OFFSETS = 273
SAMPLES_PER_PIXEL = 277
ROWS_PER_STRIP = 278
STRIP_BYTE_COUNTS = 279
PLANAR_CONFIGURATION = 284
TILE_WIDTH = 322
TILE_LENGTH = 323
TILE_OFFSETS = 324
TILE_BYTE_COUNTS = 325
SUB_IFDS = 330
SAMPLE_FORMAT = 339
EXIF_IFD = 34665
PACKBITS = 32773

#: TIFF field type -> (struct code, size in bytes). RATIONALs are read as two LONGs.
_TYPES = {
    1: ("B", 1), 2: ("s", 1), 3: ("H", 2), 4: ("I", 4), 5: ("I", 8), 6: ("b", 1), 7: ("B", 1),
    8: ("h", 2), 9: ("i", 4), 10: ("i", 8), 11: ("f", 4), 12: ("d", 8), 13: ("I", 4),
}
_MAX_IFDS = 64


@dataclasses.dataclass(frozen=True)
class Ifd:
    """One image file directory: ``tags`` maps tag number to a tuple of values (str for ASCII)."""

    offset: int
    tags: dict[int, tuple]
    byte_order: str

    def get(self, tag: int, default: tuple | None = None) -> tuple | None:
        return self.tags.get(tag, default)

    def first(self, tag: int, default: object = None) -> object:
        v = self.tags.get(tag)
        return v[0] if v else default


def _read_values(
    buf: bytes, bo: str, typ: int, count: int, value_field: int, name: str
) -> tuple:
    code, size = _TYPES[typ]
    total = size * count
    if total <= 4:
        start = value_field
    else:
        (start,) = struct.unpack_from(bo + "I", buf, value_field)
    if start + total > len(buf):
        raise RawFormatError(f"{name}: truncated (a tag's data at {start} runs past the end)")
    if typ == 2:
        raw = bytes(buf[start : start + total]).split(b"\0", 1)[0]
        return (raw.decode("latin-1"),)
    if typ in (5, 10):
        ints = struct.unpack_from(f"{bo}{2 * count}{code}", buf, start)
        return tuple(n / d if d else 0.0 for n, d in zip(ints[::2], ints[1::2], strict=True))
    return struct.unpack_from(f"{bo}{count}{code}", buf, start)


def _read_ifd(buf: bytes, bo: str, offset: int, name: str) -> tuple[Ifd, int]:
    if offset + 2 > len(buf):
        raise RawFormatError(f"{name}: truncated (IFD at {offset} past end of file)")
    (n,) = struct.unpack_from(bo + "H", buf, offset)
    if offset + 2 + 12 * n + 4 > len(buf):
        raise RawFormatError(f"{name}: truncated (IFD at {offset} with {n} entries)")
    tags: dict[int, tuple] = {}
    for i in range(n):
        entry = offset + 2 + 12 * i
        tag, typ, count = struct.unpack_from(bo + "HHI", buf, entry)
        if typ not in _TYPES:
            continue  # unknown types are skipped, as TIFF readers must
        tags[tag] = _read_values(buf, bo, typ, count, entry + 8, name)
    (next_offset,) = struct.unpack_from(bo + "I", buf, offset + 2 + 12 * n)
    return Ifd(offset, tags, bo), next_offset


def read_ifds(buf: bytes, name: str = "<tiff>") -> list[Ifd]:
    """Every IFD of the file: the main chain, then SubIFDs and Exif IFDs, depth first."""
    if len(buf) < 8:
        raise RawFormatError(f"{name}: truncated (shorter than a TIFF header)")
    order = bytes(buf[:2])
    if order == b"II":
        bo = "<"
    elif order == b"MM":
        bo = ">"
    else:
        raise RawFormatError(f"{name}: not a TIFF/DNG file (bad byte-order mark {order!r})")
    magic, first = struct.unpack_from(bo + "HI", buf, 2)
    if magic != 42:
        raise RawFormatError(f"{name}: not a classic TIFF/DNG file (magic {magic})")
    ifds: list[Ifd] = []
    seen: set[int] = set()
    todo = [first]
    while todo:
        offset = todo.pop(0)
        if offset == 0 or offset in seen:
            continue
        if len(seen) >= _MAX_IFDS:
            raise RawFormatError(f"{name}: corrupt (more than {_MAX_IFDS} IFDs)")
        seen.add(offset)
        ifd, next_offset = _read_ifd(buf, bo, offset, name)
        ifds.append(ifd)
        todo.extend(int(o) for o in ifd.get(SUB_IFDS, ()))
        todo.extend(int(o) for o in ifd.get(EXIF_IFD, ()))
        todo.append(next_offset)
    return ifds


def _unpack_bits(packed: np.ndarray, bits: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
    """Unpack big-endian bit-packed samples (TIFF's FillOrder 1) of ``bits`` each into uint16
    (into ``out``, contiguous uint16 of ``count``, when given: no copy on the way)."""
    if bits == 16:
        raise AssertionError("16-bit samples are not bit-packed")
    if out is None:
        out = np.empty(count, np.uint16)
    if bits == 8:
        out[:] = packed[:count]
        return out
    if bits == 12 and count % 2 == 0:
        from isp import compiled

        if out.flags.c_contiguous and compiled.unpack_12(packed, out):
            return out
        # Each 3 bytes hold two samples: read big-endian 16-bit words at byte 0 and byte 1 of
        # every triple (strided views, no copy); the first sample is the top 12 bits of the
        # first word, the second the low 12 bits of the second.
        pairs = count // 2
        buf = np.ascontiguousarray(packed[: 3 * pairs])
        hi = np.ndarray((pairs,), ">u2", buf, 0, (3,))
        lo = np.ndarray((pairs,), ">u2", buf, 1, (3,)) if pairs else hi
        np.right_shift(hi, 4, out=out[0::2])
        np.bitwise_and(lo, 0x0FFF, out=out[1::2])
        return out
    # General case: expand to bits, regroup. Slower, only for unusual depths and odd counts.
    allbits = np.unpackbits(packed)[: count * bits].reshape(count, bits).astype(np.uint16)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint16)
    out[:] = (allbits * weights).sum(axis=1, dtype=np.uint16)
    return out


def unpackbits_rle(data: bytes, size: int, name: str = "<tiff>") -> bytes:
    """Decode TIFF PackBits (compression 32773) run-length data to ``size`` bytes (TIFF 6.0 §9)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n and len(out) < size:
        h = data[i]
        i += 1
        if h < 128:
            out += data[i : i + h + 1]
            i += h + 1
        elif h > 128:
            if i >= n:
                break
            out += bytes([data[i]]) * (257 - h)
            i += 1
    if len(out) < size:
        raise RawFormatError(f"{name}: truncated PackBits data ({len(out)} of {size} bytes)")
    return bytes(out[:size])


def _decode_rows(
    chunk: bytes | memoryview, dest: np.ndarray, bits: int, bo: str, name: str, packbits: bool = False
) -> None:
    """Decode one strip or tile into ``dest`` (rows, width); rows start on byte boundaries
    (TIFF 6.0). Works in blocks of rows so temporaries stay small."""
    rows, width = dest.shape
    row_bytes = (width * bits + 7) // 8
    if packbits:
        chunk = unpackbits_rle(bytes(chunk), rows * row_bytes, name)
    if len(chunk) < rows * row_bytes:
        raise RawFormatError(f"{name}: truncated image data ({len(chunk)} of {rows * row_bytes} bytes)")
    if bits == 16:
        dest[:] = np.frombuffer(chunk, dtype=bo + "u2", count=rows * width).reshape(rows, width)
        return
    raw = np.frombuffer(chunk, dtype=np.uint8, count=rows * row_bytes).reshape(rows, row_bytes)
    block = max(1, (1 << 20) // max(row_bytes, 1))
    for y0 in range(0, rows, block):
        part = raw[y0 : y0 + block]
        if (width * bits) % 8 == 0:
            rows_out = dest[y0 : y0 + block]
            count = part.shape[0] * width
            if rows_out.flags.c_contiguous:  # a strip, or a tile as wide as the image
                _unpack_bits(part.reshape(-1), bits, count, rows_out.reshape(-1))
            else:
                rows_out[:] = _unpack_bits(part.reshape(-1), bits, count).reshape(rows_out.shape)
        else:
            dest[y0 : y0 + block] = np.stack([_unpack_bits(r, bits, width) for r in part])


def read_pixels(buf: bytes, ifd: Ifd, name: str = "<tiff>") -> np.ndarray:
    """Uncompressed, chunky samples of ``ifd`` as uint8 (8-bit) or uint16, shape (H, W) or (H, W, S).

    Supports 8 to 16 bits per sample, strips or tiles, one or more samples per pixel.
    """
    try:
        width = int(ifd.first(IMAGE_WIDTH))
        height = int(ifd.first(IMAGE_LENGTH))
    except TypeError:
        raise RawFormatError(f"{name}: missing ImageWidth/ImageLength tags") from None
    bits_all = ifd.get(BITS_PER_SAMPLE, (1,))
    spp = int(ifd.first(SAMPLES_PER_PIXEL, 1))
    bits = int(bits_all[0])
    compression = int(ifd.first(COMPRESSION, 1))
    if compression not in (1, PACKBITS):
        raise RawFormatError(f"{name}: compressed image data (Compression={compression}) is not supported")
    if any(int(b) != bits for b in bits_all):
        raise RawFormatError(f"{name}: mixed BitsPerSample {bits_all} not supported")
    if not 8 <= bits <= 16:
        raise RawFormatError(f"{name}: unsupported bit depth {bits} (need 8 to 16 bits per sample)")
    if spp > 1 and int(ifd.first(PLANAR_CONFIGURATION, 1)) != 1:
        raise RawFormatError(f"{name}: planar sample layout not supported")
    if width <= 0 or height <= 0 or width * height * spp > 1 << 31:
        raise RawFormatError(f"{name}: implausible image size {width}x{height}")
    packed = compression == PACKBITS
    view = memoryview(buf)  # slices of it are not copies
    out = np.empty((height, width * spp), np.uint16)
    if TILE_OFFSETS in ifd.tags:
        tw, tl = int(ifd.first(TILE_WIDTH, 0)), int(ifd.first(TILE_LENGTH, 0))
        offsets, counts = ifd.get(TILE_OFFSETS), ifd.get(TILE_BYTE_COUNTS, ())
        if tw <= 0 or tl <= 0:
            raise RawFormatError(f"{name}: tiled image without TileWidth/TileLength")
        across = -(-width // tw)
        down = -(-height // tl)
        if len(offsets) < across * down:
            raise RawFormatError(f"{name}: {len(offsets)} tiles, expected {across * down}")
        for k in range(across * down):
            ty, tx = divmod(k, across)
            start = int(offsets[k])
            size = int(counts[k]) if k < len(counts) else len(buf) - start
            y0, x0 = ty * tl, tx * tw * spp
            h, w = min(tl, height - ty * tl), min(tw * spp, width * spp - x0)
            if (h, w) == (tl, tw * spp):
                dest = out[y0 : y0 + h, x0 : x0 + w]
                _decode_rows(view[start : start + size], dest, bits, ifd.byte_order, name, packed)
            else:
                tile = np.empty((tl, tw * spp), np.uint16)
                _decode_rows(view[start : start + size], tile, bits, ifd.byte_order, name, packed)
                out[y0 : y0 + h, x0 : x0 + w] = tile[:h, :w]
    elif STRIP_OFFSETS in ifd.tags:
        offsets, counts = ifd.get(STRIP_OFFSETS), ifd.get(STRIP_BYTE_COUNTS, ())
        rps = int(ifd.first(ROWS_PER_STRIP, height))
        rps = max(1, min(rps, height))
        if len(offsets) < -(-height // rps):
            raise RawFormatError(f"{name}: {len(offsets)} strips, expected {-(-height // rps)}")
        for k, y0 in enumerate(range(0, height, rps)):
            rows = min(rps, height - y0)
            start = int(offsets[k])
            size = int(counts[k]) if k < len(counts) else len(buf) - start
            _decode_rows(
                view[start : start + size], out[y0 : y0 + rows], bits, ifd.byte_order, name, packed
            )
    else:
        raise RawFormatError(f"{name}: no StripOffsets or TileOffsets (no image data)")
    if bits == 8:
        out = out.astype(np.uint8)
    return out.reshape(height, width, spp) if spp > 1 else out


def write_minimal_tiff(image: np.ndarray) -> bytes:
    """A little-endian, one-strip, uncompressed TIFF of a uint8/uint16 (H, W) or (H, W, S) array.

    Used by tests and doctests to exercise :func:`read_pixels`; not a general TIFF writer.
    """
    a = np.ascontiguousarray(image)
    h, w = a.shape[:2]
    spp = a.shape[2] if a.ndim == 3 else 1
    bits = a.dtype.itemsize * 8
    data = a.astype("<u2").tobytes() if bits == 16 else a.tobytes()
    entries = [
        (IMAGE_WIDTH, 4, [w]), (IMAGE_LENGTH, 4, [h]), (BITS_PER_SAMPLE, 3, [bits] * spp),
        (COMPRESSION, 3, [1]), (PHOTOMETRIC, 3, [2 if spp == 3 else 1]),
        (STRIP_OFFSETS, 4, [0]), (SAMPLES_PER_PIXEL, 3, [spp]), (ROWS_PER_STRIP, 4, [h]),
        (STRIP_BYTE_COUNTS, 4, [len(data)]),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    extra = bytearray()
    extra_base = 8 + ifd_size
    data_offset = extra_base + 8 * len(entries)
    body = bytearray(struct.pack("<H", len(entries)))
    for tag, typ, values in entries:
        if tag == STRIP_OFFSETS:
            values = [data_offset]
        code, size = _TYPES[typ]
        packed = struct.pack(f"<{len(values)}{code}", *values)
        if len(packed) <= 4:
            body += struct.pack("<HHI", tag, typ, len(values)) + packed.ljust(4, b"\0")
        else:
            off = extra_base + len(extra)
            extra += packed.ljust(8, b"\0")
            body += struct.pack("<HHII", tag, typ, len(values), off)
    body += struct.pack("<I", 0)
    extra = extra.ljust(8 * len(entries), b"\0")
    return b"II*\0" + struct.pack("<I", 8) + bytes(body) + bytes(extra) + data
