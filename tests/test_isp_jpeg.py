"""JPEG bands joined with restart markers decode to exactly the whole-image encoding."""

from fractions import Fraction

import numpy as np
import pytest
import simplejpeg
from hypothesis import given
from hypothesis import strategies as st

from hal.camera import FrameMetadata, RawFrame
from isp.jpeg import band_encodable, build_exif, encode_band, encode_jpeg, join_bands, rational
from isp.render import develop, develop_jpeg


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Blocky colours plus noise: content that differs from band to band."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3))
    img = np.repeat(np.repeat(coarse, 4, 0), 4, 1)[:h, :w] + rng.integers(-6, 7, (h, w, 3))
    return np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))


def _small_raw(seed: int = 3) -> RawFrame:
    """A noisy 44 x 36 BGGR frame: several bands and tiles at the tiny sizes the tests use."""
    rng = np.random.default_rng(seed)
    data = rng.integers(256, 4095, (44, 36)).astype(np.uint16)
    return RawFrame(data, "BGGR", 256, 4095, 12, FrameMetadata(0, 0, 10_000, 1.0, (2.0, 1.6), 5000, 25_000))


@pytest.mark.parametrize(("h", "w", "band_rows"), [(40, 77, 16), (64, 64, 64), (65, 30, 8), (8, 9, 8)])
def test_joined_bands_decode_like_the_whole_image(h, w, band_rows):
    img = _image(h, w)
    exif = build_exif(make="Raspberry Pi")
    bands = [encode_band(img[y : y + band_rows], 90) for y in range(0, h, band_rows)]
    joined = join_bands(bands, h, band_rows, exif)
    assert joined[:2] == b"\xff\xd8" and joined[6:12] == b"Exif\0\0" and joined[-2:] == b"\xff\xd9"
    whole = simplejpeg.decode_jpeg(encode_jpeg(img, 90))
    assert np.array_equal(simplejpeg.decode_jpeg(joined), whole)
    if len(bands) > 1:
        assert b"\xff\xdd\x00\x04" in joined and b"\xff\xd0" in joined


def test_bands_that_cannot_be_joined():
    assert band_encodable(4056, 384) and not band_encodable(4056, 380)
    # the restart interval (MCUs per band) must fit 16 bits: 1365 * 48 does, 1366 * 48 not
    assert band_encodable(1365 * 8, 384) and not band_encodable(1366 * 8, 384)
    img = _image(32, 16)
    with pytest.raises(ValueError, match="band 1"):
        join_bands([encode_band(img[:16], 90), encode_band(img[16:], 80)], 32, 16)
    with pytest.raises(ValueError, match="cannot be joined"):
        join_bands([encode_band(img[:12], 90), encode_band(img[12:], 90)], 32, 12)
    with pytest.raises(ValueError, match="no bands"):
        join_bands([], 32, 16)


@pytest.mark.parametrize(("strip_rows", "workers"), [(16, 2), (8, 1), (10, 2)])
def test_develop_jpeg_is_develop_then_encode(strip_rows, workers):
    raw = _small_raw()
    jpg = develop_jpeg(raw, quality=88, strip_rows=strip_rows, workers=workers, tile_cols=16)
    ref = encode_jpeg(develop(raw), 88)
    assert np.array_equal(simplejpeg.decode_jpeg(jpg), simplejpeg.decode_jpeg(ref))
    with pytest.raises(ValueError, match="quality"):
        develop_jpeg(raw, quality=0)


def test_bands_are_the_frame_in_pieces():
    from isp.pipeline import process_in_bands, process_in_strips
    from isp.render import pipeline_params

    rng = np.random.default_rng(5)
    raw = RawFrame(rng.integers(256, 4095, (38, 30)).astype(np.uint16), "GRBG", 256, 4095, 12,
                   FrameMetadata(0, 0, 10_000, 1.0, (1.8, 1.5), 5000, 25_000))
    params = pipeline_params(raw)
    whole = process_in_strips(raw.data, params, strip_rows=38, workers=1, tile_cols=30)
    bands: dict[int, np.ndarray] = {}
    process_in_bands(raw.data, params, lambda y0, rows: bands.update({y0: rows.copy()}),
                     strip_rows=12, workers=2, tile_cols=10)
    assert sorted(bands) == [0, 12, 24, 36]
    assert np.array_equal(np.concatenate([bands[y0] for y0 in sorted(bands)]), whole)


@pytest.mark.parametrize("workers", [1, 2, 7])
def test_forked_workers_develop_the_same_bands_as_threads(workers):
    from isp import forked
    from isp.render import pipeline_params

    raw = _small_raw()
    params = pipeline_params(raw)
    whole = develop(raw, strip_rows=44, workers=1, tile_cols=36)
    bands = forked.map_bands(raw.data, params, lambda rows: rows.tobytes(), 8, 16, workers)
    assert len(bands) == 6  # 44 rows in bands of 8
    got = np.concatenate([np.frombuffer(b, np.uint8).reshape(-1, 36, 3) for b in bands])
    assert np.array_equal(got, whole)


def test_develop_jpeg_on_processes_is_byte_identical_and_falls_back_to_threads(monkeypatch):
    import threading

    from isp import forked

    raw = _small_raw(4)
    threads = develop_jpeg(raw, quality=88, strip_rows=8, workers=2, tile_cols=16)
    calls = []
    real = forked.map_bands
    monkeypatch.setattr(forked, "map_bands", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    assert develop_jpeg(raw, quality=88, strip_rows=8, workers=2, tile_cols=16, processes=True) == threads
    assert calls == [1]
    monkeypatch.undo()
    monkeypatch.setattr(forked, "map_bands", lambda *a, **k: calls.append(2) or real(*a, **k))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # a server's threads: forking would be unsafe
    other.start()
    try:
        assert not forked.can_fork()
        assert develop_jpeg(raw, quality=88, strip_rows=8, workers=2, tile_cols=16, processes=True) == threads
    finally:
        stop.set()
        other.join()
    assert calls == [1]


def test_a_failing_or_dying_worker_is_an_error_not_a_hang():
    import os
    import signal

    from isp import forked
    from isp.exc import IspError
    from isp.render import pipeline_params

    raw = _small_raw()
    params = pipeline_params(raw)
    before = _children()

    def fails(rows):
        raise ValueError("band too boring")

    with pytest.raises(IspError, match="band too boring"):
        forked.map_bands(raw.data, params, fails, 8, 16, 2)

    def dies(rows):
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(IspError, match="ended without bands"):
        forked.map_bands(raw.data, params, dies, 8, 16, 2)
    assert _children() <= before  # every worker was reaped: none left, not even a zombie


def _children() -> set[int]:
    from pathlib import Path

    return {int(pid) for task in Path("/proc/self/task").iterdir()
            for pid in (task / "children").read_text().split()}


def test_an_interrupt_stops_and_reaps_the_workers(monkeypatch):
    from isp import forked
    from isp.render import pipeline_params

    raw = _small_raw()
    before = _children()

    def interrupted(children, bands):
        assert len(children) == 2  # both workers were started
        raise KeyboardInterrupt

    monkeypatch.setattr(forked, "_collect", interrupted)
    with pytest.raises(KeyboardInterrupt):
        forked.map_bands(raw.data, pipeline_params(raw), lambda rows: rows.tobytes(), 8, 16, 2)
    assert _children() <= before


def test_a_failed_fork_stops_the_workers_already_started(monkeypatch):
    import os

    from isp import forked
    from isp.render import pipeline_params

    raw = _small_raw()
    real_fork, forks = os.fork, []
    before = _children()

    def fork_once():
        if forks:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        forks.append(1)
        return real_fork()

    params = pipeline_params(raw)
    fds = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", fork_once)
    with pytest.raises(BlockingIOError):
        forked.map_bands(raw.data, params, lambda rows: rows.tobytes(), 8, 16, 2)
    assert _children() <= before
    assert len(os.listdir("/proc/self/fd")) == fds  # every pipe closed


@given(st.floats(0, 1e6, allow_nan=False) | st.integers(1, 20000).map(lambda n: 1 / n),
       st.sampled_from([1, 7, 100, 1000, 100_000, 1_000_000]))
def test_rationals_are_the_nearest_fractions_within_the_denominator(x, max_denominator):
    """EXIF rationals (exposure 1/125, f/2.8): the same as the standard library's best
    approximation, which ``rational`` stands in for without its import cost."""
    f = Fraction(x).limit_denominator(max_denominator)
    assert rational(x, max_denominator) == (f.numerator, f.denominator)
