"""The pipeline's compiled stages (isp/kernels.c, loaded by isp/compiled.py) give the numpy
stages' bytes, and mrig falls back to numpy when the library is missing or from another version."""

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
from isp.render import pipeline_params
from tests.other_cameras import hq_frame, strokes_frame

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_compiled_stages_are_built_and_loaded():
    # `make test` installs mrig with its C stages: a build that broke shows here, not only as
    # slower JPEGs.
    assert compiled.AVAILABLE, compiled.STATUS
    assert compiled.STATUS.startswith("C stages")


def _both(raw_data: np.ndarray, params, monkeypatch, **tiling) -> tuple[np.ndarray, np.ndarray]:
    """The frame developed with the C stages and with numpy's."""
    with_c = pipeline.process_in_strips(raw_data, params, workers=1, **tiling)
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    with_numpy = pipeline.process_in_strips(raw_data, params, workers=1, **tiling)
    monkeypatch.setattr(compiled, "AVAILABLE", True)
    return with_c, with_numpy


@pytest.mark.parametrize("noise_reduction", ["off", "normal", "high"])
@pytest.mark.parametrize("sharpening", [True, False])
def test_a_noisy_high_iso_frame_gives_the_same_bytes(noise_reduction, sharpening, monkeypatch):
    raw = hq_frame(16.0, noisy=True, width=300, height=220)
    params = pipeline_params(raw, noise_reduction=noise_reduction, sharpening=sharpening)
    assert (params.denoise is None) == (noise_reduction == "off")
    with_c, with_numpy = _both(raw.data, params, monkeypatch, strip_rows=64, tile_cols=96)
    assert np.array_equal(with_c, with_numpy)


def test_strokes_on_paper_in_every_bayer_phase_give_the_same_bytes(monkeypatch):
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
    # clipped samples): every edge case of the loops.
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 4096, (height, width)).astype(np.uint16)
    data[rng.random((height, width)) < 0.1] = 4095
    data[rng.random((height, width)) < 0.1] = 0
    raw = RawFrame(data, pattern, 256, 4095, 12, FrameMetadata(0, 0, 10_000, gain, (1.9, 1.6), 5000, 25_000))
    params = pipeline_params(raw, noise_reduction=strength)
    with_c = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=8, tile_cols=10)
    compiled.AVAILABLE = False
    try:
        with_numpy = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=8, tile_cols=10)
    finally:
        compiled.AVAILABLE = True
    assert np.array_equal(with_c, with_numpy)


def test_the_whole_frame_equals_its_tiles_on_two_threads():
    raw = hq_frame(4.0, noisy=True, width=260, height=200)
    params = pipeline_params(raw)
    whole = pipeline.process_in_strips(raw.data, params, workers=1, strip_rows=200, tile_cols=260)
    tiles = pipeline.process_in_strips(raw.data, params, workers=2, strip_rows=30, tile_cols=44)
    assert np.array_equal(whole, tiles)


def test_a_tile_written_into_a_wider_band(monkeypatch):
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
