"""Capture-side costs at full resolution (4056 × 3040): DNG encoding, EXIF, atomic saves with
fsync, gallery thumbnails, and how close LibRaw's development of our DNG comes to the scene.

Synthetic data only (no reference files needed). Times are this machine's, not a Pi's.
"""

import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import rawpy
import simplejpeg

from firmware.capture.dng import encode_dng
from firmware.capture.exif import exif_app1, insert_app1
from firmware.capture.shot import LensTags, ShotInfo
from firmware.storage import PhotoStore
from hal.camera import FrameMetadata, RawFrame, bayer_slices
from isp.tuning import default_tuning

W, H = 4056, 3040


def _timed(fn, repeat=3):
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _colour_error(tuning, ct):
    """Largest error (linear sRGB) of four patches developed by LibRaw from our DNG."""
    r, b = tuning.neutral_rb(ct)
    ccm = tuning.ccm(ct)
    patches = [(0.18, 0.18, 0.18), (0.4, 0.05, 0.05), (0.05, 0.3, 0.05), (0.05, 0.05, 0.4)]
    half = np.zeros((16, 64, 3))
    for i, srgb in enumerate(patches):
        half[:, 16 * i : 16 * (i + 1)] = np.diag([r, 1, b]) @ np.linalg.solve(ccm, srgb)
    dn = np.round(256 + half * (4095 - 256)).astype(np.uint16)
    data = np.zeros((32, 128), np.uint16)
    for colour, index in (("R", 0), ("G1", 1), ("G2", 1), ("B", 2)):
        data[bayer_slices("BGGR", colour)] = dn[..., index]
    meta = FrameMetadata(0, 0, 10_000, 1.0, tuning.colour_gains(ct), int(ct), 100_000)
    raw = RawFrame(data, "BGGR", 256, 4095, 12, meta)
    with tempfile.NamedTemporaryFile(suffix=".dng") as f:
        f.write(encode_dng(raw, ShotInfo(meta, dt.datetime.now()), tuning))
        f.flush()
        with rawpy.imread(f.name) as rp:
            out = rp.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16,
                                 gamma=(1, 1), user_flip=0) / 65535
    got = [out[8:24, 32 * i + 8 : 32 * (i + 1) - 8].reshape(-1, 3).mean(axis=0) for i in range(4)]
    return float(np.max(np.abs(np.array(got) - np.array(patches))))


def main() -> None:
    tuning = default_tuning("vc4")
    rng = np.random.default_rng(1)
    data = rng.integers(256, 4095, size=(H, W), dtype=np.uint16)
    meta = FrameMetadata(1, 0, 8000, 2.0, (2.0, 1.6), 5000, 100_000)
    raw = RawFrame(data, "BGGR", 256, 4095, 12, meta)
    shot = ShotInfo(meta, dt.datetime.now(), LensTags("Leica", "Summicron-M 50 f/2", 50, 2, 16, 2.8))
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack([xx * 255 // W, yy * 255 // H, (xx + yy) * 255 // (W + H)], -1).astype(np.uint8)

    t, dng = _timed(lambda: encode_dng(raw, shot, tuning, preview_rgb=rgb))
    print(f"encode_dng 4056x3040 (given preview): {t * 1000:.0f} ms, {len(dng) / 1e6:.1f} MB")
    t, _ = _timed(lambda: encode_dng(raw, shot, tuning))
    print(f"encode_dng 4056x3040 (preview from raw): {t * 1000:.0f} ms")
    jpeg = simplejpeg.encode_jpeg(rgb, quality=92, colorspace="RGB")
    t, app1 = _timed(lambda: exif_app1(shot, rgb))
    print(f"exif_app1 with 160x120 thumbnail from 12 MP: {t * 1000:.0f} ms, {len(app1)} bytes")
    jpeg = insert_app1(jpeg, app1)

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        store = PhotoStore(Path(tmp) / "photos", reserve_bytes=0)
        t, names = _timed(lambda: store.save({"dng": dng, "jpg": jpeg}, shot.as_dict()))
        mb = (len(dng) + len(jpeg)) / 1e6
        print(f"PhotoStore.save DNG+JPEG ({mb:.1f} MB, fsync, link): {t * 1000:.0f} ms "
              f"({mb / t:.0f} MB/s)")
        t0 = time.perf_counter()
        store.thumbnail(names[1])
        print(f"thumbnail from 12 MP JPEG (first, uncached): {(time.perf_counter() - t0) * 1000:.0f} ms")
        t, _ = _timed(lambda: store.thumbnail(names[1]))
        print(f"thumbnail (cached): {t * 1000:.2f} ms")
        [dng_only] = store.save({"dng": dng})
        t0 = time.perf_counter()
        store.thumbnail(dng_only)
        print(f"thumbnail from DNG preview: {(time.perf_counter() - t0) * 1000:.0f} ms")
        t, page = _timed(lambda: store.list(limit=50))
        print(f"list ({page.total} captures): {t * 1000:.2f} ms")

    for ct in (2856, 4000, 6504):
        print(f"LibRaw development of our DNG, max patch error at {ct} K: "
              f"{_colour_error(tuning, ct):.4f} (linear sRGB)")
