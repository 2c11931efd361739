"""The pipeline's compiled stages (isp/kernels.c, loaded by isp/compiled.py) against the numpy
stages they stand in for: the stages after the demosaic give numpy's bytes; the demosaic, whose
window sums add in another order, agrees to float32 rounding. mrig falls back to numpy when the
library is missing or from another version."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.camera import FrameMetadata, RawFrame
from isp import compiled, pipeline
from isp.cfa import split_planes
from isp.demosaic import assemble
from isp.demosaic_ri import MlriParams, demosaic_mlri_planes, reach
from isp.render import pipeline_params
from tests.other_cameras import hq_frame, strokes_frame, to_mosaic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_compiled_stages_are_built_and_loaded():
    # `make test` installs mrig with its C stages: a build that broke shows here, not only as
    # slower JPEGs.
    assert compiled.AVAILABLE, compiled.STATUS
    assert compiled.STATUS.startswith("C stages")


def _numpy_mlri(planes, box, prm):
    return assemble(demosaic_mlri_planes(planes, prm), *box, planar=True)


@pytest.fixture
def numpy_demosaic(monkeypatch):
    """The C stages after numpy's demosaic: what must give numpy's bytes exactly."""
    monkeypatch.setattr(pipeline, "_mlri_compiled", _numpy_mlri)


def _both(raw_data: np.ndarray, params, monkeypatch, **tiling) -> tuple[np.ndarray, np.ndarray]:
    """The frame developed with the C stages and with numpy's."""
    with_c = pipeline.process_in_strips(raw_data, params, workers=1, **tiling)
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    with_numpy = pipeline.process_in_strips(raw_data, params, workers=1, **tiling)
    monkeypatch.setattr(compiled, "AVAILABLE", True)
    return with_c, with_numpy


@pytest.mark.parametrize("noise_reduction", ["off", "normal", "high"])
@pytest.mark.parametrize("sharpening", [True, False])
def test_a_noisy_high_iso_frame_gives_the_same_bytes(noise_reduction, sharpening, monkeypatch,
                                                    numpy_demosaic):
    raw = hq_frame(16.0, noisy=True, width=300, height=220)
    params = pipeline_params(raw, noise_reduction=noise_reduction, sharpening=sharpening)
    assert (params.denoise is None) == (noise_reduction == "off")
    with_c, with_numpy = _both(raw.data, params, monkeypatch, strip_rows=64, tile_cols=96)
    assert np.array_equal(with_c, with_numpy)


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
    compiled_mlri, pipeline._mlri_compiled = pipeline._mlri_compiled, _numpy_mlri
    try:
        with_c = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=8, tile_cols=10)
        compiled.AVAILABLE = False
        with_numpy = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=8, tile_cols=10)
    finally:
        compiled.AVAILABLE = True
        pipeline._mlri_compiled = compiled_mlri
    assert np.array_equal(with_c, with_numpy)


def test_the_whole_frame_equals_its_tiles_on_two_threads():
    raw = hq_frame(4.0, noisy=True, width=260, height=200)
    params = pipeline_params(raw)
    whole = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=200, tile_cols=260)
    tiles = pipeline.process_in_strips(raw.data, params, workers=2, strip_rows=30, tile_cols=44)
    assert np.array_equal(whole, tiles)


def _photo_like(seed: int, height: int, width: int) -> np.ndarray:
    """Smooth colour regions, sharp edges between them, fine texture and sensor-like noise:
    flat windows (where MLRI's slope is least well determined) beside strong edges."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    regions = ndimage.zoom(rng.random((height // 16 + 2, width // 16 + 2, 3)), (16, 16, 1), order=0)
    texture = ndimage.gaussian_filter(rng.random((height, width, 1)), 1.0) - 0.5
    rgb = regions[:height, :width] * 0.8 + 0.3 * texture + rng.normal(0, 0.01, (height, width, 3))
    return np.clip(rgb, 0, 1).astype(np.float32)


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


def test_the_whole_pipeline_in_c_within_a_level_of_numpys(monkeypatch):
    raw = hq_frame(8.0, noisy=True, width=400, height=300)
    params = pipeline_params(raw)
    with_c, with_numpy = _both(raw.data, params, monkeypatch, strip_rows=100, tile_cols=128)
    diff = np.abs(with_c.astype(int) - with_numpy)
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3


def test_a_tile_written_into_a_wider_band(monkeypatch, numpy_demosaic):
    # develop_tile hands the stages a view of the band's columns (not contiguous): the C
    # stages write a tile and copy it in.
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
    monkeypatch.setattr(compiled, "VERSION", compiled.VERSION + 1)
    lib, status = compiled._load()
    assert lib is None and "reinstall mrig" in status


def test_numpy_runs_when_the_library_was_not_built(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    lib, status = compiled._load()
    assert lib is None and "not built" in status
