"""Noise reduction at high ISO, mrig against LibRaw's wavelet denoise at the same detail.

The virtual camera's board (tests/other_cameras.py: its scene, its IMX477 noise) at ISO 2200
and 800, with and without noise, saved as mrig DNGs. Each is developed to JPEG q92 by mrig
(noise reduction off, low, normal, high) and by LibRaw (AHD, camera white balance, sRGB, no
auto-brightening; with each of its noise reductions). Printed per setting: PSNR against the
same developer's noise-free develop, its rise over no noise reduction, and the Siemens star's
MTF50 (cycles per pixel). LibRaw's row "at mrig's detail" is the one whose MTF50 is nearest to
mrig's normal setting.

LibRaw's wavelet denoise (``noise_thr``) is not among them: in LibRaw 0.22.2 as rawpy 0.28
ships it, it aborts the process ("munmap_chunk(): invalid pointer") on every DNG tried here,
PiDNG's, mrig's and plain single-IFD ones alike. Its FBDD noise reduction (light and full) and
its median filter passes on the colour differences run, and are compared instead.
"""

from __future__ import annotations

import datetime as dt
import io
import resource
import tempfile
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 2048, 1536


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (the develop's band workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def _dng(raw, path: Path) -> Path:
    from firmware.capture.dng import encode_dng
    from firmware.capture.shot import ShotInfo
    from isp.tuning import default_tuning

    path.write_bytes(bytes(encode_dng(raw, ShotInfo(raw.metadata, dt.datetime(2026, 12, 5)),
                                      default_tuning())))
    return path


def _ours(path: Path, setting: str) -> np.ndarray:
    import simplejpeg

    from firmware.capture.develop import DevelopOptions, jpeg_from_dng

    options = DevelopOptions(noise_reduction=setting, lens_shading=False)
    return simplejpeg.decode_jpeg(jpeg_from_dng(path, options))


#: LibRaw's noise reductions that run (see above), by name.
LIBRAW_SETTINGS = {
    "none": {},
    "FBDD light": {"fbdd": "Light"},
    "FBDD full": {"fbdd": "Full"},
    "median 2 passes": {"median_filter_passes": 2},
    "FBDD full + median 2": {"fbdd": "Full", "median_filter_passes": 2},
}


def _libraw(path: Path, setting: dict) -> np.ndarray:
    import rawpy
    from PIL import Image

    options = dict(setting)
    fbdd = options.pop("fbdd", None)
    if fbdd:
        options["fbdd_noise_reduction"] = getattr(rawpy.FBDDNoiseReductionMode, fbdd)
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(use_camera_wb=True, no_auto_bright=True,
                              output_color=rawpy.ColorSpace.sRGB, gamma=(2.4, 12.92),
                              output_bps=8, demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD,
                              **options)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def main() -> None:
    from tests.other_cameras import hq_frame, star_mtf50

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for iso in (2200, 800):
            gain = iso / 100
            clean = _dng(hq_frame(gain, noisy=False, width=WIDTH, height=HEIGHT), folder / "clean.dng")
            noisy = _dng(hq_frame(gain, noisy=True, seed=iso, width=WIDTH, height=HEIGHT),
                         folder / "noisy.dng")
            print(f"ISO {iso} ({WIDTH}x{HEIGHT} board, JPEG q92): PSNR vs the same developer's "
                  "noise-free develop, rise over none, MTF50 of the star (cy/px), CPU s")
            truth = _ours(clean, "off")
            base = None
            for setting in ("off", "low", "normal", "high"):
                t0 = _cpu_s()
                out = _ours(noisy, setting)
                cpu = _cpu_s() - t0
                score = _psnr(out, truth)
                base = score if base is None else base
                mtf = star_mtf50(out)
                if setting == "normal":
                    ours_mtf = mtf
                print(f"  mrig {setting:<7} {score:6.2f} dB  {score - base:+5.2f} dB  MTF50 {mtf:.3f}  "
                      f"CPU {cpu:.2f} s")
            truth = _libraw(clean, {})
            rows = []
            for name, setting in LIBRAW_SETTINGS.items():
                out = _libraw(noisy, setting)
                rows.append((name, _psnr(out, truth), star_mtf50(out)))
            base = rows[0][1]
            for name, score, mtf in rows:
                print(f"  LibRaw {name:<21} {score:6.2f} dB  {score - base:+5.2f} dB  MTF50 {mtf:.3f}")
            nearest = min(rows[1:], key=lambda r: abs(r[2] - ours_mtf))
            print(f"  LibRaw at mrig's detail ({nearest[0]}): {nearest[1] - base:+.2f} dB")


if __name__ == "__main__":
    main()
