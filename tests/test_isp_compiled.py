"""The pipeline's compiled stages (isp/kernels.c, loaded by isp/compiled.py) against the numpy
stages they stand in for: the stages after the demosaic give numpy's bytes; the demosaic, whose
window sums add in another order, agrees to float32 rounding. mrig falls back to numpy when the
library is missing or from another version."""

import dataclasses
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.camera import FrameMetadata, RawFrame
from isp import compiled, pipeline
from isp.cfa import merge_planes, split_planes
from isp.demosaic import assemble
from isp.demosaic_ri import MlriParams, demosaic_mlri_planes, reach
from isp.grid import common
from isp.render import pipeline_params
from tests.other_cameras import hq_frame, strokes_frame, to_mosaic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Without the library (MRIG_KERNELS=numpy, or no compiler) the first test fails saying why,
#: and the comparisons skip.
requires_c = pytest.mark.skipif(not compiled.AVAILABLE, reason=compiled.STATUS)


def test_the_compiled_stages_are_built_and_loaded():
    # `make test` installs mrig with its C stages: a build that broke shows here, not only as
    # slower JPEGs.
    assert compiled.AVAILABLE, compiled.STATUS
    assert compiled.STATUS.startswith("C stages")


def _numpy_mlri(planes, box, prm):
    return assemble(demosaic_mlri_planes(planes, prm), *box, planar=True)


def _numpy_mlri_on_mosaic(mosaic, box, prm):
    return _numpy_mlri(split_planes(mosaic), box, prm)


@pytest.fixture
def numpy_demosaic(monkeypatch):
    """The C stages with numpy's demosaic between them: what must give numpy's bytes exactly."""
    monkeypatch.setattr(compiled, "demosaic_mlri", _numpy_mlri_on_mosaic)


def _both(raw_data: np.ndarray, params, monkeypatch, **tiling) -> tuple[np.ndarray, np.ndarray]:
    """The frame developed with the C stages and with numpy's."""
    with_c = pipeline.process_in_strips(raw_data, params, workers=1, **tiling)
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    with_numpy = pipeline.process_in_strips(raw_data, params, workers=1, **tiling)
    monkeypatch.setattr(compiled, "AVAILABLE", True)
    return with_c, with_numpy


@requires_c
@pytest.mark.parametrize("noise_reduction", ["off", "normal", "high"])
@pytest.mark.parametrize("sharpening", [True, False])
def test_a_noisy_high_iso_frame_gives_the_same_bytes(noise_reduction, sharpening, monkeypatch,
                                                    numpy_demosaic):
    raw = hq_frame(16.0, noisy=True, width=300, height=220)
    params = pipeline_params(raw, noise_reduction=noise_reduction, sharpening=sharpening)
    assert (params.denoise is None) == (noise_reduction == "off")
    with_c, with_numpy = _both(raw.data, params, monkeypatch, strip_rows=64, tile_cols=96)
    assert np.array_equal(with_c, with_numpy)


@requires_c
def test_strokes_on_paper_in_every_bayer_phase_give_the_same_bytes(monkeypatch, numpy_demosaic):
    # The false-colour clamp works where the strokes' corners leave colour pops, and its
    # green follows the red and blue sites of each tile's phase: tiles start on odd rows and
    # columns here (the frame is cropped by one), and in every pattern.
    raw = strokes_frame(width=200, height=150)
    for pattern in ("RGGB", "GBRG", "GRBG", "BGGR"):
        frame = RawFrame(np.ascontiguousarray(raw.data[1:, 1:]), pattern, raw.black_level,
                         raw.white_level, raw.bit_depth, raw.metadata)
        params = pipeline_params(frame)
        with_c, with_numpy = _both(frame.data, params, monkeypatch, strip_rows=40, tile_cols=50)
        assert np.array_equal(with_c, with_numpy), pattern


@requires_c
@pytest.mark.parametrize("gains", [(1.9, 1.6), (0.8, 1.6), (2.2, 0.7)])
@pytest.mark.parametrize("defective_pixels, green_equalisation, lens_shading",
                         [(True, True, True), (False, True, False), (True, False, True), (False, False, False)])
def test_the_mosaic_stages_give_numpys_bytes(gains, defective_pixels, green_equalisation, lens_shading):
    rng = np.random.default_rng(7)
    h, w = 60, 84
    data = rng.integers(0, 4096, (h, w)).astype(np.uint16)
    data[rng.random((h, w)) < 0.05] = 4095  # clipped, and hot pixels for DPC
    data[rng.random((h, w)) < 0.02] = 0
    raw = RawFrame(data, "RGGB", 256, 4095, 12, FrameMetadata(0, 0, 10_000, 2.0, gains, 5000, 25_000))
    base = pipeline_params(raw)
    params = dataclasses.replace(base, dpc=base.dpc if defective_pixels else None,
                                 green_eq=base.green_eq if green_equalisation else None,
                                 lens_shading=base.lens_shading if lens_shading else None)
    rows, cols = np.arange(h)[::-1].copy(), np.arange(w)  # as a tile mirrored at the frame's edge
    mosaic, m = compiled.mosaic_stages(data, params, rows, cols)
    planes = pipeline._mosaic_stages(split_planes(data), params, rows, cols)
    r0, r1, c0, c1 = common(*planes.values())
    assert (2 * r0, 2 * c0, h - 2 * r1, w - 2 * c1) == (m, m, m, m)
    assert np.array_equal(mosaic[m : h - m, m : w - m], merge_planes(planes, m, h - m, m, w - m))
    assert not mosaic[:m].any() and not mosaic[:, :m].any()  # the border is zero, not garbage



@requires_c
def test_the_mosaic_stages_refuse_columns_outside_the_lens_shading_frame():
    """numpy's take refuses a column outside the lens shading's frame; C would read outside its
    tables, so isp.compiled refuses first."""
    from isp.lens_shading import LensShadingParams

    data = np.full((20, 24), 1000, np.uint16)
    raw = RawFrame(data, "RGGB", 256, 4095, 12, FrameMetadata(0, 0, 10_000, 2.0, (1.9, 1.6), 5000, 25_000))
    params = pipeline_params(raw)
    narrow = dataclasses.replace(params, lens_shading=LensShadingParams(params.lens_shading.gains, (20, 8)))
    with pytest.raises(IndexError, match="outside the lens shading's frame of 8 columns"):
        compiled.mosaic_stages(data, narrow, np.arange(20), np.arange(24))
    with pytest.raises(IndexError):
        compiled.mosaic_stages(data, params, np.arange(20), np.arange(-1, 23))

@requires_c
@pytest.mark.parametrize("pairs", [1, 7, 1000, 123_457])
def test_12_bit_samples_unpack_as_numpy_unpacks_them(pairs, monkeypatch):
    """PiDNG's 12-bit packing (two samples in three bytes, big-endian), read in C and in numpy."""
    from isp import tiff

    packed = np.random.default_rng(pairs).integers(0, 256, 3 * pairs + 2, dtype=np.uint8)
    in_c = np.empty(2 * pairs, np.uint16)
    assert compiled.unpack_12(packed, in_c)  # what tiff._unpack_bits calls first
    monkeypatch.setattr(compiled, "_LIB", None)
    in_numpy = tiff._unpack_bits(packed, 12, in_c.size)
    assert np.array_equal(in_c, in_numpy)
    b0, b1, b2 = (int(b) for b in packed[:3])
    assert (in_c[0], in_c[1]) == (b0 << 4 | b1 >> 4, (b1 & 15) << 8 | b2)

@requires_c
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    height=st.integers(6, 40),
    width=st.integers(6, 40),
    pattern=st.sampled_from(["RGGB", "BGGR", "GRBG", "GBRG"]),
    gain=st.floats(1.0, 16.0),
    strength=st.sampled_from(["off", "low", "normal", "high"]),
)
def test_any_small_frame_gives_the_same_bytes(seed, height, width, pattern, gain, strength):
    # Frames down to a few pixels, mirrored at every edge, with extreme values (black and
    # clipped samples): every edge case of the loops. (Hypothesis and function-scoped
    # fixtures do not mix: the demosaic is swapped by hand.)
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 4096, (height, width)).astype(np.uint16)
    data[rng.random((height, width)) < 0.1] = 4095
    data[rng.random((height, width)) < 0.1] = 0
    raw = RawFrame(data, pattern, 256, 4095, 12, FrameMetadata(0, 0, 10_000, gain, (1.9, 1.6), 5000, 25_000))
    params = pipeline_params(raw, noise_reduction=strength)
    compiled_mlri, compiled.demosaic_mlri = compiled.demosaic_mlri, _numpy_mlri_on_mosaic
    try:
        with_c = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=8, tile_cols=10)
        compiled.AVAILABLE = False
        with_numpy = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=8, tile_cols=10)
    finally:
        compiled.AVAILABLE = True
        compiled.demosaic_mlri = compiled_mlri
    assert np.array_equal(with_c, with_numpy)


@requires_c
@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_the_whole_frame_equals_its_tiles_on_two_threads(pattern):
    # Every sum in the C is made in the same order wherever its window lies: a pixel's value
    # does not depend on where its tile starts.
    frame = hq_frame(4.0, noisy=True, width=261, height=199)
    raw = RawFrame(frame.data, pattern, frame.black_level, frame.white_level, frame.bit_depth, frame.metadata)
    params = pipeline_params(raw, noise_reduction="high")
    whole = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=200, tile_cols=262)
    for strip_rows, tile_cols in ((30, 44), (2, 90), (64, 12)):
        tiles = pipeline.process_in_strips(raw.data, params, workers=2, strip_rows=strip_rows, tile_cols=tile_cols)
        assert np.array_equal(whole, tiles), (strip_rows, tile_cols)


def test_numpys_demosaic_still_runs_where_there_is_no_library(monkeypatch):
    from isp.demosaic import demosaic

    mosaic = to_mosaic(_photo_like(3, 90, 120), "GRBG").astype(np.float32)
    with_c = demosaic(mosaic, "GRBG")
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    with_numpy = demosaic(mosaic, "GRBG")
    assert np.abs(with_c - with_numpy).max() < 1e-5


@requires_c
def test_an_output_the_c_cannot_write_into_is_filled_through_a_copy(numpy_demosaic, monkeypatch):
    raw = hq_frame(2.0, noisy=True, width=100, height=70)
    params = pipeline_params(raw)
    ref = np.zeros((70, 40, 3), np.uint8)
    pipeline.develop_tile(raw.data, params, 0, 70, 20, 60, ref)
    odd = np.zeros((70, 40, 3), np.uint8, order="F")  # channels not next to each other
    pipeline.develop_tile(raw.data, params, 0, 70, 20, 60, odd)
    assert np.array_equal(odd, ref)
    with pytest.raises(ValueError, match="output tile"):
        compiled._finish(np.zeros((3, 20, 20), np.float32), (0, 0), params, np.zeros((10, 10, 3), np.uint8))


def _photo_like(seed: int, height: int, width: int) -> np.ndarray:
    """Smooth colour regions, sharp edges between them, fine texture and sensor-like noise:
    flat windows (where MLRI's slope is least well determined) beside strong edges."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    regions = ndimage.zoom(rng.random((height // 16 + 2, width // 16 + 2, 3)), (16, 16, 1), order=0)
    texture = ndimage.gaussian_filter(rng.random((height, width, 1)), 1.0) - 0.5
    rgb = regions[:height, :width] * 0.8 + 0.3 * texture + rng.normal(0, 0.01, (height, width, 3))
    return np.clip(rgb, 0, 1).astype(np.float32)


@requires_c
@pytest.mark.parametrize("green_window, rb_window", [(11, 5), (5, 3), (21, 9), (3, 3), (9, 7)])
def test_the_compiled_demosaic_agrees_with_numpys_to_float32_rounding(green_window, rb_window):
    prm = MlriParams(green_window=green_window, rb_window=rb_window)
    h, w = 240, 330
    mosaic = to_mosaic(_photo_like(green_window, h, w), "RGGB").astype(np.float32)
    r = reach(prm)  # as near the edges as the pipeline asks for
    for box in [(r, h - r, r, w - r), (r + 1, h - r - 3, r + 3, w - r - 1)]:
        ref = _numpy_mlri(split_planes(mosaic), box, prm)
        got = compiled.demosaic_mlri(mosaic, box, prm)
        assert got.shape == ref.shape == (3, box[1] - box[0], box[3] - box[2])
        diff = np.abs(got - ref)
        # Small windows make MLRI's slope ill-conditioned where they are flat: there numpy's
        # own result moves as much when the input moves by float32 rounding (1e-7). The C
        # may differ from numpy by that much, and no more; at the default windows it is
        # below 1e-5 everywhere (1/400 of an 8-bit level).
        nudged = mosaic + np.float32(1e-7) * np.random.default_rng(0).standard_normal(mosaic.shape).astype(np.float32)
        sensitivity = np.abs(_numpy_mlri(split_planes(nudged), box, prm) - ref).max()
        assert diff.max() <= max(1e-5, sensitivity) and diff.mean() < 1e-5
        if (green_window, rb_window) == (11, 5):
            assert diff.max() < 1e-5
    with pytest.raises(ValueError, match="too near"):
        compiled.demosaic_mlri(mosaic, (0, h - r, r, w - r), prm)


@requires_c
def test_the_whole_pipeline_in_c_within_a_level_of_numpys(monkeypatch):
    raw = hq_frame(8.0, noisy=True, width=400, height=300)
    params = pipeline_params(raw)
    with_c, with_numpy = _both(raw.data, params, monkeypatch, strip_rows=100, tile_cols=128)
    diff = np.abs(with_c.astype(int) - with_numpy)
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3


@requires_c
def test_a_tile_written_into_a_wider_band(monkeypatch, numpy_demosaic):
    # develop_tile hands the stages a view of the band's columns (not contiguous): the C
    # writes the tile's rows into it at the band's stride, and nothing beside them.
    raw = hq_frame(2.0, noisy=True, width=120, height=80)
    params = dataclasses.replace(pipeline_params(raw), sharpen=None)
    band = np.zeros((80, 120, 3), np.uint8)
    pipeline.develop_tile(raw.data, params, 0, 80, 40, 80, band[:, 40:80])
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    ref = np.zeros((80, 40, 3), np.uint8)
    pipeline.develop_tile(raw.data, params, 0, 80, 40, 80, ref)
    assert np.array_equal(band[:, 40:80], ref)
    assert not band[:, :40].any() and not band[:, 80:].any()


def _status_in_a_fresh_process(env: dict[str, str]) -> str:
    code = "from isp import compiled; print(compiled.AVAILABLE, compiled.STATUS)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, check=True).stdout


def test_numpy_runs_when_asked_or_when_the_library_is_not_this_version(monkeypatch):
    assert _status_in_a_fresh_process({"MRIG_KERNELS": "numpy"}).startswith("False numpy stages (MRIG_KERNELS=numpy)")
    monkeypatch.delenv("MRIG_KERNELS", raising=False)
    monkeypatch.setattr(compiled, "VERSION", compiled.VERSION + 1)
    lib, status = compiled._load()
    assert lib is None
    if compiled.AVAILABLE:
        assert "reinstall mrig" in status


def test_numpy_runs_when_the_library_was_not_built_or_does_not_load(monkeypatch):
    import ctypes
    import importlib.util

    monkeypatch.delenv("MRIG_KERNELS", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    lib, status = compiled._load()
    assert lib is None and "not built" in status
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)

    def broken(path):
        raise OSError(f"{path}: invalid ELF header")

    monkeypatch.setattr(ctypes, "CDLL", broken)
    lib, status = compiled._load()
    if real_find_spec("isp._kernels") is not None:
        assert lib is None and "does not load" in status and "invalid ELF header" in status


def test_numpy_runs_when_the_library_lacks_a_function(monkeypatch):
    def incomplete(lib):
        raise AttributeError("undefined symbol: mrig_mosaic_stages")

    monkeypatch.delenv("MRIG_KERNELS", raising=False)
    monkeypatch.setattr(compiled, "_declare", incomplete)
    lib, status = compiled._load()
    if compiled.AVAILABLE:
        assert lib is None and "undefined symbol" in status and "reinstall" in status


@requires_c
def test_the_c_stages_run_where_the_service_denies_writable_executable_memory():
    # systemd/mrig.service sets MemoryDenyWriteExecute=yes: a shared library maps its code
    # read-only (a JIT compiler, numba say, could not run there). The kernel's own form of
    # that rule (prctl PR_SET_MDWE, Linux 6.3) is set in a fresh process before the import.
    code = """
import ctypes, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, REFUSE_EXEC_GAIN
    sys.exit(77)
from isp import compiled, pipeline
from isp.render import pipeline_params
from tests.other_cameras import hq_frame
raw = hq_frame(4.0, noisy=True, width=120, height=90)
out = pipeline.process_in_strips(raw.data, pipeline_params(raw), workers=2)
print(compiled.AVAILABLE, out.shape)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if done.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 or newer)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "(90,", "120,", "3)"]


def _setup_compile_args() -> list[str]:
    """The flags setup.py builds isp/kernels.c with (read from it, so the two cannot drift)."""
    import ast

    with open(os.path.join(ROOT, "setup.py")) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "extra_compile_args":
            return [ast.literal_eval(e) for e in node.value.elts]
    raise AssertionError("setup.py has no extra_compile_args")


PI_TOOLS = ("gcc", "aarch64-linux-gnu-gcc", "qemu-aarch64")


@pytest.mark.skipif(not all(shutil.which(t) for t in PI_TOOLS),
                    reason=f"needs {', '.join(PI_TOOLS)} (.ci/run installs them)")
def test_the_raspberry_pi_build_gives_the_same_bytes_as_this_one(tmp_path):
    """tests/kernels_check.c runs every C stage once and hashes its output. Built with
    setup.py's flags for this machine and for 64-bit Raspberry Pi OS (aarch64: NEON vector code,
    run under qemu), both print the same hashes. Built for the Pi without -ffp-contract=off
    (GCC fuses multiplies and adds there by default) they differ: the check can tell."""
    flags = _setup_compile_args()
    source = os.path.join(ROOT, "tests", "kernels_check.c")

    def run(name: str, compiler: str, runner: list[str], extra: list[str]) -> str:
        binary = str(tmp_path / name)
        subprocess.run([compiler, *extra, source, "-o", binary, "-lm"], check=True,
                       capture_output=True, timeout=300)
        return subprocess.run([*runner, binary], check=True, capture_output=True, text=True,
                              timeout=300).stdout

    here = run("here", "gcc", [], flags)
    pi = run("pi", "aarch64-linux-gnu-gcc", ["qemu-aarch64"], [*flags, "-static"])
    statuses = [line.split()[1] for line in here.splitlines()]
    assert len(statuses) == 8 and set(statuses) <= {"0", "4"}, here  # 4: the mosaic stages' border
    assert pi == here
    fused = [f for f in flags if f != "-ffp-contract=off"]
    assert run("pi-fused", "aarch64-linux-gnu-gcc", ["qemu-aarch64"], [*fused, "-static"]) != here
