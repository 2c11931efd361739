"""ISP benchmark: demosaic quality, full-resolution develop speed and memory vs LibRaw, colour.

Uses ../shared/data (McMaster-18, real_raw/test.RAW); parts skip with a note when it is missing.
McMaster TIFFs are read with isp.tiff (PackBits), so no imaging library is needed.
Speed is measured in fresh subprocesses, ours (forked workers, and threads for comparison) and
LibRaw's interleaved, with the interpreter's own start-up measured alongside as a baseline; peak
memory as the process tree's PSS in one more run of each. The machine may be shared: wall times
then depend on the load, so CPU times (user + system) are printed too.
Colour is compared on two DNGs of the same scene: one written by PiDNG (its hard-coded colour
matrices) and one by mrig's own writer (matrices derived from the tuning).
Outputs land in bench-out/.
"""

from __future__ import annotations

import datetime as dt
import os
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
import sys
from firmware.cli import main
sys.exit(main(["develop", sys.argv[1], "-o", sys.argv[2], "--quality", "92"]))
"""
_CHILD_MRIG_THREADS = """
import sys
from isp import forked
from firmware.cli import main
forked.can_fork = lambda: False  # as in the camera server: one thread per CPU instead
sys.exit(main(["develop", sys.argv[1], "-o", sys.argv[2], "--quality", "92"]))
"""
_CHILD_BASELINE = """
import sys, numpy
"""
_CHILD_LIBRAW = """
import sys, rawpy, simplejpeg
with rawpy.imread(sys.argv[1]) as r:
    rgb = r.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD, use_camera_wb=True, output_bps=8)
open(sys.argv[2], "wb").write(simplejpeg.encode_jpeg(rgb, quality=92))
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


#: White balance of the benchmark scene: PiDNG's RaspberryPiHqCamera writes AsShotNeutral
#: (0.4, 1, 0.5), i.e. red gain 2.5 and blue gain 2.0.
_HQ_GAINS = (2.5, 2.0)


def _hq_raw() -> np.ndarray:
    """A 4056x3040 12-bit BGGR mosaic of the synthetic scene as the HQ sensor would record it
    under the benchmark's light (camera RGB = WB^-1 CCM^-1 sRGB, black 256, noise 2 DN)."""
    from isp.tuning import default_tuning

    h, w = 3040, 4056
    t = default_tuning()
    red_gain, blue_gain = _HQ_GAINS
    ct = t.colour_temperature((red_gain, blue_gain))
    m = np.diag([1 / red_gain, 1.0, 1 / blue_gain]) @ np.linalg.inv(t.ccm(ct))
    scene = _synthetic_scene(h, w)
    cfa = np.empty((h, w), np.float32)
    for (dy, dx), c in zip([(0, 0), (0, 1), (1, 0), (1, 1)], (2, 1, 1, 0), strict=True):  # BGGR
        cfa[dy::2, dx::2] = scene[dy::2, dx::2] @ m[c]
    rng = np.random.default_rng(0)
    dn = 256 + np.clip(cfa, 0, 1) * 3839 * 0.9
    return np.clip(dn + rng.normal(0, 2.0, dn.shape), 0, 4095).astype(np.uint16)


def _write_hq_dng(path: Path) -> None:
    from pidng.camdefs import RaspberryPiHqCamera
    from pidng.core import CAM2DNG
    from pidng.defs import CFAPattern

    conv = CAM2DNG(RaspberryPiHqCamera(3, CFAPattern.BGGR))
    conv.options(path=str(path.parent), compress=False)
    conv.convert(_hq_raw(), filename=path.stem)


def _write_mrig_dng(path: Path) -> None:
    """The same scene through mrig's own DNG writer (firmware.capture.dng)."""
    from firmware.capture.dng import encode_dng
    from firmware.capture.shot import ShotInfo
    from hal.camera import FrameMetadata, RawFrame
    from isp.tuning import default_tuning

    meta = FrameMetadata(0, 0, 10_000, 1.0, _HQ_GAINS, 0, 33_333)
    raw = RawFrame(_hq_raw(), "BGGR", 256, 4095, 12, meta)
    shot = ShotInfo(meta, dt.datetime(2026, 1, 1, 12, 0, 0))
    path.write_bytes(encode_dng(raw, shot, default_tuning()))


#: The jobs' environment: this one, but Python writes and reuses its bytecode caches as it does
#: for a user (a sandbox may set PYTHONDONTWRITEBYTECODE, which makes every run compile all of
#: mrig's modules again, some 50 ms; rawpy and numpy were compiled when they were installed).
_USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(code: str, src: Path, dst: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system, the job's worker processes included) of ``code``
    in a fresh process, with ``env`` added to its environment. Without /usr/bin/time the CPU
    time is not known (reported as the wall time)."""
    cmd = [sys.executable, "-c", code, str(src), str(dst)]
    timer = Path("/usr/bin/time")
    if timer.exists():
        cmd = [str(timer), "-f", "%U %S"] + cmd
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**_USER_ENV, **(env or {})})
    wall = time.perf_counter() - t0
    if timer.exists():
        user, system = res.stderr.strip().splitlines()[-1].split()
        return wall, float(user) + float(system)
    return wall, wall


def _process_tree(pid: int) -> list[int]:
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [q for c in (task / "children").read_text().split() for q in _process_tree(int(c))]
        except OSError:
            pass
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _peak_memory(code: str, src: Path, dst: Path, env: dict[str, str] | None = None) -> float:
    """Peak memory (MiB) of ``code`` in a fresh process, worker processes included: the sum of
    the process tree's PSS (proportional set size: a page shared by n processes counts 1/n in
    each, so the sum is the memory the job really holds), sampled every 2 ms. A separate run
    from the timed ones, as the sampling takes CPU. The peak RSS of one process (what
    /usr/bin/time reports) would miss the workers' memory, or count their shared pages twice."""
    job = subprocess.Popen([sys.executable, "-c", code, str(src), str(dst)], cwd=ROOT,
                           stdout=subprocess.DEVNULL, env={**_USER_ENV, **(env or {})})
    peak = 0
    while job.poll() is None:
        peak = max(peak, sum(_pss_kib(p) for p in _process_tree(job.pid)))
        time.sleep(0.002)
    if job.returncode:
        raise RuntimeError(f"benchmark job failed with exit code {job.returncode}")
    return peak / 1024


#: mrig with its C stages off (isp/compiled.py): the numpy reference, for comparison.
_NUMPY_STAGES = {"MRIG_KERNELS": "numpy"}


def bench_full_resolution(dng: Path, rounds: int = 5) -> None:
    jobs = {"mrig": (_CHILD_MRIG, None), "numpy": (_CHILD_MRIG, _NUMPY_STAGES),
            "threads": (_CHILD_MRIG_THREADS, None), "libraw": (_CHILD_LIBRAW, None),
            "python": (_CHILD_BASELINE, None)}
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in jobs}
    for i in range(rounds):
        # Every other round in reverse order: no job always runs right after the same other one.
        for name, (code, env) in list(jobs.items())[:: 1 if i % 2 == 0 else -1]:
            runs[name].append(_run(code, dng, OUT / f"hq_{name}.jpg", env))
    wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}

    def per_round(name: str, which: int) -> list[float]:
        # Ratios within each round (runs seconds apart) follow the machine's load far less than
        # the medians of each job's times do: their median and range say how sure the comparison is.
        return sorted(m[which] / lr[which] for m, lr in zip(runs[name], runs["libraw"], strict=True))

    mem = {k: _peak_memory(code, dng, OUT / f"hq_{k}.jpg", env) for k, (code, env) in jobs.items()}
    same = (OUT / "hq_mrig.jpg").read_bytes() == (OUT / "hq_threads.jpg").read_bytes()
    print(f"4056x3040 DNG -> JPEG q92, median of {rounds} interleaved runs (fresh processes):")
    for label, which, target in (("wall time", 0, 0.8), ("CPU time ", 1, 1.0)):
        times = wall if which == 0 else cpu
        for name in ("mrig", "numpy"):
            ratios = per_round(name, which)
            who = "mrig" if name == "mrig" else "mrig, numpy stages (MRIG_KERNELS=numpy)"
            print(f"  {label}  {who}: {times[name]:5.2f} s, LibRaw AHD {times['libraw']:5.2f} s; per round "
                  f"ratio median {statistics.median(ratios):.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}, "
                  f"{sum(r <= target for r in ratios)} of {rounds} <= {target} (target for mrig)")
    print(f"  peak PSS   mrig {mem['mrig']:6.0f} MiB (numpy stages {mem['numpy']:.0f}) LibRaw AHD "
          f"{mem['libraw']:6.0f} MiB ratio {mem['mrig'] / mem['libraw']:5.2f} (target <= 1; the process tree's sum)")
    print(f"  mrig on threads instead of forked workers: wall {wall['threads']:.2f} s "
          f"(ratio to forked {wall['threads'] / wall['mrig']:.2f}), CPU {cpu['threads']:.2f} s, "
          f"{mem['threads']:.0f} MiB; the same JPEG: {same}")
    print(f"  baseline   python + numpy alone: {wall['python']:.2f} s, {mem['python']:.0f} MiB")


#: Functions isp.pipeline.process calls, by stage (timed by wrapping them where it looks them up).
_STAGES = (
    ("split_planes", "uint16 -> planes"), ("black_level_planes", "black level"),
    ("defective_pixels_planes", "defective pixels"), ("green_equalise_planes", "green equalisation"),
    ("white_balance_planes", "white balance"), ("lens_shading_planes", "lens shading"),
    ("demosaic_mlri_planes", "demosaic (MLRI + GBTF)"), ("assemble", "planes -> RGB"),
    ("clamp_false_colour", "false-colour clamp"), ("colour_correct_planar", "colour correction"),
    ("denoise_planar", "noise reduction"), ("tone_indexed", "tone curve"),
    ("luma_detail", "sharpening detail"), ("to_uint8_planar", "sharpen + 8-bit"),
)


def bench_stages(dng: Path) -> None:
    """Time per stage, one thread, the whole frame in the pipeline's default tiles: the numpy
    stages one by one, then the pipeline with its C stages (isp/compiled.py)."""
    import contextlib

    from isp import compiled, demosaic_ri, pipeline
    from isp.dng import read_dng
    from isp.jpeg import encode_jpeg
    from isp.render import pipeline_params

    def timed(f, label, spent):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
        return wrapper

    t0 = time.perf_counter()
    d = read_dng(dng)
    read_s = time.perf_counter() - t0
    params = pipeline_params(d.raw)
    numpy_stages = [(pipeline, n, label) for n, label in _STAGES] + [
        (demosaic_ri, "_green_difference", "  of which green (directional MLRI, GBTF)"),
        (demosaic_ri, "_red_or_blue", "  of which red and blue (MLRI)"),
    ]
    c_stages = [(compiled, "mosaic_stages", "black, DPC, green eq., white bal., shading, C"),
                (compiled, "demosaic_mlri", "demosaic (MLRI + GBTF), C"),
                (compiled, "finish_tile", "clamp, matrix, noise, tone, sharpen, 8-bit, C")]
    totals = {}
    for mode, stages in (("numpy", numpy_stages), ("C", c_stages)):
        spent: dict[str, float] = {label: 0.0 for _, _, label in stages}
        with contextlib.ExitStack() as undo:
            undo.callback(setattr, compiled, "AVAILABLE", compiled.AVAILABLE)
            compiled.AVAILABLE = mode == "C" and compiled.AVAILABLE
            for module, name, label in stages:
                original = getattr(module, name)
                undo.callback(setattr, module, name, original)
                setattr(module, name, timed(original, label, spent))
            t0 = time.perf_counter()
            rgb = pipeline.process_in_strips(d.raw.data, params, workers=1)
            totals[mode] = total = time.perf_counter() - t0
        print(f"Per stage, {mode} stages, one thread, 4056x3040 (seconds; the machine may be shared):")
        for label, s in spent.items():
            print(f"  {label:46s} {s:6.3f}")
        rest = total - sum(s for label, s in spent.items() if not label.startswith(" "))
        print(f"  {'the rest (tile cutting, Python)':46s} {rest:6.3f}")
        print(f"  {'pipeline total':46s} {total:6.3f}")
    t0 = time.perf_counter()
    encode_jpeg(rgb, quality=92)
    jpeg_s = time.perf_counter() - t0
    print(f"  {'DNG read and unpack':46s} {read_s:6.3f}")
    print(f"  {'JPEG encode (mrig develop: band by band)':46s} {jpeg_s:6.3f}")
    print(f"  C stages: {compiled.STATUS}; pipeline C / numpy {totals['C'] / totals['numpy']:.2f}")


def bench_colour_vs_libraw(dng: Path, label: str) -> None:
    import rawpy

    from isp.colour import delta_e_2000, srgb8_to_lab
    from isp.dng import read_dng
    from isp.render import develop

    d = read_dng(dng)
    ours = develop(d.raw, lens_shading=False, sharpening=False)
    # adjust_maximum_thr=0: LibRaw otherwise takes the data's maximum as white when it is
    # within 75 % of the DNG's WhiteLevel, brightening its render by about 5 L* here.
    with rawpy.imread(str(dng)) as r:
        ref = r.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD, use_camera_wb=True,
                            output_bps=8, gamma=(2.4, 12.92), no_auto_bright=True,
                            adjust_maximum_thr=0.0)
    step = 7
    a = srgb8_to_lab(ours[8:-8:step, 8:-8:step])
    b = srgb8_to_lab(ref[8:-8:step, 8:-8:step])
    de = delta_e_2000(a, b)
    print(f"mrig vs LibRaw on the {label} DNG, same white balance (AsShotNeutral), sRGB curves: "
          f"mean dE2000 {de.mean():.2f}, median {np.median(de):.2f} (target <= 3)")


def bench_real_raw() -> None:
    from hal.camera import FrameMetadata, RawFrame
    from isp.awb import binned_rgb, estimate_neutral
    from isp.jpeg import encode_jpeg
    from isp.render import develop

    src = SHARED_DATA / "real_raw" / "test.RAW"
    if not src.is_file():
        print(f"real raw: skipped, {src} missing")
        return
    data = np.fromfile(src, "<u2").reshape(1080, 1920)
    meta = FrameMetadata(0, 0, 10_000, 1.0, (1.0, 1.0), 5000, 25_000)
    # Unknown camera. Black level: its darkest areas (the vignetted corners) read 0-4 DN, and
    # the samples are 8-bit values times 4, so black is 4 DN (a 10-bit convention of 64 would
    # crush every dark patch to black and leave only their green channel). White balance:
    # the grey-world/white-patch estimate itself, not snapped to the IMX477's colour
    # temperature curve (another sensor's), and no colour matrix (the IMX477 CCM is not it).
    black, white = 4, 1020
    neutral = estimate_neutral(binned_rgb(data, "RGGB", black, white, step=2))
    gains = (1 / neutral[0], 1 / neutral[1]) if neutral else (1.0, 1.0)
    raw = RawFrame(data, "RGGB", black, white, 10, meta)
    t0 = time.perf_counter()
    rgb = develop(raw, white_balance=gains, ccm=np.eye(3), lens_shading=False)
    dt_s = time.perf_counter() - t0
    OUT.mkdir(exist_ok=True)
    (OUT / "real_raw_test.jpg").write_bytes(encode_jpeg(rgb, quality=92))
    clipped = float(np.mean(data >= white))
    print(f"real_raw/test.RAW 1920x1080 developed in {dt_s:.2f} s -> {OUT / 'real_raw_test.jpg'} "
          f"(gains {gains[0]:.2f}, {gains[1]:.2f}; {100 * clipped:.0f} % of its samples are clipped "
          "at white: the chart is over-exposed in the raw itself)")


def main() -> None:
    bench_mcmaster()
    bench_real_raw()
    OUT.mkdir(exist_ok=True)
    pidng_dng, mrig_dng = OUT / "hq_4056x3040.dng", OUT / "hq_4056x3040_mrig.dng"
    if not pidng_dng.exists():
        _write_hq_dng(pidng_dng)
    if not mrig_dng.exists():
        _write_mrig_dng(mrig_dng)
    bench_stages(pidng_dng)
    bench_full_resolution(pidng_dng, rounds=11)
    bench_colour_vs_libraw(pidng_dng, "PiDNG-written")
    print("  (LibRaw there uses PiDNG's hard-coded ColorMatrix for the HQ camera, mrig the tuning's CCM)")
    bench_colour_vs_libraw(mrig_dng, "mrig-written")
    print("  (both from the same tuning: the DNG's matrices are derived from the CCMs mrig applies)")


if __name__ == "__main__":
    main()
