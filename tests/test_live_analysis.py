"""Pure live-view analysis functions on synthetic frames with known answers."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage

from firmware.live import analysis, exposure, focus, histogram, magnify, meter
from hal.camera import FrameMetadata, PreviewFrame, RawFrame

BLACK, WHITE = 256, 4095
SPAN = WHITE - BLACK


def _metadata(sequence: int = 1) -> FrameMetadata:
    return FrameMetadata(
        sequence=sequence, sensor_timestamp_ns=0, exposure_time_us=10_000, analogue_gain=1.0,
        colour_gains=(2.0, 1.5), colour_temperature=5000, frame_duration_us=25_000,
        scaler_crop=(0, 0, 4056, 3040),
    )


def _raw(data: np.ndarray, order: str = "BGGR") -> RawFrame:
    return RawFrame(data=data.astype(np.uint16), bayer_order=order, black_level=BLACK,
                    white_level=WHITE, bit_depth=12, metadata=_metadata())


def _level(ev_below: float) -> int:
    """The raw value ``ev_below`` stops under the white level."""
    return round(BLACK + SPAN * 2.0**-ev_below)


@pytest.mark.parametrize("module", [histogram, exposure, focus, magnify, meter])
def test_docstring_examples(module):
    failures, tried = doctest.testmod(module, extraglobs={"np": np})
    assert tried > 0 and failures == 0


def test_rgb_histograms_count_each_channel_and_luma():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 10
    rgb[..., 1] = 20
    rgb[:4, :, 2] = 255
    h = histogram.rgb_histograms(rgb)
    assert h["r"][10] == 64 and h["g"][20] == 64
    assert h["b"][255] == 32 and h["b"][0] == 32
    # Rec. 709 weights on (10, 20, 255) and (10, 20, 0), in 1/256ths.
    assert h["luma"][(54 * 10 + 183 * 20 + 19 * 255) >> 8] == 32
    assert h["luma"][(54 * 10 + 183 * 20) >> 8] == 32
    assert histogram.rgb_histograms(rgb, stride=2)["r"].sum() == 16


def test_raw_histogram_places_levels_in_stops_below_clipping():
    data = np.full((8, 8), BLACK, np.uint16)
    data[0::2, 0::2] = _level(3.05)  # BGGR: B sites, 3 stops (and a bit) under
    data[1::2, 1::2] = WHITE  # R sites clipped
    raw = _raw(data)
    dn = histogram.raw_dn_histograms(raw)
    assert set(dn) == {"R", "G1", "G2", "B"}
    ev = {c: histogram.raw_ev_histogram(h, BLACK, WHITE) for c, h in dn.items()}
    bins = round(histogram.RAW_RANGE_EV / histogram.RAW_BIN_WIDTH_EV)
    assert ev["R"][bins - 1] == 16  # the right-most bin: clipped
    assert ev["B"][bins - 1 - 24] == 16  # 3.0-3.125 EV below, 8 bins per stop
    assert ev["G1"][0] == 16  # black: the darkest bin
    assert histogram.clipped_fraction(dn["R"], BLACK, WHITE) == 1.0
    assert histogram.clipped_fraction(dn["B"], BLACK, WHITE) == 0.0


def test_clipping_counts_the_noisy_band_just_under_white():
    hist = np.zeros(WHITE + 1, np.int64)
    hist[_level(0.03)] = 3  # within the 1/16-stop clipped band
    hist[_level(0.1)] = 1
    assert histogram.clipped_fraction(hist, BLACK, WHITE) == 0.75


def _channel_hists(levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {c: np.bincount(v, minlength=WHITE + 1) for c, v in levels.items()}


def test_ettr_puts_the_highlight_percentile_just_below_clipping():
    rng = np.random.default_rng(0)
    body = rng.integers(BLACK, _level(4), 10_000)
    highlights = np.full(200, _level(2.0))  # 2 % of pixels: too many to ignore
    g = np.concatenate([body, highlights])
    r = np.concatenate([body, np.full(200, _level(3.0))])
    e = exposure.ettr(_channel_hists({"R": r, "G1": g}), BLACK, WHITE)
    assert e.limited_by == "G1" and not e.overexposed
    assert e.ev == pytest.approx(2.0 - exposure.ETTR_HEADROOM_EV, abs=0.01)


def test_ettr_ignores_a_few_specular_pixels_but_not_more():
    body = np.full(10_000, _level(3.0))
    few = np.concatenate([body, np.full(5, WHITE)])  # 0.05 %: ignored
    many = np.concatenate([body, np.full(50, WHITE)])  # 0.5 %: clipped
    e_few = exposure.ettr(_channel_hists({"G1": few}), BLACK, WHITE)
    e_many = exposure.ettr(_channel_hists({"G1": many}), BLACK, WHITE)
    assert e_few.ev == pytest.approx(3.0 - exposure.ETTR_HEADROOM_EV, abs=0.01)
    assert e_many.overexposed and e_many.ev < 0
    tolerant = exposure.ettr(_channel_hists({"G1": many}), BLACK, WHITE, ignore_percent=1.0)
    assert not tolerant.overexposed


def test_ettr_of_brighter_data_is_smaller():
    rng = np.random.default_rng(1)
    signal = rng.uniform(0.0, 0.1, 20_000)
    evs = []
    for scale in (1.0, 2.0, 4.0):
        dn = np.round(BLACK + SPAN * signal * scale).astype(np.intp)
        evs.append(exposure.ettr(_channel_hists({"G1": dn}), BLACK, WHITE).ev)
    assert evs[0] - evs[1] == pytest.approx(1.0, abs=0.02)
    assert evs[1] - evs[2] == pytest.approx(1.0, abs=0.02)


def test_exposure_map_codes_are_sixteenths_of_a_stop_of_the_brightest_channel():
    data = np.full((64, 512), BLACK, np.uint16)
    data[1::2, 1::2] = _level(2.02)  # R (BGGR) just over two stops under
    data[:32, 0::2] = WHITE  # B and G2 sites of the top half clipped
    m = exposure.exposure_map(_raw(data), width=128)
    assert m.dtype == np.uint8 and m.shape == (16, 128)
    assert (m[:8] == 0).all()  # the clipped top half (sampled every second quad)
    assert (m[8:] == 32).all()  # 2 EV × 16
    dark = exposure.exposure_map(_raw(np.full((64, 512), BLACK, np.uint16)))
    assert (dark == 255).all()


def _textured_raw(blur_sigma: float, seed: int = 0) -> RawFrame:
    rng = np.random.default_rng(seed)
    scene = ndimage.zoom(rng.uniform(0.1, 0.9, (40, 60)), 8, order=0)  # 320 × 480 blocks
    if blur_sigma:
        scene = ndimage.gaussian_filter(scene, blur_sigma)
    return _raw(BLACK + scene * SPAN * 0.5)


def test_focus_measure_falls_with_blur_and_not_with_exposure():
    sharp, soft, softer = (focus.focus_measure(_textured_raw(s)) for s in (0, 2, 6))
    assert sharp > soft > softer
    raw = _textured_raw(0)
    dimmer = _raw(BLACK + (raw.data.astype(np.float64) - BLACK) / 2)
    assert focus.focus_measure(dimmer) == pytest.approx(sharp, rel=0.02)
    assert focus.focus_measure(_raw(np.full((64, 64), BLACK))) == 0.0


def test_focus_measure_looks_at_the_chosen_point():
    data = np.full((240, 320), BLACK + 1000, np.uint16)
    data[:60, :80] = np.where(np.indices((60, 80)).sum(axis=0) % 4 < 2, BLACK + 200, BLACK + 2000)
    raw = _raw(data)
    assert focus.focus_measure(raw, 0.1, 0.1, 0.1) > 0.1
    assert focus.focus_measure(raw, 0.7, 0.7, 0.1) == 0.0


def test_analyse_runs_every_stage_and_serialises_once():
    rgb = np.random.default_rng(2).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    raw = _textured_raw(0)
    frame = PreviewFrame(rgb=rgb, raw=raw, metadata=raw.metadata)
    snap = analysis.analyse(frame)
    assert set(snap.cost_ms) == set(analysis.STAGES)
    assert snap.json() is snap.json()  # shared by every reader
    assert len(snap.json(include_map=False)) < len(snap.json())
    body = snap.as_dict()
    assert body["histogram"]["samples"] == sum(body["histogram"]["luma"])
    assert sum(body["raw_histogram"]["channels"]["R"]) == body["raw_histogram"]["samples"]


field = (0, 0, 4056, 3040)


@given(
    factor=st.sampled_from([2, 5, 10]),
    x=st.floats(0.0, 1.0),
    y=st.floats(0.0, 1.0),
)
def test_magnify_crop_stays_inside_keeps_aspect_and_round_trips(factor, x, y):
    crop = magnify.magnify_crop(field, factor, x, y)
    left, top, w, h = crop
    assert left >= 0 and top >= 0 and left + w <= 4056 and top + h <= 3040
    assert all(v % 2 == 0 for v in crop)
    assert w / h == pytest.approx(4056 / 3040, rel=0.01)
    f, cx, cy = magnify.magnify_state(field, crop)
    assert f == factor
    # The centre is where asked unless the window had to move inside the field.
    if w / 2 + 2 <= x * 4056 <= 4056 - w / 2 - 2:
        assert cx == pytest.approx(x, abs=2 / 4056)
    if h / 2 + 2 <= y * 3040 <= 3040 - h / 2 - 2:
        assert cy == pytest.approx(y, abs=2 / 3040)


def test_magnify_one_is_the_whole_field_and_bad_input_is_refused():
    assert magnify.magnify_crop(field, 1, 0.3, 0.3) is None
    assert magnify.magnify_state(field, None) == (1, 0.5, 0.5)
    with pytest.raises(ValueError):
        magnify.magnify_crop(field, 0, 0.5, 0.5)
    with pytest.raises(ValueError):
        magnify.magnify_crop(field, 2, 1.5, 0.5)
