"""ISP benchmark: demosaic quality, full-resolution develop speed and memory vs LibRaw, colour.

Uses ../shared/data (McMaster-18, real_raw/test.RAW); parts skip with a note when it is missing.
McMaster TIFFs are read with isp.tiff (PackBits), so no imaging library is needed.
Speed and peak RSS are measured in fresh subprocesses, ours and LibRaw's interleaved.
Outputs land in bench-out/.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "bench-out"
ROOT = Path(__file__).resolve().parents[2]
#: Reference data beside the checkout (as in tests/bench/__main__.py).
SHARED_DATA = ROOT.parent / "shared" / "data"

_CHILD_MRIG = """
import resource, sys
from firmware.cli import main
rc = main(["develop", sys.argv[1], "-o", sys.argv[2], "--quality", "92"])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
sys.exit(rc)
"""
_CHILD_LIBRAW = """
import resource, sys, rawpy, simplejpeg
with rawpy.imread(sys.argv[1]) as r:
    rgb = r.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD, use_camera_wb=True, output_bps=8)
open(sys.argv[2], "wb").write(simplejpeg.encode_jpeg(rgb, quality=92))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _mosaic_rggb(img: np.ndarray) -> np.ndarray:
    m = np.empty(img.shape[:2], np.float32)
    m[0::2, 0::2], m[0::2, 1::2] = img[0::2, 0::2, 0], img[0::2, 1::2, 1]
    m[1::2, 0::2], m[1::2, 1::2] = img[1::2, 0::2, 1], img[1::2, 1::2, 2]
    return m


def _cpsnr(a: np.ndarray, b: np.ndarray, crop: int = 10) -> float:
    d = a[crop:-crop, crop:-crop].astype(np.float64) - b[crop:-crop, crop:-crop]
    return float(10 * np.log10(1.0 / np.mean(d**2)))


def bench_mcmaster() -> None:
    from isp import demosaic, tiff

    folder = SHARED_DATA / "mcmaster18"
    files = sorted(folder.glob("*.tif"), key=lambda p: int(p.stem)) if folder.is_dir() else []
    if not files:
        print(f"McMaster-18: skipped, {folder} missing")
        return
    scores: dict[str, list[float]] = {"mlri (ours)": [], "bilinear": []}
    for f in files:
        buf = f.read_bytes()
        img = tiff.read_pixels(buf, tiff.read_ifds(buf, f.name)[0], f.name).astype(np.float32) / 255
        cfa = _mosaic_rggb(img)
        scores["mlri (ours)"].append(_cpsnr(demosaic(cfa, "RGGB"), img))
        scores["bilinear"].append(_cpsnr(demosaic(cfa, "RGGB", method="bilinear"), img))
    for name, s in scores.items():
        print(f"McMaster-18 CPSNR {name:12s} {np.mean(s):6.2f} dB  (target >= 36.0; refs: bilinear 32.3, "
              "LibRaw AHD 35.05, AAHD 35.32)" if name.startswith("mlri") else
              f"McMaster-18 CPSNR {name:12s} {np.mean(s):6.2f} dB")


def _synthetic_scene(h: int, w: int) -> np.ndarray:
    """Linear sRGB: a ColorChecker in the middle of smooth gradients and fine lines."""
    from isp.colour import COLORCHECKER_SRGB
    from isp.tone import srgb_decode

    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([0.1 + 0.6 * x / w, 0.1 + 0.6 * y / h, 0.4 + 0.3 * np.sin(x / 50) * np.cos(y / 70)], -1)
    img[(np.floor(x / 3) + np.floor(y / 200)) % 2 == 0] *= 0.7
    ph, pw = h // 8, w // 10
    chart = srgb_decode(COLORCHECKER_SRGB / 255.0).reshape(4, 6, 3).repeat(ph, 0).repeat(pw, 1)
    y0, x0 = (h - 4 * ph) // 2, (w - 6 * pw) // 2
    img[y0 : y0 + 4 * ph, x0 : x0 + 6 * pw] = chart
    return img.astype(np.float32)


def _write_hq_dng(path: Path) -> None:
    from pidng.camdefs import RaspberryPiHqCamera
    from pidng.core import CAM2DNG
    from pidng.defs import CFAPattern

    from isp.tuning import default_tuning

    h, w = 3040, 4056
    t = default_tuning()
    # PiDNG's RaspberryPiHqCamera writes AsShotNeutral (0.4, 1, 0.5): gains 2.5, 2.0.
    red_gain, blue_gain = 2.5, 2.0
    ct = t.colour_temperature((red_gain, blue_gain))
    m = np.diag([1 / red_gain, 1.0, 1 / blue_gain]) @ np.linalg.inv(t.ccm(ct))
    scene = _synthetic_scene(h, w)
    cfa = np.empty((h, w), np.float32)
    for (dy, dx), c in zip([(0, 0), (0, 1), (1, 0), (1, 1)], (2, 1, 1, 0), strict=True):  # BGGR
        cfa[dy::2, dx::2] = scene[dy::2, dx::2] @ m[c]
    rng = np.random.default_rng(0)
    dn = 256 + np.clip(cfa, 0, 1) * 3839 * 0.9
    data = np.clip(dn + rng.normal(0, 2.0, dn.shape), 0, 4095).astype(np.uint16)
    conv = CAM2DNG(RaspberryPiHqCamera(3, CFAPattern.BGGR))
    conv.options(path=str(path.parent), compress=False)
    conv.convert(data, filename=path.stem)


def _run(code: str, src: Path, dst: Path) -> tuple[float, float]:
    """Wall time and peak RSS (MiB) of ``code`` in a fresh process.

    Linux carries a process's peak RSS across exec, so a child forked from this (large) process
    would report our peak; /usr/bin/time forks the job from its own small process and reports
    the job's true peak. Without it, the child's self-reported figure is used (an upper bound).
    """
    cmd = [sys.executable, "-c", code, str(src), str(dst)]
    timer = Path("/usr/bin/time")
    if timer.exists():
        cmd = [str(timer), "-f", "%M"] + cmd
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    if timer.exists():
        return wall, float(res.stderr.strip().splitlines()[-1]) / 1024
    return wall, float(res.stdout.strip().splitlines()[-1])


def bench_full_resolution(rounds: int = 3) -> Path:
    OUT.mkdir(exist_ok=True)
    dng = OUT / "hq_4056x3040.dng"
    if not dng.exists():
        _write_hq_dng(dng)
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(_run(_CHILD_MRIG, dng, OUT / "hq_mrig.jpg"))
        theirs.append(_run(_CHILD_LIBRAW, dng, OUT / "hq_libraw.jpg"))
    t_o = statistics.median(t for t, _ in ours)
    t_l = statistics.median(t for t, _ in theirs)
    r_o = max(r for _, r in ours)
    r_l = max(r for _, r in theirs)
    print(f"4056x3040 DNG -> JPEG q92, median of {rounds} interleaved runs (fresh processes):")
    print(f"  wall time  mrig {t_o:6.2f} s   LibRaw AHD {t_l:6.2f} s   ratio {t_o / t_l:5.2f} (target <= 1)")
    print(f"  peak RSS   mrig {r_o:6.0f} MiB LibRaw AHD {r_l:6.0f} MiB ratio {r_o / r_l:5.2f} (target <= 1)")
    return dng


def bench_colour_vs_libraw(dng: Path) -> None:
    import rawpy

    from isp.colour import delta_e_2000, srgb8_to_lab
    from isp.dng import read_dng
    from isp.render import develop

    d = read_dng(dng)
    ours = develop(d.raw, lens_shading=False, sharpening=False)
    with rawpy.imread(str(dng)) as r:
        ref = r.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD, use_camera_wb=True,
                            output_bps=8, gamma=(2.4, 12.92), no_auto_bright=True)
    step = 7
    a = srgb8_to_lab(ours[8:-8:step, 8:-8:step])
    b = srgb8_to_lab(ref[8:-8:step, 8:-8:step])
    de = delta_e_2000(a, b)
    print(f"mrig vs LibRaw, same DNG, same white balance (AsShotNeutral), sRGB curves: mean dE2000 "
          f"{de.mean():.2f}, median {np.median(de):.2f} (target <= 3)")
    print("  (mrig colour: the tuning's CCM at the gains' CT; LibRaw: the DNG's ColorMatrix1/2, "
          "which PiDNG's RaspberryPiHqCamera hard-codes and does not derive from the tuning)")


def bench_real_raw() -> None:
    from hal.camera import FrameMetadata, RawFrame
    from isp.jpeg import encode_jpeg
    from isp.render import develop

    src = SHARED_DATA / "real_raw" / "test.RAW"
    if not src.is_file():
        print(f"real raw: skipped, {src} missing")
        return
    data = np.fromfile(src, "<u2").reshape(1080, 1920)
    meta = FrameMetadata(0, 0, 10_000, 1.0, (1.0, 1.0), 5000, 25_000)
    # Unknown camera: black level 64 (10-bit convention; the data's low end is 0-64), automatic
    # white balance, and no colour matrix (the IMX477 CCM belongs to another sensor).
    raw = RawFrame(data, "RGGB", 64, 1023, 10, meta)
    t0 = time.perf_counter()
    rgb = develop(raw, white_balance="auto", ccm=np.eye(3), lens_shading=False, tone="tuning")
    dt = time.perf_counter() - t0
    OUT.mkdir(exist_ok=True)
    (OUT / "real_raw_test.jpg").write_bytes(encode_jpeg(rgb, quality=92))
    print(f"real_raw/test.RAW 1920x1080 developed in {dt:.2f} s -> {OUT / 'real_raw_test.jpg'}")


def main() -> None:
    bench_mcmaster()
    bench_real_raw()
    dng = bench_full_resolution()
    bench_colour_vs_libraw(dng)


if __name__ == "__main__":
    main()
