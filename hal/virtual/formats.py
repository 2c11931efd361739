"""Pixel formats as the Raspberry Pi pipeline delivers them: names, strides, byte layouts.

Raw (Bayer) streams:

- vc4 (Unicam): ``S<order><bits>_CSI2P`` is MIPI CSI-2 packed (12-bit: two pixels in three
  bytes, the high bits first, then a byte of both low nibbles); unpacked ``S<order><bits>``
  is one little-endian 16-bit word per pixel with the value in the low bits.
- pisp (CFE): a packed request is delivered compressed, ``<order>_PISP_COMP1`` (8 bits a
  pixel); an unpacked request is ``S<order>16``, the sensor's bits at the *top* of the word.

Processed streams (the ISP): ``RGB888`` is B, G, R in memory and ``BGR888`` R, G, B (DRM
fourcc names, little-endian), ``XBGR8888`` R, G, B, X and ``XRGB8888`` B, G, R, X;
``YUV420`` is planar Y then U then V at half size. Sources: ``hal/virtual/SOURCES.md``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

_RAW = re.compile(r"^S?(RGGB|BGGR|GRBG|GBRG)(\d+)?(?:_(CSI2P|PISP_COMP1))?$")
BAYER_ORDERS = ("RGGB", "BGGR", "GRBG", "GBRG")
PROCESSED_BYTES = {"RGB888": 3, "BGR888": 3, "XBGR8888": 4, "XRGB8888": 4, "YUV420": 1}


@dataclasses.dataclass(frozen=True)
class RawName:
    order: str
    bits: int
    packing: str | None

    @classmethod
    def parse(cls, name: str) -> RawName | None:
        m = _RAW.match(str(name))
        if m is None:
            return None
        bits = 16 if m.group(3) == "PISP_COMP1" else int(m.group(2) or 0)
        return cls(m.group(1), bits, m.group(3)) if bits else None

    def __str__(self) -> str:
        if self.packing == "PISP_COMP1":
            return f"{self.order}_PISP_COMP1"
        return f"S{self.order}{self.bits}" + (f"_{self.packing}" if self.packing else "")


def align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def flipped_order(order: str, hflip: bool, vflip: bool) -> str:
    """The Bayer order read out with the sensor's flips on (``BayerFormat::transform``)."""
    grid = np.array(list(order)).reshape(2, 2)
    if hflip:
        grid = grid[:, ::-1]
    if vflip:
        grid = grid[::-1, :]
    return "".join(grid.ravel())


def raw_line_bytes(name: RawName, width: int) -> int:
    if name.packing == "CSI2P":
        return width * name.bits // 8
    if name.packing == "PISP_COMP1":
        return align(width, 8)
    return width * 2


def write_raw(buffer: np.ndarray, name: RawName, stride: int, dn: np.ndarray,
              sensor_bits: int) -> None:
    """Lay sensor DN (uint16, height × width) into a raw buffer (uint8, frame size)."""
    h, w = dn.shape
    rows = buffer[: h * stride].reshape(h, stride)
    if name.packing is None:
        words = rows[:, : w * 2].view("<u2")
        if name.bits > sensor_bits:  # PiSP unpacked: the sensor's bits at the top
            np.left_shift(dn, name.bits - sensor_bits, out=words)
        else:
            words[...] = dn
    elif name.packing == "CSI2P":
        _pack_csi2(rows, dn, name.bits)
    else:  # COMP1 codes blocks of 8 pixels: the line is padded to a multiple of 8
        w8 = align(w, 8)
        padded = np.pad(dn, ((0, 0), (0, w8 - w)), mode="edge") if w8 != w else dn
        _pisp_compress(rows[:, :w8], padded, sensor_bits)


def unpacked_view(buffer: np.ndarray, name: RawName, stride: int, size: tuple[int, int]):
    """The uint16 pixels of an unpacked raw buffer (a view, no copy)."""
    w, h = size
    return buffer[: h * stride].reshape(h, stride)[:, : w * 2].view("<u2")


def _pack_csi2(rows: np.ndarray, dn: np.ndarray, bits: int) -> None:
    """MIPI CSI-2 RAW10/RAW12 packing (CSI-2 specification, "RAW10"/"RAW12" data types)."""
    h, w = dn.shape
    if bits == 12:
        pairs = dn.reshape(h, w // 2, 2)
        out = rows[:, : w * 3 // 2].reshape(h, w // 2, 3)
        out[..., 0] = pairs[..., 0] >> 4
        out[..., 1] = pairs[..., 1] >> 4
        out[..., 2] = (pairs[..., 0] & 0xF) | ((pairs[..., 1] & 0xF) << 4)
    elif bits == 10:
        quads = dn.reshape(h, w // 4, 4)
        out = rows[:, : w * 5 // 4].reshape(h, w // 4, 5)
        for i in range(4):
            out[..., i] = quads[..., i] >> 2
        out[..., 4] = ((quads[..., 0] & 3) | ((quads[..., 1] & 3) << 2)
                       | ((quads[..., 2] & 3) << 4) | ((quads[..., 3] & 3) << 6))
    else:
        raise ValueError(f"no CSI-2 packing for {bits}-bit data")


def _pisp_compress(out: np.ndarray, dn: np.ndarray, sensor_bits: int) -> None:
    """PiSP "COMP1" raw, one byte a pixel: each 8 pixels of a row are two little-endian 32-bit
    words, the even pixels then the odd, each holding a 2-bit quantisation mode and four
    samples. This writes quantisation mode 3 in every word (the coarsest: 256 steps below
    24064, 512 above), which every COMP1 decoder reads; the CFE's own encoder picks the mode
    per block, so its files keep more shadow detail. Decoding follows rpicam-apps
    ``image/dng.cpp`` ``uncompress``/``subBlockFunction``/``dequantize``/``postprocess``
    (compression offset 2048, mode 1); :func:`pisp_decompress` is that decoder."""
    h, w = dn.shape
    value = (dn.astype(np.int32) << (16 - sensor_bits)) - COMP1_OFFSET
    np.clip(value, 0, 0xFFFF, out=value)
    q = np.where(value < 94 * 256, (value + 128) >> 8, ((value + 256) >> 9) + 47)
    q = np.where((q >= 94) & (value < 94 * 256), 93, q)
    q = np.clip(q, 0, 175)
    blocks = q.reshape(h, w // 8, 4, 2)  # (row, block, sample, parity)

    def pack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        x = 176 * (a >> 4) + b
        return (a & 15) | (x << 4)

    words = np.empty((h, w // 8, 2), dtype=np.uint32)
    for parity in (0, 1):
        s = blocks[..., parity]
        words[..., parity] = (3 | (pack(s[..., 0], s[..., 1]) << 2)
                              | (pack(s[..., 2], s[..., 3]) << 17)).astype(np.uint32)
    out[...] = words.astype("<u4").view(np.uint8).reshape(h, w)


COMP1_OFFSET = 2048


def pisp_decompress(data: np.ndarray, width: int) -> np.ndarray:
    """COMP1 bytes (rows × stride) back to 16-bit samples, as rpicam-apps decodes them."""
    h = data.shape[0]
    words = np.ascontiguousarray(data[:, :width]).view("<u4").reshape(h, width // 8, 2)
    words = words.astype(np.int64)
    out = np.empty((h, width // 8, 4, 2), dtype=np.int64)
    for parity in (0, 1):
        w = words[..., parity]
        qmode = w & 3
        q = np.empty(w.shape + (4,), dtype=np.int64)
        pack0, pack1 = (w >> 2) & 32767, (w >> 17) & 32767
        q3 = np.stack([(pack0 & 15) + 16 * ((pack0 >> 8) // 11), (pack0 >> 4) % 176,
                       (pack1 & 15) + 16 * ((pack1 >> 8) // 11), (pack1 >> 4) % 176], -1)
        field0, field1 = (w >> 2) & 511, (w >> 11) & 127
        field2, field3 = (w >> 18) & 127, (w >> 25) & 127
        wide = (qmode == 2) & (field0 >= 384)
        q1 = np.where(wide, field0, np.where(field1 >= 64, field0, field0 + 64 - field1))
        q2 = np.where(wide, field1 + 384, np.where(field1 >= 64, field0 + field1 - 64, field0))
        p1, p2 = np.maximum(0, q1 - 64), np.maximum(0, q2 - 64)
        p1 = np.where(qmode == 2, np.minimum(384, p1), p1)
        p2 = np.where(qmode == 2, np.minimum(384, p2), p2)
        q012 = np.stack([p1 + field2, q1, q2, p2 + field3], -1)
        q[...] = np.where((qmode == 3)[..., None], q3, q012)
        m = qmode[..., None]
        deq = np.where(m == 0, np.where(q < 320, 16 * q, 32 * (q - 160)),
              np.where(m == 1, 64 * q,
              np.where(m == 2, 128 * q,
                       np.where(q < 94, 256 * q, np.minimum(0xFFFF, 512 * (q - 47))))))
        out[..., parity] = deq
    return np.minimum(0xFFFF, out.reshape(h, width) + COMP1_OFFSET).astype(np.uint16)


def processed_stride(fmt: str, width: int, alignment: int) -> int:
    return align(width * PROCESSED_BYTES[fmt], alignment)


def processed_frame_size(fmt: str, stride: int, height: int) -> int:
    if fmt == "YUV420":
        return stride * height * 3 // 2
    return stride * height


def write_processed(buffer: np.ndarray, fmt: str, stride: int, rgb: np.ndarray) -> None:
    """Lay an R, G, B picture (uint8 h × w × 3) into a processed-stream buffer."""
    h, w, _ = rgb.shape
    if fmt == "YUV420":
        _write_yuv420(buffer, stride, rgb)
        return
    rows = buffer[: h * stride].reshape(h, stride)
    n = PROCESSED_BYTES[fmt]
    px = rows[:, : w * n].reshape(h, w, n)
    if fmt in ("RGB888", "XRGB8888"):  # B, G, R in memory
        px[..., 0], px[..., 1], px[..., 2] = rgb[..., 2], rgb[..., 1], rgb[..., 0]
    else:  # BGR888, XBGR8888: R, G, B in memory
        px[..., :3] = rgb
    if n == 4:
        px[..., 3] = 255


def _write_yuv420(buffer: np.ndarray, stride: int, rgb: np.ndarray) -> None:
    """BT.601 full-range YCbCr (sYCC, the colour space picamera2 asks for), 4:2:0 planar."""
    h, w, _ = rgb.shape
    f = rgb.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    half = f.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    yh = 0.299 * half[..., 0] + 0.587 * half[..., 1] + 0.114 * half[..., 2]
    u = (half[..., 2] - yh) * 0.564 + 128
    v = (half[..., 0] - yh) * 0.713 + 128
    rows = buffer[: h * stride].reshape(h, stride)
    rows[:, :w] = np.clip(y + 0.5, 0, 255).astype(np.uint8)
    chroma_stride = stride // 2
    at = h * stride
    for plane in (u, v):
        n = (h // 2) * chroma_stride
        block = buffer[at:at + n].reshape(h // 2, chroma_stride)
        block[:, : w // 2] = np.clip(plane + 0.5, 0, 255).astype(np.uint8)
        at += n
